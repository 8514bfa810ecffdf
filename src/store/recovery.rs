//! Recovery: rebuild a shard's state from its files after any stop.
//!
//! 1. The checkpoint gives X, the log offset below which every index entry is durable.
//! 2. The log is scanned from X: each record's CRC32C and its physical offset (which must
//!    equal its position) are verified; a record that fails, or bytes that are neither a
//!    record, a filler nor zeroes, end the log there (a torn tail) and the cut is logged.
//! 3. Each record after X is indexed again. A queue first seen at queue offset q keeps
//!    exactly q index entries; a queue with no record after X keeps its entries that point
//!    below X and drops the rest.
//! 4. Everything past the recovered end, in the log and in every index, is zeroed or
//!    deleted, so a later scan can never mistake stale bytes for records.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::commitlog::CommitLog;
use super::config::StoreConfig;
use super::consume_index::{segment_bytes_for, ConsumeIndex, IndexEntry, ENTRY_BYTES};
use super::error::StoreError;
use super::record::{self, Entry, Record, RecordError};
use super::segmented_file::{
    list_segments, segment_name, Allocation, FileError, SegmentedFile, BLOCK_BYTES,
};

/// Bytes read per step of the log scan; larger than the largest record.
pub const SCAN_WINDOW_BYTES: usize = 8 << 20;

/// Every queue's index, by topic then queue id.
pub type Queues = HashMap<String, BTreeMap<i32, ConsumeIndex>>;

/// What recovery found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The last stop was clean.
    pub clean: bool,
    /// Log offset the scan started from.
    pub scanned_from: u64,
    /// Recovered end of the log.
    pub end: u64,
    /// Records indexed again.
    pub replayed: u64,
    /// Where and why the log was cut, if it was.
    pub cut: Option<String>,
    /// Index inconsistencies found (and how they were handled).
    pub index_warnings: Vec<String>,
}

/// Recovers the log and every index of a shard, from checkpoint offset `x`.
pub async fn recover(
    cfg: &StoreConfig,
    x: u64,
    clean: bool,
) -> Result<(CommitLog, Queues, RecoveryReport), StoreError> {
    let mut report = RecoveryReport {
        clean,
        ..RecoveryReport::default()
    };
    let mut queues: Queues = HashMap::new();
    let log_dir = cfg.commitlog_dir();
    let segs = list_segments(&log_dir)?;
    let start = segs.first().map_or(x, |first| x.max(*first));
    report.scanned_from = start;
    let x_phys = physical(cfg.shard, x);
    let end = scan_log(cfg, &segs, start, &mut queues, &mut report).await?;
    report.end = end;
    let file = SegmentedFile::recover_open(
        &log_dir,
        cfg.commitlog_segment_bytes,
        cfg.write_chunk_bytes,
        end,
        Allocation::Whole,
    )
    .await?;
    let mut file = file;
    file.set_cache_bytes(cfg.read_cache_bytes);
    let log = CommitLog::new(file, cfg.shard);
    open_remaining_queues(cfg, x_phys, &mut queues, &mut report).await?;
    Ok((log, queues, report))
}

fn physical(shard: u32, local: u64) -> i64 {
    ((u64::from(shard) << super::commitlog::SHARD_SHIFT) | local) as i64
}

