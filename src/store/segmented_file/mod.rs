//! A log of bytes split into fixed-size segment files, written with direct I/O.
//!
//! Used by the commit log and by every consume index. Appends are synchronous memory copies
//! into an in-memory *chunk* that starts at the block-aligned position below the first
//! unwritten byte; a flush seals the chunk and writes it whole, zero-padded to the block
//! size, at that aligned position. The partly filled last block is copied into the next
//! chunk, so the next flush rewrites that block in place with more data (the aligned-tail
//! scheme: direct I/O needs aligned writes, and nothing waits for a block to fill).
//!
//! Flushing is split into a synchronous plan ([`SegmentedFile::take_flush`]), an async
//! execution on owned handles ([`FlushBatch::run`]) and a synchronous completion
//! ([`SegmentedFile::complete_flush`]), so the owner can keep this in a `RefCell` without
//! holding a borrow across an `.await` while other tasks keep appending.
//!
//! Bytes are addressed by *local offset*: 0 at the start of the first segment ever created;
//! segment files are named by their start offset in 20 digits (RocketMQ's naming).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::DmaBuffer;

mod error;
mod flush_batch;
mod segment;
mod tail_recovery;
#[cfg(test)]
mod tests;

pub use error::FileError;
pub use flush_batch::{FlushBatch, Sealed};
pub use segment::{
    claim as claim_space, list as list_segments, read as read_segment,
    read_in_place as read_segment_in_place, segment_name, Allocation, Segment,
    MAX_CLAIM_STEP_BYTES, MIN_CLAIM_BYTES,
};

/// Direct-I/O block size: every write starts and ends on this boundary.
pub const BLOCK_BYTES: u64 = 4096;
/// Smallest chunk allocated (a file whose chunks are at most 64 KiB uses a quarter of its
/// largest chunk instead: an idle consume index then holds 4 KiB, not 16, for its tail).
pub const MIN_CHUNK_BYTES: u64 = 16 * 1024;
/// A written chunk using at most 1/this of its allocation is copied into a buffer of its
/// own size before it enters the read cache: checkpoints seal each queue's partial index
/// tail (once a second before checkpoints followed the data), and 1,024 queues kept
/// ~60 MiB of mostly empty 16 KiB buffers.
pub const CACHE_COMPACT_RATIO: usize = 2;

fn align_down(v: u64) -> u64 {
    v & !(BLOCK_BYTES - 1)
}

fn align_up(v: u64) -> u64 {
    align_down(v + BLOCK_BYTES - 1)
}

/// What an append needs first ([`SegmentedFile::space_needed`]).
pub enum SpaceNeed {
    /// The segment starting here must be created.
    Segment(u64),
    /// The first `upto` bytes of `seg` must have their disk space claimed.
    Claim {
        /// The segment holding the end.
        seg: Segment,
        /// Bytes from the segment's start.
        upto: u64,
    },
}

/// Bytes being collected for one write.
struct Chunk {
    /// Segment the chunk belongs to.
    seg_start: u64,
    /// Local offset of `buf[0]`; block-aligned.
    start: u64,
    /// Valid bytes in `buf`.
    len: usize,
    buf: DmaBuffer,
}

/// A segmented, direct-I/O, append-only file.
pub struct SegmentedFile {
    dir: PathBuf,
    segment_bytes: u64,
    max_chunk_bytes: usize,
    segments: BTreeMap<u64, Segment>,
    allocation: Allocation,
    /// Local offset below which the segment holding `end` has its disk space claimed.
    claimed: u64,
    end: u64,
    written: u64,
    /// End of the last batch handed out by `take_flush`.
    planned: u64,
    /// Bytes planned by the last `take_flush`: sizes the next chunk, so a file flushed in
    /// small rounds (SYNC_FLUSH groups, index files) does not allocate full-size chunks.
    last_round_bytes: u64,
    active: Option<Chunk>,
    sealed: VecDeque<Rc<Sealed>>,
    /// Written chunks kept for reads of recent data, oldest first, at most `cache_bytes`.
    recent: VecDeque<Rc<Sealed>>,
    recent_bytes: usize,
    cache_bytes: usize,
    /// One segment creation at a time ([`Self::creation_gate`]).
    creating: Rc<glommio::sync::Semaphore>,
}

