//! A shard's commit log: records (see [`super::record`]) appended to a [`SegmentedFile`].
//!
//! Records never span segments: when one does not fit, a filler pads the segment's end and
//! the record starts the next segment. A record is placed only if it fills the segment
//! exactly or leaves room for a filler (≥ 8 bytes), so a filler always fits.
//!
//! Physical offsets as clients see them carry the shard in their high bits
//! (`shard << SHARD_SHIFT | local offset`), so an offset message id names its shard and a
//! lookup by offset needs no search. Local offsets address the segment files.

use std::time::{SystemTime, UNIX_EPOCH};

use super::record::{self, NewMessage, MIN_FILLER_BYTES, TRAILER_BYTES};
use super::segmented_file::SegmentedFile;

/// Bits of a physical offset below the shard id: 4 PiB per shard, up to 2047 shards while
/// offsets stay positive Java longs.
pub const SHARD_SHIFT: u32 = 52;
/// Largest shard id that fits.
pub const MAX_SHARDS: u32 = 1 << (63 - SHARD_SHIFT);

/// Splits a physical offset into (shard, local offset).
pub fn split_physical(phys: i64) -> Option<(u32, u64)> {
    let p = u64::try_from(phys).ok()?;
    Some(((p >> SHARD_SHIFT) as u32, p & ((1u64 << SHARD_SHIFT) - 1)))
}

/// Where an append must go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The current segment has room and exists.
    Ready,
    /// The segment starting here must be created first.
    NeedSegment(u64),
}

/// One appended record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Physical offset (shard bits included) of the record's first byte.
    pub physical_offset: i64,
    /// Record size without trailer (what the consume index stores).
    pub size: u32,
    /// Local offset just past the record's trailer: durable once the log is durable here.
    pub end: u64,
    /// Store timestamp written into the record.
    pub store_timestamp: i64,
}

/// The commit log of one shard.
pub struct CommitLog {
    file: SegmentedFile,
    shard: u32,
    /// Every byte below this is written and fdatasync'ed.
    durable: u64,
    scratch: Vec<u8>,
    last_store_timestamp: i64,
}

impl CommitLog {
    /// Wraps a recovered segmented file whose end is a record boundary and is durable.
    pub fn new(file: SegmentedFile, shard: u32) -> Self {
        assert!(shard < MAX_SHARDS);
        let durable = file.end();
        CommitLog {
            file,
            shard,
            durable,
            scratch: Vec::with_capacity(64 * 1024),
            last_store_timestamp: 0,
        }
    }

    /// The underlying file.
    pub fn file(&self) -> &SegmentedFile {
        &self.file
    }

    /// The underlying file, mutably (flushing, segment installation, retention).
    pub fn file_mut(&mut self) -> &mut SegmentedFile {
        &mut self.file
    }

    /// Physical offset of a local offset.
    pub fn physical(&self, local: u64) -> i64 {
        ((u64::from(self.shard) << SHARD_SHIFT) | local) as i64
    }

    /// Local offset of a physical offset of this shard.
    pub fn local(&self, phys: i64) -> Option<u64> {
        split_physical(phys).and_then(|(s, l)| (s == self.shard).then_some(l))
    }

    /// Local offset where the next record goes.
    pub fn end(&self) -> u64 {
        self.file.end()
    }

    /// Every byte below this is durable.
    pub fn durable(&self) -> u64 {
        self.durable
    }

    /// Marks bytes below `end` durable (after a synced flush).
    pub fn set_durable(&mut self, end: u64) {
        assert!(end >= self.durable, "durable offset went backwards");
        self.durable = end;
    }

    /// Makes room for a record of `record_len` bytes (without trailer): pads the segment
    /// with a filler if it does not fit, and says whether a segment must be created.
    pub fn place(&mut self, record_len: usize) -> Placement {
        let need = (record_len + TRAILER_BYTES) as u64;
        assert!(
            need + MIN_FILLER_BYTES as u64 <= self.file.segment_bytes(),
            "record of {need} bytes does not fit a segment"
        );
        if self.file.missing_segment().is_none() {
            let room = self.file.room_in_segment();
            if need != room && need + MIN_FILLER_BYTES as u64 > room {
                self.scratch.clear();
                record::encode_filler(room as usize, &mut self.scratch);
                self.file.append(&self.scratch);
            }
        }
        match self.file.missing_segment() {
            Some(start) => Placement::NeedSegment(start),
            None => Placement::Ready,
        }
    }

    /// Appends a message at `queue_offset`; [`Self::place`] must have returned `Ready`.
    pub fn append(&mut self, m: &NewMessage, queue_offset: i64) -> Appended {
        let local = self.file.end();
        let phys = self.physical(local);
        // Store times never go backwards within a shard, so a binary search by time over a
        // queue stays valid even if the wall clock steps back.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
            .max(self.last_store_timestamp);
        self.last_store_timestamp = now;
        let size = record::encoded_len(m);
        let check = |bytes: &[u8]| {
            // Paired check: the bytes about to be written verify as a record.
            debug_assert!(matches!(
                record::read_entry(bytes),
                Ok(record::Entry::Message(_))
            ));
        };
        let in_place = self.file.try_append_with(size + TRAILER_BYTES, |dst| {
            record::encode_into(m, queue_offset, phys, now, dst);
            check(dst);
        });
        if !in_place {
            // Straddles two chunks: encode aside, then copy across the boundary.
            self.scratch.clear();
            record::encode(m, queue_offset, phys, now, &mut self.scratch);
            check(&self.scratch);
            self.file.append(&self.scratch);
        }
        let size = size as u32;
        Appended {
            physical_offset: phys,
            size,
            end: self.file.end(),
            store_timestamp: now,
        }
    }
}
