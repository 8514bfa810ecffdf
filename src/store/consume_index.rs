//! A queue's consume index: fixed 20-byte entries (commit-log physical offset i64, record
//! size i32, tag hash i64), written with direct I/O through a [`SegmentedFile`]. The logical
//! queue offset is the entry number, so offset `n` is at byte `20 n`.
//!
//! Segment sizes are multiples of lcm(20, 4096) = 20,480 bytes, so entries never cross
//! segments and segments stay block-aligned; RocketMQ's 6,000,000-byte default
//! is rounded up to 6,000,640.

use super::segmented_file::{
    claim_space, Allocation, FileError, SegmentedFile, SpaceNeed, BLOCK_BYTES,
};

/// Bytes per entry.
pub const ENTRY_BYTES: usize = 20;
/// Segment sizes must be multiples of this: lcm(ENTRY_BYTES, BLOCK_BYTES).
pub const SEGMENT_MULTIPLE_BYTES: u64 = 5 * BLOCK_BYTES;
const _: () = assert!(SEGMENT_MULTIPLE_BYTES % ENTRY_BYTES as u64 == 0);
const _: () = assert!(SEGMENT_MULTIPLE_BYTES % BLOCK_BYTES == 0);

/// Rounds a configured segment size up to a valid one.
pub fn segment_bytes_for(configured: u64) -> u64 {
    configured.max(1).div_ceil(SEGMENT_MULTIPLE_BYTES) * SEGMENT_MULTIPLE_BYTES
}

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Physical offset of the record (shard bits included).
    pub physical_offset: i64,
    /// Record size (TOTALSIZE).
    pub size: u32,
    /// Java String.hashCode of the TAGS property, 0 without one.
    pub tags_code: i64,
}

impl IndexEntry {
    /// The 20 bytes on disk.
    pub fn encode(&self) -> [u8; ENTRY_BYTES] {
        let mut b = [0u8; ENTRY_BYTES];
        b[..8].copy_from_slice(&self.physical_offset.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..].copy_from_slice(&self.tags_code.to_be_bytes());
        b
    }

    /// Reads an entry; `None` for an all-zero slot (never written).
    pub fn decode(b: &[u8]) -> Option<Self> {
        let b: &[u8; ENTRY_BYTES] = b.get(..ENTRY_BYTES)?.try_into().ok()?;
        if b.iter().all(|x| *x == 0) {
            return None;
        }
        let mut p = [0u8; 8];
        p.copy_from_slice(&b[..8]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[12..]);
        Some(IndexEntry {
            physical_offset: i64::from_be_bytes(p),
            size: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            tags_code: i64::from_be_bytes(t),
        })
    }
}

/// The consume index of one (topic, queueId).
pub struct ConsumeIndex {
    file: SegmentedFile,
    /// First logical offset still readable (retention advances it).
    min_offset: u64,
    /// Entries were pushed since the flusher last planned this queue's writes.
    dirty: bool,
}

impl ConsumeIndex {
    /// Wraps a recovered file.
    pub fn new(file: SegmentedFile, min_offset: u64) -> Self {
        assert_eq!(
            file.end() % ENTRY_BYTES as u64,
            0,
            "index end inside an entry"
        );
        assert_eq!(file.segment_bytes() % SEGMENT_MULTIPLE_BYTES, 0);
        let min_offset = min_offset.max(file.first_offset() / ENTRY_BYTES as u64);
        let dirty = file.unflushed_bytes() > 0;
        ConsumeIndex {
            file,
            min_offset,
            dirty,
        }
    }

    /// The file.
    pub fn file(&self) -> &SegmentedFile {
        &self.file
    }

    /// The file, mutably.
    pub fn file_mut(&mut self) -> &mut SegmentedFile {
        &mut self.file
    }

    /// Number of entries ever written: the offset the next message gets.
    pub fn max_offset(&self) -> u64 {
        self.file.end() / ENTRY_BYTES as u64
    }

    /// First readable offset.
    pub fn min_offset(&self) -> u64 {
        self.min_offset
    }

    /// Advances the first readable offset (retention); never backwards, never past max.
    pub fn advance_min_offset(&mut self, to: u64) {
        self.min_offset = self.min_offset.max(to.min(self.max_offset()));
    }

    /// What the next push needs first: a segment, or more of its space claimed.
    pub fn space_needed(&self) -> Option<SpaceNeed> {
        self.file.space_needed(ENTRY_BYTES as u64)
    }

    /// Makes room for the next push (for owners holding the index across the await).
    pub async fn make_space(&mut self) -> Result<(), FileError> {
        while let Some(need) = self.space_needed() {
            match need {
                SpaceNeed::Segment(start) => {
                    let seg = SegmentedFile::create_segment(
                        self.file.dir().to_owned(),
                        start,
                        self.file.segment_bytes(),
                        Allocation::Stepped,
                    )
                    .await?;
                    self.file.install_segment(seg);
                }
                SpaceNeed::Claim { seg, upto } => {
                    claim_space(&seg, upto).await?;
                    self.file.record_claim(seg.start, upto);
                }
            }
        }
        Ok(())
    }

    /// Appends an entry; its space must be ready ([`Self::space_needed`]). Returns true when the queue just became
    /// dirty (the owner then lists it for the flusher).
    pub fn push(&mut self, e: &IndexEntry) -> bool {
        self.file.append(&e.encode());
        !std::mem::replace(&mut self.dirty, true)
    }

    /// True when entries wait to be planned for writing.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Plans the writes of every pushed entry (`everything`), or only of the chunks that
    /// filled; the queue stays dirty while entries wait unplanned.
    pub fn take_flush(&mut self, everything: bool) -> super::segmented_file::FlushBatch {
        let batch = if everything {
            self.file.take_flush()
        } else {
            self.file.take_flush_sealed()
        };
        self.dirty = self.file.has_unplanned();
        debug_assert!(
            !(everything && self.dirty),
            "a full take leaves nothing unplanned"
        );
        batch
    }

    /// Forgets a failed batch; the queue is dirty again.
    pub fn abort_flush(&mut self) {
        self.dirty = true;
        self.file.abort_flush();
    }

    /// Byte offset of logical offset `n`.
    pub fn byte_offset(n: u64) -> u64 {
        n * ENTRY_BYTES as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_sizes_round_up() {
        let e = IndexEntry {
            physical_offset: (3i64 << 52) | 12345,
            size: 200,
            tags_code: -5,
        };
        assert_eq!(IndexEntry::decode(&e.encode()), Some(e));
        assert_eq!(IndexEntry::decode(&[0u8; 20]), None);
        assert_eq!(segment_bytes_for(6_000_000), 6_000_640);
        assert_eq!(segment_bytes_for(6_000_640), 6_000_640);
        assert_eq!(segment_bytes_for(1) % 4096, 0);
    }
}