impl SegmentedFile {
    /// Opens the segments found in `dir` (creating `dir`), with the logical end at `end`
    /// (recovery decides it). Appends then continue from `end`.
    pub async fn open(
        dir: &Path,
        segment_bytes: u64,
        max_chunk_bytes: usize,
        end: u64,
        allocation: Allocation,
    ) -> Result<Self, FileError> {
        // Segments start on block boundaries, so local and in-file alignment agree.
        assert!(
            segment_bytes > 0 && segment_bytes % BLOCK_BYTES == 0,
            "segment size {segment_bytes}"
        );
        assert!(
            max_chunk_bytes as u64 >= 2 * BLOCK_BYTES && max_chunk_bytes as u64 % BLOCK_BYTES == 0
        );
        // mkdir and the listing block in the kernel (mkdir ~0.2 ms on ext4's journal):
        // on the blocking pool, a new 1,024-queue topic's first sends do not stall the
        // shard's reactor behind them.
        let owned = dir.to_owned();
        let starts = glommio::executor()
            .spawn_blocking(move || {
                std::fs::create_dir_all(&owned)
                    .map_err(|e| FileError::io("create dir", &owned, e))?;
                list_segments(&owned)
            })
            .await?;
        let mut segments = BTreeMap::new();
        for start in starts {
            let path = dir.join(segment_name(start));
            let file = crate::store::dma::open(&path, crate::store::dma::Mode::ReadWrite).await?;
            assert!(
                file.alignment() <= BLOCK_BYTES,
                "device alignment above 4 KiB"
            );
            segments.insert(
                start,
                Segment {
                    start,
                    file: Rc::new(file),
                    path,
                },
            );
        }
        Ok(SegmentedFile {
            dir: dir.to_owned(),
            segment_bytes,
            max_chunk_bytes,
            segments,
            allocation,
            // What is written is on claimed space; a stepped file claims more before the
            // next append past it (claiming again what is claimed changes nothing).
            claimed: align_up(end),
            end,
            written: end,
            planned: end,
            last_round_bytes: 0,
            active: None,
            sealed: VecDeque::new(),
            recent: VecDeque::new(),
            recent_bytes: 0,
            cache_bytes: 0,
            creating: Rc::new(glommio::sync::Semaphore::new(1)),
        })
    }

    /// Keeps up to `bytes` of written chunks readable from memory (the read cache of recent
    /// data: consumers mostly read what was just written).
    pub fn set_cache_bytes(&mut self, bytes: usize) {
        self.cache_bytes = bytes;
        self.evict();
    }

    /// Drops every cached chunk (the store went idle: whoever reads next reads from the
    /// device); the cache fills again from the next written chunk. Returns the bytes freed.
    pub fn release_cache(&mut self) -> usize {
        self.recent.clear();
        std::mem::take(&mut self.recent_bytes)
    }

