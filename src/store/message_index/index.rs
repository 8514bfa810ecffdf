//! The index state of one shard: the buffer being filled by appends, buffers sealed and
//! waiting for their run to be written, and the runs on disk.
//!
//! Every record appended to the log passes through [`MessageIndex::record`] in log order,
//! keys or not, so the buffer always covers a contiguous local range `[first, end)` that
//! continues the previous sealed buffer or run. That is what lets recovery re-index from
//! the end of the last run without knowing anything else.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use super::entry::{
    index_keys, key_hash, KeyEntry, MAX_KEYS_PER_RECORD, TRANSACTION_ROLLBACK_FLAG,
};
use super::run::Run;

/// Default entries buffered in memory before a run is written (6 MiB at 24 bytes each).
pub const DEFAULT_INDEX_BUFFER_ENTRIES: usize = 256 * 1024;
/// Largest buffer a configuration may ask for (96 MiB per shard).
pub const MAX_INDEX_BUFFER_ENTRIES: usize = 4 << 20;
/// Sealed buffers waiting for their run at most: appends (and replicated records) wait
/// while this many do. Entries are dropped, and counted, only while the writer is failing.
pub const MAX_SEALED_BUFFERS: usize = 2;
/// Log bytes one buffer covers at most: a buffer is sealed at this size even with few
/// keys, so a crash never leaves more than this (plus the sealed buffers) to re-index.
pub const MAX_BUFFER_LOG_BYTES: u64 = 1 << 30;

/// Entries sealed for a run: shared with the writer's blocking thread (which sorts a copy)
/// and searched by queries until the run replaces them.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// Entries in log order.
    pub entries: Arc<Vec<KeyEntry>>,
    /// First local offset covered.
    pub first: u64,
    /// Local end covered.
    pub end: u64,
}

/// One shard's message index.
#[derive(Debug)]
pub struct MessageIndex {
    /// `shard-<i>/index`.
    pub dir: PathBuf,
    capacity: usize,
    buffer: Vec<KeyEntry>,
    first: u64,
    end: u64,
    sealed: VecDeque<Sealed>,
    runs: Vec<Run>,
    dropped: u64,
    last_update: (i64, i64),
    writer_failing: bool,
}

/// Counters of the index (metrics and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Entries in the buffer being filled.
    pub buffered: usize,
    /// Entries in sealed buffers.
    pub sealed: usize,
    /// Runs on disk.
    pub runs: usize,
    /// Entries dropped because the writer fell behind.
    pub dropped: u64,
    /// Local log offset up to which every record is indexed in a run.
    pub runs_end: u64,
    /// Bytes of memory held (buffers and fences).
    pub memory_bytes: usize,
}

impl MessageIndex {
    /// An index whose runs are `runs` (sorted, contiguous) and whose buffer starts at `at`.
    pub fn new(dir: PathBuf, capacity: usize, runs: Vec<Run>, at: u64) -> Self {
        let capacity = capacity.clamp(1, MAX_INDEX_BUFFER_ENTRIES);
        let last_update = runs
            .iter()
            .rev()
            .find(|r| r.header.count > 0)
            .map_or((0, 0), |r| (r.header.max_ts, 0));
        MessageIndex {
            dir,
            capacity,
            buffer: Vec::new(),
            first: at,
            end: at,
            sealed: VecDeque::new(),
            runs,
            dropped: 0,
            last_update,
            writer_failing: false,
        }
    }

