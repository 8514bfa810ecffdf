//! One shard's ledger of its half messages: which are decided, which are overdue and how
//! often they were checked back, and how far the half and op queues are settled (the two
//! offsets saved under `CID_RMQ_SYS_TRANS`, from which a restart rebuilds the rest).
//!
//! Invariants, kept together so one saved snapshot of both offsets is always consistent:
//! - every half offset below `decided_below` is decided;
//! - every op record below `ops_settled_below` names a half offset below `decided_below`,
//!   so a restart re-reads only the op records at or after it.
//!
//! Memory follows the undecided, not the traffic: decisions above `decided_below` are one
//! bit each, op records are summarized per chunk of [`OP_CHUNK_RECORDS`].

use std::collections::{BTreeMap, HashSet, VecDeque};

/// Op records summarized together (their largest half offset and how many were seen).
pub const OP_CHUNK_RECORDS: u64 = 1024;

/// Why a decision was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotOpen {
    /// The half message was committed, rolled back or dropped already.
    Decided,
    /// Another decision on it is being stored right now.
    InFlight,
}

/// An overdue half message: undecided past its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overdue {
    /// Where the half record is (physical offset, shard bits included).
    pub phys: i64,
    /// Check-backs sent so far (since this broker started).
    pub checks: u32,
}

/// Outcome counters (metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxCounters {
    /// Half messages committed (delivered).
    pub committed: u64,
    /// Half messages rolled back.
    pub rolled_back: u64,
    /// Half messages dropped after `transactionCheckMax` check-backs.
    pub dropped: u64,
    /// Check-backs sent to producers.
    pub checks: u64,
}

/// One bit per offset from `base` on.
#[derive(Debug, Default)]
struct BitWindow {
    base: u64,
    words: VecDeque<u64>,
}

impl BitWindow {
    fn get(&self, at: u64) -> bool {
        if at < self.base {
            return false;
        }
        let i = at - self.base;
        self.words
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn set(&mut self, at: u64) {
        debug_assert!(at >= self.base, "bit below the window");
        let i = at - self.base;
        let word = (i / 64) as usize;
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (i % 64);
    }

    /// Drops whole words below `to` (their bits are no longer asked about).
    fn advance(&mut self, to: u64) {
        while to >= self.base + 64 && !self.words.is_empty() {
            self.words.pop_front();
            self.base += 64;
        }
        if self.words.is_empty() && to > self.base {
            // Nothing is set: start the window at the mark itself.
            self.base = to;
        }
    }
}

/// The ledger.
#[derive(Debug, Default)]
pub struct TxBook {
    loaded: bool,
    decided_below: u64,
    decided: BitWindow,
    in_flight: HashSet<u64>,
    ops_settled_below: u64,
    /// Chunk index → (largest half offset named, records seen).
    op_chunks: BTreeMap<u64, (u64, u64)>,
    /// Half offsets below this were looked at by the checker.
    scanned_below: u64,
    overdue: BTreeMap<u64, Overdue>,
    counters: TxCounters,
}

impl TxBook {
    /// Starts from the saved offsets (half queue, op queue); the op records from
    /// `ops_from` on must then be fed to [`Self::note_op`] before [`Self::mark_loaded`].
    pub fn start(decided_below: u64, ops_from: u64) -> Self {
        TxBook {
            decided_below,
            decided: BitWindow {
                base: decided_below,
                words: VecDeque::new(),
            },
            ops_settled_below: ops_from,
            scanned_below: decided_below,
            ..Default::default()
        }
    }

    /// The store has been read: decisions may be taken.
    pub fn mark_loaded(&mut self) {
        self.loaded = true;
    }

    /// True once rebuilt after start.
    pub fn loaded(&self) -> bool {
        self.loaded
    }

    /// True when the half message at `offset` is decided.
    pub fn is_decided(&self, offset: u64) -> bool {
        offset < self.decided_below || self.decided.get(offset)
    }

    /// Claims the decision on `offset` (until [`Self::finish`] or [`Self::abort`]).
    pub fn begin(&mut self, offset: u64) -> Result<(), NotOpen> {
        if self.is_decided(offset) {
            return Err(NotOpen::Decided);
        }
        if !self.in_flight.insert(offset) {
            return Err(NotOpen::InFlight);
        }
        Ok(())
    }

    /// The decision's records could not be stored: it may be taken again.
    pub fn abort(&mut self, offset: u64) {
        self.in_flight.remove(&offset);
    }

    /// The decision on `offset` is stored, its op record at `op_offset`.
    pub fn finish(&mut self, offset: u64, op_offset: u64) {
        self.in_flight.remove(&offset);
        self.decide(offset);
        self.note_op(op_offset, offset);
    }

    /// Counts an outcome.
    pub fn count(&mut self, f: impl FnOnce(&mut TxCounters)) {
        f(&mut self.counters);
    }

    /// Outcome counters so far.
    pub fn counters(&self) -> TxCounters {
        self.counters
    }

    /// An op record at `op_offset` decided half offset `half` (at load, or just written).
    pub fn note_op(&mut self, op_offset: u64, half: u64) {
        if op_offset < self.ops_settled_below {
            return;
        }
        self.decide(half);
        let chunk = self
            .op_chunks
            .entry(op_offset / OP_CHUNK_RECORDS)
            .or_insert((0, 0));
        chunk.0 = chunk.0.max(half);
        chunk.1 += 1;
        self.settle_ops();
    }

    fn decide(&mut self, half: u64) {
        if half < self.decided_below {
            return;
        }
        self.decided.set(half);
        self.overdue.remove(&half);
        while self.decided.get(self.decided_below) {
            self.decided_below += 1;
        }
        self.decided.advance(self.decided_below);
        self.scanned_below = self.scanned_below.max(self.decided_below);
        self.settle_ops();
    }