/// Scans from `pos`, replaying records into `queues`; returns the recovered end.
async fn scan_log(
    cfg: &StoreConfig,
    segs: &[u64],
    mut pos: u64,
    queues: &mut Queues,
    report: &mut RecoveryReport,
) -> Result<u64, StoreError> {
    let seg_bytes = cfg.commitlog_segment_bytes;
    let dir = cfg.commitlog_dir();
    loop {
        let seg_start = pos - pos % seg_bytes;
        if !segs.contains(&seg_start) {
            return Ok(pos);
        }
        let path = dir.join(segment_name(seg_start));
        let file = super::dma::open(&path, super::dma::Mode::Read).await?;
        let in_seg = pos - seg_start;
        let want = (SCAN_WINDOW_BYTES as u64).min(seg_bytes - in_seg) as usize;
        let window = file
            .read_at(in_seg, want)
            .await
            .map_err(|e| FileError::io("read", &path, e))?;
        let _ = file.close().await;
        let window_is_full = window.len() == want;
        let window_ends_segment = in_seg + want as u64 == seg_bytes;
        let mut i = 0usize;
        let step = loop {
            // The next record's length field may straddle the window's end; its high bytes are
            // zeroes that must not be read as the end of the log.
            if window.len() - i < record::MIN_FILLER_BYTES && window_is_full && !window_ends_segment
            {
                break Step::Refill(pos + i as u64);
            }
            match record::read_entry(&window[i..]) {
                Ok(Entry::Message(r)) => {
                    let at = pos + i as u64;
                    if r.physical_offset() != physical(cfg.shard, at) {
                        break Step::Cut(
                            at,
                            format!(
                                "record claims physical offset {} but sits at {}",
                                r.physical_offset(),
                                physical(cfg.shard, at)
                            ),
                        );
                    }
                    replay(cfg, &r, queues, report).await?;
                    i += r.bytes().len() + record::TRAILER_BYTES;
                }
                Ok(Entry::Filler(n)) => {
                    let at = pos + i as u64;
                    if (at - seg_start) + n as u64 != seg_bytes {
                        break Step::Cut(
                            at,
                            format!("filler of {n} bytes does not end the segment"),
                        );
                    }
                    break Step::NextSegment(seg_start + seg_bytes);
                }
                Ok(Entry::End) => break Step::End(pos + i as u64),
                Err(RecordError::Truncated { .. })
                    if i > 0 && window_is_full && !window_ends_segment =>
                {
                    break Step::Refill(pos + i as u64)
                }
                Err(e) => break Step::Cut(pos + i as u64, e.to_string()),
            }
            if i >= window.len() {
                break if window_ends_segment {
                    Step::NextSegment(seg_start + seg_bytes)
                } else {
                    Step::Refill(pos + i as u64)
                };
            }
        };
        match step {
            Step::Refill(p) | Step::NextSegment(p) => pos = p,
            Step::End(p) => return Ok(p),
            Step::Cut(p, why) => {
                let msg = format!("commit log cut at local offset {p}: {why}");
                tracing::warn!(shard = cfg.shard, "{msg}");
                report.cut = Some(msg);
                return Ok(p);
            }
        }
    }
}

enum Step {
    Refill(u64),
    NextSegment(u64),
    End(u64),
    Cut(u64, String),
}

/// Indexes one recovered record.
async fn replay(
    cfg: &StoreConfig,
    r: &Record<'_>,
    queues: &mut Queues,
    report: &mut RecoveryReport,
) -> Result<(), StoreError> {
    let topic = r.topic().into_owned();
    let qid = r.queue_id();
    let qo = u64::try_from(r.queue_offset()).unwrap_or(u64::MAX);
    if !queues.get(&topic).is_some_and(|m| m.contains_key(&qid)) {
        let cq = open_queue(cfg, &topic, qid, Some(qo), 0, report).await?;
        queues.entry(topic.clone()).or_default().insert(qid, cq);
    }
    let cq = queues
        .get_mut(&topic)
        .and_then(|m| m.get_mut(&qid))
        .expect("queue opened above");
    if qo != cq.max_offset() {
        report.index_warnings.push(format!(
            "{topic}/{qid}: record with queue offset {qo} where {} was expected; left unindexed",
            cq.max_offset()
        ));
        return Ok(());
    }
    cq.make_space().await?;
    // Replayed entries are flushed by the store's first round (it lists dirty queues).
    let _ = cq.push(&IndexEntry {
        physical_offset: r.physical_offset(),
        size: r.bytes().len() as u32,
        tags_code: r.tags_code(),
    });
    report.replayed += 1;
    Ok(())
}

