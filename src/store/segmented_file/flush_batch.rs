//! A planned flush: sealed chunks written as aligned direct-I/O writes, in waves.

use std::rc::Rc;

use glommio::io::DmaBuffer;

use super::{align_up, FileError, Segment};
use crate::store::io_inflight::{tracked, IoKind};

/// A sealed chunk: written (or being written) as one aligned write; readable meanwhile.
pub struct Sealed {
    pub(super) seg: Segment,
    pub(super) start: u64,
    pub(super) len: usize,
    pub(super) buf: Rc<DmaBuffer>,
    /// Bytes the buffer was allocated with: trimming a `DmaBuffer` frees nothing, so the
    /// read cache counts this, not the written length.
    pub(super) alloc_bytes: usize,
}

/// Writes planned by [`SegmentedFile::take_flush`], run without borrowing the file.
pub struct FlushBatch {
    pub(super) chunks: Vec<Rc<Sealed>>,
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