    /// Records one appended record (every record, in log order): its keys, if any, and
    /// the local end it reaches. Returns true when a buffer was sealed (wake the writer).
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        topic: &str,
        properties: &str,
        sys_flag: i32,
        physical_offset: i64,
        size: u32,
        store_timestamp: i64,
        local_end: u64,
    ) -> bool {
        debug_assert!(local_end >= self.end, "records arrive in log order");
        if sys_flag & TRANSACTION_ROLLBACK_FLAG != TRANSACTION_ROLLBACK_FLAG {
            let before = self.buffer.len();
            if self.buffer.capacity() == 0 {
                // Reserved once per buffer (untouched pages cost nothing): growing by
                // doubling would copy megabytes on the append path.
                self.buffer
                    .reserve_exact(self.capacity + MAX_KEYS_PER_RECORD);
            }
            for key in index_keys(properties) {
                self.buffer.push(KeyEntry {
                    hash: key_hash(topic, key),
                    store_timestamp,
                    physical_offset,
                    size,
                });
            }
            if self.buffer.len() > before {
                self.last_update = (store_timestamp, physical_offset);
            }
        }
        self.end = local_end;
        let full =
            self.buffer.len() >= self.capacity || self.end - self.first >= MAX_BUFFER_LOG_BYTES;
        full && self.seal()
    }

    /// Seals the buffer (a run will be written for it); false when the writer is too far
    /// behind, in which case the buffer's entries are dropped and counted, and its range
    /// is left to the next buffer (the chain of covered ranges stays contiguous).
    pub fn seal(&mut self) -> bool {
        if self.sealed.len() >= MAX_SEALED_BUFFERS {
            if self.dropped == 0 {
                tracing::warn!(dir = %self.dir.display(), "message index writer behind: dropping index entries");
            }
            self.dropped += self.buffer.len() as u64;
            self.buffer.clear();
            return false;
        }
        let entries = std::mem::take(&mut self.buffer);
        self.sealed.push_back(Sealed {
            entries: Arc::new(entries),
            first: self.first,
            end: self.end,
        });
        self.first = self.end;
        true
    }

    /// True when [`MAX_SEALED_BUFFERS`] wait for their runs and the writer is working on
    /// them. A failing writer (disk full, I/O errors) does not hold sends back: entries are
    /// dropped and counted until it recovers, and the log keeps every record.
    pub fn backlogged(&self) -> bool {
        self.sealed.len() >= MAX_SEALED_BUFFERS && !self.writer_failing
    }

    /// Whether the last run write failed.
    pub fn writer_failing(&self) -> bool {
        self.writer_failing
    }

    /// Records whether the last run write failed.
    pub fn set_writer_failing(&mut self, failing: bool) {
        self.writer_failing = failing;
    }

    /// Seals the buffer if it covers anything (clean shutdown, end of a rebuild).
    pub fn seal_if_any(&mut self) -> bool {
        self.end > self.first && self.seal()
    }

    /// The oldest sealed buffer, for the writer.
    pub fn next_sealed(&self) -> Option<Sealed> {
        self.sealed.front().cloned()
    }

    /// Replaces the oldest sealed buffer by its written run.
    pub fn install_run(&mut self, run: Run) {
        let s = self
            .sealed
            .pop_front()
            .expect("a run replaces a sealed buffer");
        assert_eq!(
            (s.first, s.end),
            (run.header.first, run.header.end),
            "runs are written in order"
        );
        self.runs.push(run);
    }

    /// Entries of `hash` in memory (buffer and sealed buffers) within `[begin, end]` ms.
    pub fn lookup_memory(&self, hash: u32, begin: i64, end: i64) -> Vec<KeyEntry> {
        let hit = |e: &&KeyEntry| {
            e.hash == hash && e.store_timestamp >= begin && e.store_timestamp <= end
        };
        self.sealed
            .iter()
            .flat_map(|s| s.entries.iter())
            .chain(self.buffer.iter())
            .filter(hit)
            .copied()
            .collect()
    }

    /// The runs (for lookups; each read happens without borrowing the index).
    pub fn runs(&self) -> Vec<Run> {
        self.runs.clone()
    }

    /// Forgets runs wholly below local offset `first` (the log starts there now) and
    /// returns their files, for the caller to remove.
    pub fn trim(&mut self, first: u64) -> Vec<PathBuf> {
        let keep = self.runs.partition_point(|r| r.header.end <= first);
        self.runs.drain(..keep).map(|r| r.path).collect()
    }

    /// (store time, physical offset) of the newest entry indexed (RocketMQ's
    /// indexLastUpdateTimestamp / indexLastUpdatePhyoffset).
    pub fn last_update(&self) -> (i64, i64) {
        self.last_update
    }

    /// Counters.
    pub fn stats(&self) -> IndexStats {
        let sealed: usize = self.sealed.iter().map(|s| s.entries.len()).sum();
        IndexStats {
            buffered: self.buffer.len(),
            sealed,
            runs: self.runs.len(),
            dropped: self.dropped,
            runs_end: self.runs.last().map_or(0, |r| r.header.end),
            memory_bytes: (self.buffer.capacity() + sealed) * super::entry::ENTRY_BYTES
                + self.runs.iter().map(Run::memory_bytes).sum::<usize>(),
        }
    }
}
