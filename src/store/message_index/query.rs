//! Queries by key: candidates from the buffers and the runs, then each candidate's record
//! read from the log and compared (the hash only narrows the search).

use bytes::Bytes;

use super::entry::{key_hash, record_has_key, KeyEntry};
use crate::store::error::StoreError;
use crate::store::record::{Record, TRAILER_BYTES};
use crate::store::shard_store::ShardStore;

/// Candidates (hash matches) examined per query per shard at most, newest first: bounds
/// the log reads a query can cause, whatever the key's popularity.
pub const MAX_QUERY_CANDIDATES: usize = 1024;

/// What a query asks.
#[derive(Debug, Clone)]
pub struct KeyQuery {
    /// Topic.
    pub topic: String,
    /// Key (a `KEYS` item, or the `UNIQ_KEY` with `unique`).
    pub key: String,
    /// Match the unique key instead of the keys.
    pub unique: bool,
    /// Records at most.
    pub max: usize,
    /// Earliest store time, ms (inclusive).
    pub begin: i64,
    /// Latest store time, ms (inclusive).
    pub end: i64,
}

/// One record found.
#[derive(Debug, Clone)]
pub struct Found {
    /// Store time, ms.
    pub store_timestamp: i64,
    /// Physical offset.
    pub physical_offset: i64,
    /// The stored record (what a PULL body carries).
    pub record: Bytes,
}

/// A shard's answer.
#[derive(Debug, Clone, Default)]
pub struct QueryAnswer {
    /// Records, newest first, at most `max`.
    pub found: Vec<Found>,
    /// (store time, physical offset) of the newest entry indexed on this shard.
    pub last_update: (i64, i64),
    /// Damaged run blocks skipped.
    pub bad_blocks: usize,
}

impl ShardStore {
    /// Records of `q.topic` whose key (or unique key) is `q.key`, stored within
    /// `[q.begin, q.end]`: the newest `q.max`, newest first. Empty when the index is off.
    pub async fn query_keys(&self, q: &KeyQuery) -> Result<QueryAnswer, StoreError> {
        let hash = key_hash(&q.topic, &q.key);
        let (mut cands, runs, last_update) = {
            let idx = self.inner.msg_index.borrow();
            let Some(idx) = idx.as_ref() else {
                return Ok(QueryAnswer::default());
            };
            (
                idx.lookup_memory(hash, q.begin, q.end),
                idx.runs(),
                idx.last_update(),
            )
        };
        let mut bad_blocks = 0;
        // Newest runs first: a popular key's recent records are found without the rest.
        for run in runs.iter().rev() {
            if cands.len() >= MAX_QUERY_CANDIDATES {
                break;
            }
            // A run removed by retention meanwhile, or unreadable: its records are not
            // answers (they are gone, or the log still has them for the next rebuild).
            let (found, bad) = match run.lookup(hash, q.begin, q.end).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(path = %run.path.display(), "message index run skipped: {e}");
                    continue;
                }
            };
            if bad > 0 {
                tracing::warn!(path = %run.path.display(), bad, "damaged message index blocks skipped");
            }
            bad_blocks += bad;
            cands.extend(found);
        }
        cands.sort_unstable_by(newest_first);
        cands.dedup_by_key(|e| e.physical_offset);
        cands.truncate(MAX_QUERY_CANDIDATES);
        let visible_end = if self.inner.reads_durable_only.get() {
            let log = self.inner.log.borrow();
            log.physical(log.durable())
        } else {
            i64::MAX
        };
        let mut found = Vec::new();
        for e in cands {
            if found.len() >= q.max {
                break;
            }
            let seen = found
                .iter()
                .any(|f: &Found| f.physical_offset == e.physical_offset);
            if seen || e.physical_offset + (e.size as usize + TRAILER_BYTES) as i64 > visible_end {
                continue;
            }
            // Gone with retention, or a stale entry: not an answer.
            let Some(rec) = self
                .read_record(e.physical_offset, e.size as usize)
                .await
                .ok()
                .flatten()
            else {
                continue;
            };
            let matches = Record::parse(&rec).is_ok_and(|r| {
                r.topic() == q.topic.as_str() && record_has_key(&r.properties(), &q.key, q.unique)
            });
            if matches {
                found.push(Found {
                    store_timestamp: e.store_timestamp,
                    physical_offset: e.physical_offset,
                    record: rec,
                });
            }
        }
        Ok(QueryAnswer {
            found,
            last_update,
            bad_blocks,
        })
    }
}

fn newest_first(a: &KeyEntry, b: &KeyEntry) -> std::cmp::Ordering {
    (b.store_timestamp, b.physical_offset).cmp(&(a.store_timestamp, a.physical_offset))
}