    fn evict(&mut self) {
        while self.recent_bytes > self.cache_bytes {
            match self.recent.pop_front() {
                Some(c) => self.recent_bytes -= c.alloc_bytes,
                None => break,
            }
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Segment size.
    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// Local offset of the next appended byte.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Every byte below this is on the device (maybe not yet synced).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Bytes appended but not yet handed to a flush.
    pub fn unflushed_bytes(&self) -> u64 {
        self.end - self.written
    }

    /// Local offset of the first byte still stored (start of the oldest segment).
    pub fn first_offset(&self) -> u64 {
        self.segments.keys().next().copied().unwrap_or(self.end)
    }

    /// Every segment's start and path, oldest first.
    pub fn segment_paths(&self) -> Vec<(u64, PathBuf)> {
        self.segments
            .values()
            .map(|s| (s.start, s.path.clone()))
            .collect()
    }

    /// Start offsets of every segment, oldest first.
    pub fn segment_starts(&self) -> Vec<u64> {
        self.segments.keys().copied().collect()
    }

    /// Bytes left in the segment that `end` falls in (a whole segment at a boundary).
    pub fn room_in_segment(&self) -> u64 {
        self.segment_bytes - self.end % self.segment_bytes
    }

    /// The segment start `end` falls in, if that segment does not exist yet.
    pub fn missing_segment(&self) -> Option<u64> {
        let start = self.end - self.end % self.segment_bytes;
        (!self.segments.contains_key(&start)).then_some(start)
    }

    /// Held while one of this file's segments is created. Concurrent appends that all
    /// find the same segment missing take turns and check [`Self::has_segment`] first, so
    /// one creates it: otherwise a creator whose space claim failed (a full disk) removes
    /// the file that another creator has opened, and that one panics inside glommio's open
    /// or installs an unlinked file whose records a restart would not find.
    pub fn creation_gate(&self) -> Rc<glommio::sync::Semaphore> {
        self.creating.clone()
    }

    /// True when the segment starting at `start` is installed.
    pub fn has_segment(&self, start: u64) -> bool {
        self.segments.contains_key(&start)
    }

    /// Creates (or opens) the segment starting at `start`, its space claimed as `allocation`
    /// says. Called by the owner when [`Self::space_needed`] asks for a segment.
    pub async fn create_segment(
        dir: PathBuf,
        start: u64,
        segment_bytes: u64,
        allocation: Allocation,
    ) -> Result<Segment, FileError> {
        segment::create(dir, start, segment_bytes, allocation).await
    }

    /// What must happen before `len` more bytes can be appended: a segment created, or
    /// (stepped allocation) more of the current segment claimed. `None`: append at once.
    pub fn space_needed(&self, len: u64) -> Option<SpaceNeed> {
        if let Some(start) = self.missing_segment() {
            return Some(SpaceNeed::Segment(start));
        }
        if self.allocation == Allocation::Whole || self.end + len <= self.claimed {
            return None;
        }
        let seg_start = self.end - self.end % self.segment_bytes;
        let seg = self.segments.get(&seg_start)?.clone();
        let have = self.claimed.saturating_sub(seg_start).max(MIN_CLAIM_BYTES);
        let need = align_up(self.end + len - seg_start);
        let upto = need
            .max(have + have.min(MAX_CLAIM_STEP_BYTES))
            .min(self.segment_bytes);
        Some(SpaceNeed::Claim { seg, upto })
    }

    /// Records a claim made for [`SpaceNeed::Claim`].
    pub fn record_claim(&mut self, seg_start: u64, upto: u64) {
        if seg_start == self.end - self.end % self.segment_bytes {
            self.claimed = self.claimed.max(seg_start + upto);
        }
    }

    /// Installs a segment made by [`Self::create_segment`].
    pub fn install_segment(&mut self, seg: Segment) {
        let first_claim = match self.allocation {
            Allocation::Whole => self.segment_bytes,
            Allocation::Stepped => MIN_CLAIM_BYTES.min(self.segment_bytes),
        };
        self.record_claim(seg.start, first_claim);
        self.segments.entry(seg.start).or_insert(seg);
    }

    /// Appends `bytes`, which must fit in the current segment, which must exist.
    pub fn append(&mut self, bytes: &[u8]) {
        assert!(
            self.allocation == Allocation::Whole || self.end + bytes.len() as u64 <= self.claimed,
            "append past the claimed space of a stepped file"
        );
        assert!(
            bytes.len() as u64 <= self.room_in_segment(),
            "append of {} bytes crosses a segment boundary",
            bytes.len()
        );
        assert!(self.missing_segment().is_none(), "append without a segment");
        let mut rest = bytes;
        while !rest.is_empty() {
            let chunk = self.active_chunk();
            let n = (chunk.buf.len() - chunk.len).min(rest.len());
            chunk.buf.as_bytes_mut()[chunk.len..chunk.len + n].copy_from_slice(&rest[..n]);
            chunk.len += n;
            let full = chunk.len == chunk.buf.len();
            self.end += n as u64;
            rest = &rest[n..];
            if full {
                self.seal_active();
            }
        }
    }

    /// Appends `len` bytes written in place by `fill` (no intermediate buffer) when they fit
    /// in the chunk being filled; returns false, appending nothing, when they do not (the
    /// caller then uses [`Self::append`], which splits bytes across chunks so chunks stay
    /// full and block-aligned). The bytes must fit in the current segment, which must exist.
    pub fn try_append_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> bool {
        assert!(
            len as u64 <= self.room_in_segment(),
            "append of {len} bytes crosses a segment boundary"
        );
        assert!(self.missing_segment().is_none(), "append without a segment");
        if self
            .active
            .as_ref()
            .is_some_and(|c| c.buf.len() - c.len < len)
        {
            return false;
        }
        if self.active.is_none() {
            assert_eq!(self.end % BLOCK_BYTES, 0, "fresh chunk at an unaligned end");
            self.active = Some(self.new_chunk_min(self.end, &[], len));
        }
        let c = self.active.as_mut().expect("ensured above");
        fill(&mut c.buf.as_bytes_mut()[c.len..c.len + len]);
        c.len += len;
        let full = c.len == c.buf.len();
        self.end += len as u64;
        if full {
            self.seal_active();
        }
        true
    }

    /// The chunk receiving appends. A fresh one starts at a block boundary (the previous
    /// chunk ended there, or a segment starts); partial blocks are carried by `seal_active`.
    fn active_chunk(&mut self) -> &mut Chunk {
        if self.active.is_none() {
            assert_eq!(self.end % BLOCK_BYTES, 0, "fresh chunk at an unaligned end");
            let chunk = self.new_chunk(self.end, &[]);
            self.active = Some(chunk);
        }
        self.active.as_mut().expect("just created")
    }

    /// A chunk at block-aligned `start`, seeded with `head` (the bytes from `start` to end).
    fn new_chunk(&self, start: u64, head: &[u8]) -> Chunk {
        self.new_chunk_min(start, head, 0)
    }

    /// Like `new_chunk`, with room for at least `extra` bytes after the head.
    fn new_chunk_min(&self, start: u64, head: &[u8], extra: usize) -> Chunk {
        let seg_start = start - start % self.segment_bytes;
        let seg = &self.segments[&seg_start];
        let room_to_seg_end = align_up(seg_start + self.segment_bytes) - start;
        let min_chunk = MIN_CHUNK_BYTES.min(self.max_chunk_bytes as u64 / 4);
        let wanted = (self.last_round_bytes * 2 + head.len() as u64)
            .max(min_chunk)
            .next_power_of_two();
        let needed = align_up((head.len() + extra) as u64);
        let cap = (self.max_chunk_bytes as u64)
            .min(align_up(wanted))
            .max(needed)
            .min(room_to_seg_end) as usize;
        let mut buf = seg.file.alloc_dma_buffer(cap);
        // Only the head is initialised here; the padding after the last byte is zeroed when
        // the chunk is sealed, so a chunk costs no full-size memset.
        buf.as_bytes_mut()[..head.len()].copy_from_slice(head);
        Chunk {
            seg_start,
            start,
            len: head.len(),
            buf,
        }
    }

    /// Seals the active chunk; the next chunk starts with the partial last block, so the
    /// next write rewrites that block in place.
    fn seal_active(&mut self) {
        let Some(mut c) = self.active.take() else {
            return;
        };
        let end = c.start + c.len as u64;
        let tail_start = align_down(end);
        let at_segment_end = end % self.segment_bytes == 0;
        let next = (tail_start < end && !at_segment_end).then(|| {
            let from = (tail_start - c.start) as usize;
            let head = c.buf.as_bytes()[from..c.len].to_vec();
            (tail_start, head)
        });
        let padded = align_up(c.len as u64) as usize;
        let alloc_bytes = c.buf.len();
        c.buf.as_bytes_mut()[c.len..padded].fill(0);
        c.buf.trim_to_size(padded);
        let seg = self.segments[&c.seg_start].clone();
        self.sealed.push_back(Rc::new(Sealed {
            seg,
            start: c.start,
            len: c.len,
            buf: Rc::new(c.buf),
            alloc_bytes,
        }));
        if let Some((start, head)) = next {
            self.active = Some(self.new_chunk(start, &head));
        }
    }

    /// Seals what was appended and returns the writes that put it on the device. Batches
    /// must be run and completed in the order they were taken.
    pub fn take_flush(&mut self) -> FlushBatch {
        let active_has_new = self
            .active
            .as_ref()
            .is_some_and(|c| c.start + c.len as u64 > self.planned);
        if self.end > self.planned && active_has_new {
            self.seal_active();
        }
        self.take_flush_sealed()
    }

    /// Like [`Self::take_flush`], but plans only chunks already sealed (filled): bytes in
    /// the chunk being filled wait for a later round. A thousand small files (a topic's
    /// consume indexes) then write a chunk when it fills instead of rewriting each partial
    /// tail block every round.
    pub fn take_flush_sealed(&mut self) -> FlushBatch {
        let planned = self.planned;
        let chunks: Vec<Rc<Sealed>> = self
            .sealed
            .iter()
            .filter(|c| c.start + c.len as u64 > planned)
            .cloned()
            .collect();
        let end = chunks.last().map_or(planned, |c| c.start + c.len as u64);
        self.last_round_bytes = end - planned;
        self.planned = end;
        FlushBatch { chunks, end }
    }

    /// True while appended bytes wait to be planned for writing.
    pub fn has_unplanned(&self) -> bool {
        self.end > self.planned
    }

    /// Records that a batch's writes completed.
    pub fn complete_flush(&mut self, batch: &FlushBatch) {
        assert!(batch.end >= self.written, "flushes completed out of order");
        self.written = batch.end;
        while self
            .sealed
            .front()
            .is_some_and(|c| c.start + c.len as u64 <= self.written)
        {
            if let Some(c) = self.sealed.pop_front() {
                if self.cache_bytes > 0 {
                    // A chunk starting at or before an earlier cached one holds all of its
                    // bytes (the partial tail block is rewritten with the same prefix).
                    while self.recent.back().is_some_and(|r| r.start >= c.start) {
                        if let Some(r) = self.recent.pop_back() {
                            self.recent_bytes -= r.alloc_bytes;
                        }
                    }
                    let c = compact(c);
                    self.recent_bytes += c.alloc_bytes;
                    self.recent.push_back(c);
                }
            }
        }
        self.evict();
    }

    /// Memory held by the read cache (allocated bytes, not written ones).
    pub fn cached_bytes(&self) -> usize {
        self.recent_bytes
    }

    /// Forgets a failed batch so the next `take_flush` plans the same bytes again.
    pub fn abort_flush(&mut self) {
        self.planned = self.written;
    }

    /// Copies `dst.len()` bytes at `offset` from memory (unflushed chunks) if they are
    /// there; returns false when any byte must come from the device.
    pub fn copy_from_memory(&self, offset: u64, dst: &mut [u8]) -> bool {
        let end = offset + dst.len() as u64;
        let mut pos = offset;
        while pos < end {
            let Some((start, bytes)) = self.view_at(pos) else {
                return false;
            };
            let stop = start + bytes.len() as u64;
            let n = (stop.min(end) - pos) as usize;
            let from = (pos - start) as usize;
            let at = (pos - offset) as usize;
            dst[at..at + n].copy_from_slice(&bytes[from..from + n]);
            pos += n as u64;
        }
        true
    }

    /// The in-memory bytes (chunk start, valid bytes) that hold `pos`: the active chunk,
    /// a sealed one, or a cached one. Overlapping chunks hold identical bytes where they
    /// overlap (a partial block is rewritten with the same prefix), so any holder will do.
    fn view_at(&self, pos: u64) -> Option<(u64, &[u8])> {
        let holds = |start: u64, len: usize| pos >= start && pos < start + len as u64;
        if let Some(c) = self.active.as_ref().filter(|c| holds(c.start, c.len)) {
            return Some((c.start, &c.buf.as_bytes()[..c.len]));
        }
        if let Some(c) = self.sealed.iter().rev().find(|c| holds(c.start, c.len)) {
            return Some((c.start, &c.buf.as_bytes()[..c.len]));
        }
        // Cached chunks are ordered by start: the last one starting at or before `pos`.
        let i = self.recent.partition_point(|c| c.start <= pos);
        let c = self.recent.get(i.checked_sub(1)?)?;
        holds(c.start, c.len).then(|| (c.start, &c.buf.as_bytes()[..c.len]))
    }

    /// Whether memory (the unwritten tail or the read cache) holds any byte of
    /// `[start, end)`; when not, and `end` is written, the range is the device's alone.
    pub fn memory_overlaps(&self, start: u64, end: u64) -> bool {
        let overlaps = |c_start: u64, c_len: usize| c_start < end && start < c_start + c_len as u64;
        if end > self.written {
            return true;
        }
        if self
            .active
            .as_ref()
            .is_some_and(|c| overlaps(c.start, c.len))
        {
            return true;
        }
        if self.sealed.iter().any(|c| overlaps(c.start, c.len)) {
            return true;
        }
        // Cached chunks are ordered by start: only those starting before `end` can overlap.
        let i = self.recent.partition_point(|c| c.start < end);
        self.recent.range(..i).any(|c| overlaps(c.start, c.len))
    }

    /// The segment holding `offset`, if it is still stored.
    pub fn segment_for(&self, offset: u64) -> Option<Segment> {
        let (start, seg) = self.segments.range(..=offset).next_back()?;
        (offset < start + self.segment_bytes).then(|| seg.clone())
    }

    /// Seeds the partial tail block after recovery so appends rewrite it in place.
    pub fn seed_tail(&mut self, tail_block: &[u8]) {
        assert!(self.active.is_none() && self.sealed.is_empty());
        let start = align_down(self.end);
        assert_eq!(
            tail_block.len() as u64,
            self.end - start,
            "tail block length"
        );
        if !tail_block.is_empty() {
            self.active = Some(self.new_chunk(start, tail_block));
        }
    }

    /// Removes segments that end at or before `offset` (never the one holding `end`);
    /// returns how many bytes of segments were removed.
    pub fn remove_segments_before(&mut self, offset: u64) -> Result<u64, FileError> {
        let active_seg = self.end - self.end % self.segment_bytes;
        let doomed: Vec<Segment> = self
            .segments
            .values()
            .filter(|s| s.start + self.segment_bytes <= offset && s.start < active_seg)
            .cloned()
            .collect();
        let mut freed = 0;
        for s in doomed {
            self.segments.remove(&s.start);
            std::fs::remove_file(&s.path).map_err(|e| FileError::io("remove", &s.path, e))?;
            freed += self.segment_bytes;
        }
        Ok(freed)
    }
}

/// `c` itself, or, when it uses at most 1/[`CACHE_COMPACT_RATIO`] of its allocation, a
/// copy in a buffer of its own (block-padded) size.
fn compact(c: Rc<Sealed>) -> Rc<Sealed> {
    let padded = c.buf.len();
    if c.alloc_bytes < padded * CACHE_COMPACT_RATIO {
        return c;
    }
    let mut buf = c.seg.file.alloc_dma_buffer(padded);
    buf.as_bytes_mut().copy_from_slice(c.buf.as_bytes());
    Rc::new(Sealed {
        seg: c.seg.clone(),
        start: c.start,
        len: c.len,
        buf: Rc::new(buf),
        alloc_bytes: padded,
    })
}
