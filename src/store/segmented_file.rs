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

use super::io_inflight::{tracked, IoKind};
use glommio::io::{DmaBuffer, DmaFile};

/// Direct-I/O block size: every write starts and ends on this boundary.
pub const BLOCK_BYTES: u64 = 4096;
/// Smallest chunk allocated.
pub const MIN_CHUNK_BYTES: u64 = 16 * 1024;

/// Why a segmented file operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// An I/O call failed.
    #[error("{op} {path}: {reason}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// File or directory.
        path: String,
        /// OS error text.
        reason: String,
        /// True for ENOSPC/EDQUOT: retrying after space is freed may succeed.
        no_space: bool,
    },
}

impl FileError {
    /// The one way to build an I/O error: it records whether the device was full
    /// (ENOSPC/EDQUOT), which decides whether retrying after freeing space can succeed.
    pub(crate) fn io(
        op: &'static str,
        path: impl AsRef<std::ffi::OsStr>,
        e: impl std::fmt::Display,
    ) -> Self {
        let reason = e.to_string();
        let no_space = reason.contains("No space left")
            || reason.contains("os error 28")
            || reason.contains("quota");
        FileError::Io {
            op,
            path: Path::new(path.as_ref()).display().to_string(),
            reason,
            no_space,
        }
    }

    /// True when the device is full.
    pub fn is_no_space(&self) -> bool {
        matches!(self, FileError::Io { no_space: true, .. })
    }
}

/// The name of the segment starting at `start`.
pub fn segment_name(start: u64) -> String {
    format!("{start:020}")
}

fn align_down(v: u64) -> u64 {
    v & !(BLOCK_BYTES - 1)
}

fn align_up(v: u64) -> u64 {
    align_down(v + BLOCK_BYTES - 1)
}