/// Opens every index directory not opened by the replay.
async fn open_remaining_queues(
    cfg: &StoreConfig,
    x_phys: i64,
    queues: &mut Queues,
    report: &mut RecoveryReport,
) -> Result<(), StoreError> {
    let root = cfg.shard_dir().join("consumequeue");
    let Ok(topics) = std::fs::read_dir(&root) else {
        return Ok(());
    };
    for t in topics.filter_map(Result::ok) {
        let Ok(topic) = t.file_name().into_string() else {
            continue;
        };
        let Ok(qdirs) = std::fs::read_dir(t.path()) else {
            continue;
        };
        for q in qdirs.filter_map(Result::ok) {
            let Some(qid) = q.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if queues.get(&topic).is_some_and(|m| m.contains_key(&qid)) {
                continue;
            }
            let cq = open_queue(cfg, &topic, qid, None, x_phys, report).await?;
            queues.entry(topic.clone()).or_default().insert(qid, cq);
        }
    }
    Ok(())
}

/// Opens one queue's index at `known_count` entries, or, when unknown, at the entries that
/// point below `x_phys`.
pub async fn open_queue(
    cfg: &StoreConfig,
    topic: &str,
    qid: i32,
    known_count: Option<u64>,
    x_phys: i64,
    report: &mut RecoveryReport,
) -> Result<ConsumeIndex, StoreError> {
    let dir = cfg.queue_dir(topic, qid);
    let seg_bytes = segment_bytes_for(cfg.consume_index_segment_bytes);
    let segs = list_segments(&dir)?;
    let count = match known_count {
        Some(c) => {
            let found = count_valid(&dir, &segs, seg_bytes, i64::MAX).await?;
            if found < c {
                report.index_warnings.push(format!(
                    "{topic}/{qid}: index holds {found} entries but the log continues at {c}; offsets {found}..{c} are unreadable"
                ));
            }
            c
        }
        None => count_valid(&dir, &segs, seg_bytes, x_phys).await?,
    };
    let end = count * ENTRY_BYTES as u64;
    let file = SegmentedFile::recover_open(
        &dir,
        seg_bytes,
        cfg.index_chunk_bytes,
        end,
        Allocation::Stepped,
    )
    .await?;
    let min = segs
        .first()
        .map_or(count, |s| s / ENTRY_BYTES as u64)
        .min(count);
    let mut file = file;
    file.set_cache_bytes(super::config::INDEX_READ_CACHE_BYTES);
    Ok(ConsumeIndex::new(file, min))
}

/// Entries at the start of the index that are written and point below `below_phys`.
async fn count_valid(
    dir: &Path,
    segs: &[u64],
    seg_bytes: u64,
    below_phys: i64,
) -> Result<u64, StoreError> {
    let Some(&last) = segs.last() else {
        return Ok(0);
    };
    let path = dir.join(segment_name(last));
    let file = super::dma::open(&path, super::dma::Mode::Read).await?;
    // Written blocks form a prefix of the preallocated (zero) segment: binary-search its end.
    let blocks = seg_bytes / BLOCK_BYTES;
    let (mut lo, mut hi) = (0u64, blocks);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let b = file
            .read_at_aligned(mid * BLOCK_BYTES, BLOCK_BYTES as usize)
            .await
            .map_err(|e| FileError::io("read", &path, e))?;
        if b.iter().any(|x| *x != 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    // Walk back over the tail until an entry that is written and old enough.
    let mut e = (lo * BLOCK_BYTES).min(seg_bytes) / ENTRY_BYTES as u64;
    let mut count = 0;
    while e > 0 {
        let bytes = file
            .read_at((e - 1) * ENTRY_BYTES as u64, ENTRY_BYTES)
            .await
            .map_err(|e| FileError::io("read", &path, e))?;
        let ok = IndexEntry::decode(&bytes).is_some_and(|en| {
            en.size > 0 && en.physical_offset >= 0 && en.physical_offset < below_phys
        });
        if ok {
            count = e;
            break;
        }
        e -= 1;
    }
    let _ = file.close().await;
    Ok(last / ENTRY_BYTES as u64 + count)
}