    /// Moves `ops_settled_below` over every complete chunk naming only settled halves.
    fn settle_ops(&mut self) {
        while let Some((&chunk, &(max_half, seen))) = self.op_chunks.first_key_value() {
            let start = chunk * OP_CHUNK_RECORDS;
            let end = start + OP_CHUNK_RECORDS;
            // Records of this chunk below the settled mark were never fed: they count.
            let skipped = self
                .ops_settled_below
                .saturating_sub(start)
                .min(OP_CHUNK_RECORDS);
            if seen + skipped < OP_CHUNK_RECORDS || max_half >= self.decided_below {
                break;
            }
            self.op_chunks.pop_first();
            self.ops_settled_below = self.ops_settled_below.max(end);
        }
    }

    /// (half offset below which all is decided, op offset below which all is settled):
    /// what is saved under `CID_RMQ_SYS_TRANS`.
    pub fn progress(&self) -> (u64, u64) {
        (self.decided_below, self.ops_settled_below)
    }

    /// Where the checker's scan of the half queue continues.
    pub fn scanned_below(&self) -> u64 {
        self.scanned_below
    }

    /// The checker looked at `offset`; `overdue` when it is undecided past its timeout.
    pub fn scanned(&mut self, offset: u64, overdue: Option<i64>) {
        if let Some(phys) = overdue {
            if !self.is_decided(offset) && !self.in_flight.contains(&offset) {
                self.overdue
                    .entry(offset)
                    .or_insert(Overdue { phys, checks: 0 });
            }
        }
        self.scanned_below = self.scanned_below.max(offset + 1);
    }

    /// The overdue half messages, oldest first.
    pub fn overdue(&self) -> Vec<(u64, Overdue)> {
        self.overdue.iter().map(|(o, d)| (*o, *d)).collect()
    }

    /// Counts a check-back of `offset`.
    pub fn checked(&mut self, offset: u64) {
        if let Some(d) = self.overdue.get_mut(&offset) {
            d.checks += 1;
        }
        self.counters.checks += 1;
    }

    /// Overdue half messages now.
    pub fn overdue_len(&self) -> usize {
        self.overdue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_out_of_order_advance_the_mark_only_when_contiguous() {
        let mut b = TxBook::start(10, 0);
        b.mark_loaded();
        b.begin(12).unwrap();
        b.finish(12, 0);
        assert_eq!(b.progress().0, 10);
        assert!(b.is_decided(12) && !b.is_decided(11));
        b.begin(10).unwrap();
        b.finish(10, 1);
        assert_eq!(b.progress().0, 11);
        b.begin(11).unwrap();
        b.finish(11, 2);
        assert_eq!(b.progress().0, 13);
        assert_eq!(b.begin(12), Err(NotOpen::Decided));
        assert_eq!(b.begin(5), Err(NotOpen::Decided));
    }

    #[test]
    fn a_decision_in_flight_is_claimed_once_and_can_be_retried_after_abort() {
        let mut b = TxBook::start(0, 0);
        b.begin(0).unwrap();
        assert_eq!(b.begin(0), Err(NotOpen::InFlight));
        b.abort(0);
        b.begin(0).unwrap();
        b.finish(0, 0);
        assert_eq!(b.begin(0), Err(NotOpen::Decided));
    }

    #[test]
    fn ops_settle_by_whole_chunks_behind_the_decided_mark() {
        let mut b = TxBook::start(0, 0);
        // Half 0 stays undecided while 1..=1024 are decided by op records 0..1024.
        for h in 1..=OP_CHUNK_RECORDS {
            b.note_op(h - 1, h);
        }
        assert_eq!(b.progress(), (0, 0), "half 0 holds both marks");
        b.note_op(OP_CHUNK_RECORDS, 0);
        assert_eq!(b.progress().0, OP_CHUNK_RECORDS + 1);
        // The first chunk is complete and settled; the second holds one record only.
        assert_eq!(b.progress().1, OP_CHUNK_RECORDS);
    }

    #[test]
    fn a_restart_mid_chunk_counts_the_records_before_it() {
        // Saved: halves below 2000 decided, ops settled below 1500 (mid-chunk).
        let mut b = TxBook::start(2000, 1500);
        for op in 1500..2 * OP_CHUNK_RECORDS {
            b.note_op(op, 1000); // all name settled halves
        }
        assert_eq!(b.progress(), (2000, 2 * OP_CHUNK_RECORDS));
        b.note_op(10, 5000); // below the settled mark: already accounted for
        assert!(!b.is_decided(5000));
    }

    #[test]
    fn overdue_entries_leave_when_decided() {
        let mut b = TxBook::start(0, 0);
        b.scanned(0, Some(77));
        b.scanned(1, None);
        assert_eq!(b.scanned_below(), 2);
        b.checked(0);
        assert_eq!(
            b.overdue(),
            vec![(
                0,
                Overdue {
                    phys: 77,
                    checks: 1
                }
            )]
        );
        b.note_op(0, 0);
        assert_eq!(b.overdue_len(), 0);
        assert_eq!(b.progress().0, 1);
        // A decided offset never becomes overdue again.
        b.scanned(0, Some(77));
        assert_eq!(b.overdue_len(), 0);
    }

    #[test]
    fn the_bit_window_forgets_below_the_mark() {
        let mut b = TxBook::start(0, 0);
        for h in (0..10_000).rev() {
            b.note_op(10_000 - h, h);
        }
        assert_eq!(b.progress().0, 10_000);
        assert!(b.decided.words.len() <= 1);
    }
}