/// An open segment.
#[derive(Clone)]
pub struct Segment {
    /// Local offset of its first byte.
    pub start: u64,
    /// The file.
    pub file: Rc<DmaFile>,
    /// Its path.
    pub path: PathBuf,
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

/// A sealed chunk: written (or being written) as one aligned write; readable meanwhile.
pub struct Sealed {
    seg: Segment,
    start: u64,
    len: usize,
    buf: Rc<DmaBuffer>,
}

/// Writes planned by [`SegmentedFile::take_flush`], run without borrowing the file.
pub struct FlushBatch {
    chunks: Vec<Rc<Sealed>>,
    /// Local offset every byte below which is on the device after the batch.
    pub end: u64,
}

impl FlushBatch {
    /// Writes every chunk, then with `sync` `fdatasync`s each touched segment.
    ///
    /// Chunks go to the device concurrently, in waves: a chunk that shares a block with the
    /// previous one (a partial block rewritten in place) waits for the previous wave, so an
    /// older version of a block can never land after a newer one.
    pub async fn run(&self, sync: bool) -> Result<(), FileError> {
        let mut i = 0;
        while i < self.chunks.len() {
            let mut wave = vec![self.chunks[i].clone()];
            i += 1;
            while i < self.chunks.len() {
                let prev = &self.chunks[i - 1];
                let c = &self.chunks[i];
                if c.seg.start == prev.seg.start && c.start < align_up(prev.start + prev.len as u64)
                {
                    break;
                }
                wave.push(c.clone());
                i += 1;
            }
            let writes: Vec<_> = wave
                .into_iter()
                .map(|c| {
                    glommio::spawn_local(async move {
                        let pos = c.start - c.seg.start;
                        tracked(IoKind::Write, c.seg.file.write_rc_at(c.buf.clone(), pos))
                            .await
                            .map_err(|e| FileError::io("write", &c.seg.path, e))
                    })
                })
                .collect();
            let mut first_err = None;
            for w in writes {
                if let Err(e) = w.await {
                    first_err.get_or_insert(e);
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        if sync {
            for seg in self.segments() {
                tracked(IoKind::Sync, seg.file.fdatasync())
                    .await
                    .map_err(|e| FileError::io("fdatasync", &seg.path, e))?;
            }
        }
        Ok(())
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The segments this batch writes to (each once).
    pub fn segments(&self) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        for c in &self.chunks {
            if !out.iter().any(|s| s.start == c.seg.start) {
                out.push(c.seg.clone());
            }
        }
        out
    }
}

/// A segmented, direct-I/O, append-only file.
pub struct SegmentedFile {
    dir: PathBuf,
    segment_bytes: u64,
    max_chunk_bytes: usize,
    segments: BTreeMap<u64, Segment>,
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
}

impl SegmentedFile {
    /// Opens the segments found in `dir` (creating `dir`), with the logical end at `end`
    /// (recovery decides it). Appends then continue from `end`.
    pub async fn open(
        dir: &Path,
        segment_bytes: u64,
        max_chunk_bytes: usize,
        end: u64,
    ) -> Result<Self, FileError> {
        // Segments start on block boundaries, so local and in-file alignment agree.
        assert!(
            segment_bytes > 0 && segment_bytes % BLOCK_BYTES == 0,
            "segment size {segment_bytes}"
        );
        assert!(
            max_chunk_bytes as u64 >= 2 * BLOCK_BYTES && max_chunk_bytes as u64 % BLOCK_BYTES == 0
        );
        std::fs::create_dir_all(dir).map_err(|e| FileError::io("create dir", dir, e))?;
        let mut segments = BTreeMap::new();
        for start in list_segments(dir)? {
            let path = dir.join(segment_name(start));
            let file = super::dma::open(&path, super::dma::Mode::ReadWrite).await?;
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
            end,
            written: end,
            planned: end,
            last_round_bytes: 0,
            active: None,
            sealed: VecDeque::new(),
            recent: VecDeque::new(),
            recent_bytes: 0,
            cache_bytes: 0,
        })
    }

    /// Keeps up to `bytes` of written chunks readable from memory (the read cache of recent
    /// data: consumers mostly read what was just written).
    pub fn set_cache_bytes(&mut self, bytes: usize) {
        self.cache_bytes = bytes;
        self.evict();
    }

    fn evict(&mut self) {
        while self.recent_bytes > self.cache_bytes {
            match self.recent.pop_front() {
                Some(c) => self.recent_bytes -= c.buf.len(),
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

    /// Creates (or opens) the segment starting at `start`, preallocated to full size, and
    /// installs it. Called by the owner when [`Self::missing_segment`] says so.
    pub async fn create_segment(
        dir: PathBuf,
        start: u64,
        segment_bytes: u64,
    ) -> Result<Segment, FileError> {
        let path = dir.join(segment_name(start));
        let file = super::dma::open(&path, super::dma::Mode::Create).await?;
        // Preallocating keeps fdatasync from also flushing size changes, and makes a full
        // disk fail here, at a segment boundary, instead of in the middle of a write.
        if let Err(e) = tracked(IoKind::Allocate, file.pre_allocate(segment_bytes, false)).await {
            let err = FileError::io("preallocate", &path, e);
            let _ = file.close().await;
            let _ = std::fs::remove_file(&path);
            return Err(err);
        }
        Ok(Segment {
            start,
            file: Rc::new(file),
            path,
        })
    }

    /// Installs a segment made by [`Self::create_segment`].
    pub fn install_segment(&mut self, seg: Segment) {
        self.segments.entry(seg.start).or_insert(seg);
    }

    /// Appends `bytes`, which must fit in the current segment, which must exist.
    pub fn append(&mut self, bytes: &[u8]) {
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
        let wanted = (self.last_round_bytes * 2 + head.len() as u64)
            .max(MIN_CHUNK_BYTES)
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
        c.buf.as_bytes_mut()[c.len..padded].fill(0);
        c.buf.trim_to_size(padded);
        let seg = self.segments[&c.seg_start].clone();
        self.sealed.push_back(Rc::new(Sealed {
            seg,
            start: c.start,
            len: c.len,
            buf: Rc::new(c.buf),
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
                    self.recent_bytes += c.buf.len();
                    self.recent.push_back(c);
                }
            }
        }
        self.evict();
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

    /// Opens the file for appending at `end` after a crash: everything past `end` is made
    /// zero (the rest of its segment is punched out, later segments are deleted) so stale or
    /// torn bytes can never be read as records later, and the partial tail block is seeded.
    pub async fn recover_open(
        dir: &Path,
        segment_bytes: u64,
        max_chunk_bytes: usize,
        end: u64,
    ) -> Result<Self, FileError> {
        let seg_start = end - end % segment_bytes;
        for start in list_segments(dir)? {
            if start > seg_start {
                let path = dir.join(segment_name(start));
                std::fs::remove_file(&path).map_err(|e| FileError::io("remove", &path, e))?;
            }
        }
        let mut f = Self::open(dir, segment_bytes, max_chunk_bytes, end).await?;
        let Some(seg) = f.segments.get(&seg_start).cloned() else {
            return Ok(f);
        };
        let keep = end - seg_start;
        let tail_start = align_down(keep);
        let mut tail = Vec::new();
        if tail_start < keep {
            let block = seg
                .file
                .read_at_aligned(tail_start, BLOCK_BYTES as usize)
                .await
                .map_err(|e| FileError::io("read", &seg.path, e))?;
            let n = (keep - tail_start) as usize;
            if block.len() < n {
                return Err(FileError::io(
                    "read",
                    &seg.path,
                    "tail block shorter than the recovered end",
                ));
            }
            tail.extend_from_slice(&block[..n]);
            let mut buf = seg.file.alloc_dma_buffer(BLOCK_BYTES as usize);
            buf.as_bytes_mut().fill(0);
            buf.as_bytes_mut()[..n].copy_from_slice(&tail);
            seg.file
                .write_at(buf, tail_start)
                .await
                .map_err(|e| FileError::io("write", &seg.path, e))?;
        }
        let zero_from = align_up(keep);
        if zero_from < segment_bytes {
            seg.file
                .deallocate(zero_from, segment_bytes - zero_from)
                .await
                .map_err(|e| FileError::io("punch hole", &seg.path, e))?;
            // Keep the segment fully allocated so a full disk still fails at a boundary.
            seg.file
                .pre_allocate(segment_bytes, false)
                .await
                .map_err(|e| FileError::io("preallocate", &seg.path, e))?;
        }
        seg.file
            .fdatasync()
            .await
            .map_err(|e| FileError::io("fdatasync", &seg.path, e))?;
        f.seed_tail(&tail);
        Ok(f)
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

/// Segment start offsets in `dir`, sorted; files not named by 20 digits are ignored.
pub fn list_segments(dir: &Path) -> Result<Vec<u64>, FileError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FileError::io("list", dir, e)),
    };
    let mut starts: Vec<u64> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            (name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()))
                .then(|| name.parse().ok())
                .flatten()
        })
        .collect();
    starts.sort_unstable();
    Ok(starts)
}

/// Reads `len` bytes at `pos` of a segment (any alignment).
pub async fn read_segment(seg: &Segment, pos: u64, len: usize) -> Result<Vec<u8>, FileError> {
    let r = tracked(IoKind::Read, seg.file.read_at(pos, len))
        .await
        .map_err(|e| FileError::io("read", &seg.path, format!("{len} bytes at {pos}: {e}")))?;
    if r.len() < len {
        return Err(FileError::io(
            "read",
            &seg.path,
            format!("short read at {pos}: {} of {len}", r.len()),
        ));
    }
    Ok(r[..len].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::run_unpinned;

    const SEG: u64 = 64 * 1024;

    fn run<F, Fut>(f: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        run_unpinned("segfile-test", 1 << 20, f).unwrap();
    }

    async fn append_all(f: &mut SegmentedFile, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if let Some(start) = f.missing_segment() {
                let seg = SegmentedFile::create_segment(f.dir().to_owned(), start, SEG)
                    .await
                    .unwrap();
                f.install_segment(seg);
            }
            let n = (f.room_in_segment() as usize).min(rest.len());
            f.append(&rest[..n]);
            rest = &rest[n..];
        }
    }

    async fn flush(f: &mut SegmentedFile, sync: bool) {
        let batch = f.take_flush();
        batch.run(sync).await.unwrap();
        f.complete_flush(&batch);
    }

    fn on_disk(dir: &Path, total: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for start in list_segments(dir).unwrap() {
            let bytes = std::fs::read(dir.join(segment_name(start))).unwrap();
            assert_eq!(bytes.len() as u64, SEG, "preallocated to full size");
            out.extend_from_slice(&bytes);
        }
        out.truncate(total as usize);
        out
    }

    #[test]
    fn appends_of_any_size_land_on_disk_across_chunks_and_segments() {
        run(|| async {
            let dir = tempfile::tempdir().unwrap();
            let mut f = SegmentedFile::open(dir.path(), SEG, 16 * 1024, 0)
                .await
                .unwrap();
            let mut expect = Vec::new();
            // Odd sizes so partial blocks are rewritten many times; flush every few appends.
            for i in 0..400u32 {
                let piece: Vec<u8> = (0..(i * 37 % 1500 + 1)).map(|j| (i + j) as u8).collect();
                append_all(&mut f, &piece).await;
                expect.extend_from_slice(&piece);
                if i % 7 == 0 {
                    flush(&mut f, i % 14 == 0).await;
                }
                // Unflushed bytes are readable from memory.
                let at = expect.len() as u64 - piece.len() as u64;
                let mut got = vec![0; piece.len()];
                if at >= f.written() {
                    assert!(f.copy_from_memory(at, &mut got));
                    assert_eq!(got, piece);
                }
            }
            flush(&mut f, true).await;
            assert_eq!(f.written(), expect.len() as u64);
            assert!(expect.len() as u64 > 3 * SEG, "test must cross segments");
            assert_eq!(on_disk(dir.path(), f.end()), expect);
        });
    }

    #[test]
    fn reopen_with_seeded_tail_continues_in_place() {
        run(|| async {
            let dir = tempfile::tempdir().unwrap();
            let mut f = SegmentedFile::open(dir.path(), SEG, 16 * 1024, 0)
                .await
                .unwrap();
            append_all(&mut f, &[7u8; 5000]).await;
            flush(&mut f, true).await;
            drop(f);
            let mut g = SegmentedFile::open(dir.path(), SEG, 16 * 1024, 5000)
                .await
                .unwrap();
            let tail =
                std::fs::read(dir.path().join(segment_name(0))).unwrap()[4096..5000].to_vec();
            g.seed_tail(&tail);
            append_all(&mut g, &[9u8; 100]).await;
            flush(&mut g, true).await;
            let disk = on_disk(dir.path(), 5100);
            assert!(disk[..5000].iter().all(|b| *b == 7));
            assert!(disk[5000..].iter().all(|b| *b == 9));
        });
    }

    #[test]
    fn failed_flush_is_replanned_and_old_segments_are_removed() {
        run(|| async {
            let dir = tempfile::tempdir().unwrap();
            let mut f = SegmentedFile::open(dir.path(), SEG, 16 * 1024, 0)
                .await
                .unwrap();
            append_all(&mut f, &vec![1u8; (3 * SEG) as usize + 10]).await;
            let first = f.take_flush();
            assert!(!first.is_empty());
            f.abort_flush();
            let again = f.take_flush();
            assert_eq!(again.end, first.end);
            again.run(true).await.unwrap();
            f.complete_flush(&again);
            assert_eq!(f.segment_starts(), vec![0, SEG, 2 * SEG, 3 * SEG]);
            let freed = f.remove_segments_before(2 * SEG + 5).unwrap();
            assert_eq!(freed, 2 * SEG);
            assert_eq!(f.first_offset(), 2 * SEG);
            assert!(f.segment_for(100).is_none());
            assert_eq!(f.segment_for(3 * SEG + 1).unwrap().start, 3 * SEG);
        });
    }
}
