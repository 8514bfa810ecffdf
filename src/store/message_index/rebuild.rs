//! Opening the index: load the runs that still form a verified chain, then re-index the
//! log from the chain's end (what the buffer held at a crash, or everything when the
//! index is new).
//!
//! A run is refused, and with it every later run, when its header or fences do not
//! verify, when it does not continue the previous run, or when it reaches past the
//! recovered log end (a run written before a crash took back the log bytes it covers:
//! those offsets will hold other records). Runs wholly below the log's first offset are
//! removed, as retention would have.

use std::path::{Path, PathBuf};

use super::index::MessageIndex;
use super::run::{Run, RUN_SUFFIX, TMP_SUFFIX};
use super::writer;
use crate::store::error::StoreError;
use crate::store::record::{self, Entry, RecordError, TRAILER_BYTES};
use crate::store::recovery::SCAN_WINDOW_BYTES;
use crate::store::segmented_file::FileError;
use crate::store::shard_store::ShardStore;

/// What opening the index found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexOpenReport {
    /// Runs kept.
    pub runs: usize,
    /// Runs refused (and removed), with why.
    pub refused: Vec<String>,
    /// Local offset re-indexing started from.
    pub reindexed_from: u64,
    /// Records re-indexed from the log.
    pub reindexed: u64,
}

/// Loads the runs of `dir` for a log holding `[log_first, log_end)`; returns the index
/// positioned where re-indexing must start.
pub async fn load(
    dir: &Path,
    capacity: usize,
    log_first: u64,
    log_end: u64,
    report: &mut IndexOpenReport,
) -> Result<MessageIndex, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| FileError::io("create dir", dir, e))?;
    let mut files: Vec<(u64, PathBuf)> = Vec::new();
    let listing = std::fs::read_dir(dir).map_err(|e| FileError::io("list", dir, e))?;
    for f in listing.filter_map(Result::ok) {
        let name = f.file_name().to_string_lossy().into_owned();
        if name.ends_with(TMP_SUFFIX) {
            remove(&f.path())?;
        } else if let Some(first) = name.strip_suffix(RUN_SUFFIX).and_then(|n| n.parse().ok()) {
            files.push((first, f.path()));
        }
    }
    files.sort();
    let mut runs: Vec<Run> = Vec::new();
    let mut broken = false;
    for (_, path) in files {
        if broken {
            report
                .refused
                .push(format!("{}: follows a refused run", path.display()));
            remove(&path)?;
            continue;
        }
        let why = match Run::load(&path).await {
            Err(e) => Some(e.to_string()),
            Ok(r) if r.header.end > log_end => Some(format!(
                "covers the log to {}, which ends at {log_end}",
                r.header.end
            )),
            Ok(r) if runs.last().is_some_and(|p| p.header.end != r.header.first) => Some(format!(
                "starts at {}, not where the previous run ends",
                r.header.first
            )),
            Ok(r) if r.header.end <= log_first && r.header.first < r.header.end => {
                remove(&path)?; // below the log: retention's work, left undone by a stop
                continue;
            }
            Ok(r) => {
                runs.push(r);
                None
            }
        };
        if let Some(why) = why {
            tracing::warn!(path = %path.display(), "message index run refused, re-indexing from the log: {why}");
            report.refused.push(format!("{}: {why}", path.display()));
            remove(&path)?;
            broken = true;
        }
    }
    let from = runs
        .last()
        .map_or(log_first, |r| r.header.end)
        .max(log_first);
    report.runs = runs.len();
    report.reindexed_from = from;
    Ok(MessageIndex::new(dir.to_owned(), capacity, runs, from))
}

fn remove(path: &Path) -> Result<(), StoreError> {
    std::fs::remove_file(path).map_err(|e| StoreError::Io(FileError::io("remove", path, e)))
}

impl ShardStore {
    /// Re-indexes the log from local offset `from` to its end, writing a run whenever the
    /// buffer fills. Runs before the store serves anything (no append can interleave).
    pub(in crate::store) async fn reindex_from(&self, from: u64) -> Result<u64, StoreError> {
        let (seg_bytes, end) = {
            let log = self.inner.log.borrow();
            (log.file().segment_bytes(), log.end())
        };
        let mut pos = from;
        let mut records = 0u64;
        while pos < end {
            let window = match self.read_log_bytes(pos, SCAN_WINDOW_BYTES).await {
                Ok(w) => w,
                // Recovery accepted this range but its bytes cannot be read (a segment
                // file shorter than its size): it holds nothing a query could return.
                Err(e) => {
                    let next = pos - pos % seg_bytes + seg_bytes;
                    tracing::warn!(
                        shard = self.inner.cfg.shard,
                        pos,
                        next,
                        "message index skips an unreadable log range: {e}"
                    );
                    pos = next.min(end);
                    continue;
                }
            };
            let mut i = 0usize;
            let next = loop {
                match record::read_entry(&window[i..]) {
                    Ok(Entry::Message(r)) => {
                        let len = r.bytes().len() + TRAILER_BYTES;
                        let local_end = pos + (i + len) as u64;
                        let sealed = self.inner.msg_index.borrow_mut().as_mut().is_some_and(|x| {
                            x.record(
                                &r.topic(),
                                &r.properties(),
                                r.sys_flag(),
                                r.physical_offset(),
                                r.bytes().len() as u32,
                                r.store_timestamp(),
                                local_end,
                            )
                        });
                        records += 1;
                        i += len;
                        if sealed {
                            writer::drain(&self.inner).await?;
                        }
                        if i >= window.len() {
                            break pos + i as u64;
                        }
                    }
                    Ok(Entry::Filler(_)) => break pos - pos % seg_bytes + seg_bytes,
                    // A record cut by the window's end: read again from its start.
                    Err(RecordError::Truncated { .. }) if i > 0 => break pos + i as u64,
                    Ok(Entry::End) | Err(_) => break end,
                }
            };
            pos = next.min(end);
        }
        Ok(records)
    }
}
