//! Reopening a segmented file after a crash: everything past the recovered end is made
//! zero and the partial tail block is seeded.

use std::path::Path;

use super::segment::{list, segment_name, Allocation};
use super::{align_down, align_up, FileError, SegmentedFile, BLOCK_BYTES};

impl SegmentedFile {
    /// Opens the file for appending at `end` after a crash: everything past `end` is made
    /// zero (the rest of its segment is punched out, later segments are deleted) so stale or
    /// torn bytes can never be read as records later, and the partial tail block is seeded.
    pub async fn recover_open(
        dir: &Path,
        segment_bytes: u64,
        max_chunk_bytes: usize,
        end: u64,
        allocation: Allocation,
    ) -> Result<Self, FileError> {
        let seg_start = end - end % segment_bytes;
        for start in list(dir)? {
            if start > seg_start {
                let path = dir.join(segment_name(start));
                std::fs::remove_file(&path).map_err(|e| FileError::io("remove", &path, e))?;
            }
        }
        let mut f = Self::open(dir, segment_bytes, max_chunk_bytes, end, allocation).await?;
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
            // A whole segment stays fully allocated so a full disk still fails at a
            // boundary; a stepped one claims again as appends reach its end.
            if allocation == Allocation::Whole {
                seg.file
                    .pre_allocate(segment_bytes, false)
                    .await
                    .map_err(|e| FileError::io("preallocate", &seg.path, e))?;
            }
        }
        seg.file
            .fdatasync()
            .await
            .map_err(|e| FileError::io("fdatasync", &seg.path, e))?;
        f.seed_tail(&tail);
        Ok(f)
    }
}
