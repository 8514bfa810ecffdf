//! One segment file: its name, how its disk space is claimed, listing and reading.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::DmaFile;

use super::FileError;
use crate::store::io_inflight::{tracked, IoKind};

/// Space a [`Allocation::Stepped`] segment claims first, and the smallest claim.
pub const MIN_CLAIM_BYTES: u64 = 4096;
/// Largest single claim of a stepped segment (claims double up to this).
pub const MAX_CLAIM_STEP_BYTES: u64 = 1 << 20;

/// How a new segment's disk space is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// The whole segment at creation (the commit log): a full disk fails at a segment
    /// boundary, never in the middle of a write.
    Whole,
    /// Sized but sparse, claimed in doubling steps as the data reaches them (consume
    /// indexes): disk use follows the entries, not the queue count. A full disk then fails
    /// at a claim, still before the bytes are accepted.
    Stepped,
}

/// The name of the segment starting at `start`.
pub fn segment_name(start: u64) -> String {
    format!("{start:020}")
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

/// Creates (or opens) the segment starting at `start` with `segment_bytes` of size and
/// claims its first space as `allocation` says.
pub async fn create(
    dir: PathBuf,
    start: u64,
    segment_bytes: u64,
    allocation: Allocation,
) -> Result<Segment, FileError> {
    let path = dir.join(segment_name(start));
    let file = crate::store::dma::open(&path, crate::store::dma::Mode::Create).await?;
    // Claiming space keeps fdatasync from also flushing size changes, and makes a full
    // disk fail here instead of in the middle of a write.
    let claimed = match allocation {
        Allocation::Whole => tracked(IoKind::Allocate, file.pre_allocate(segment_bytes, false))
            .await
            .map_err(|e| FileError::io("preallocate", &path, e)),
        Allocation::Stepped => match file.truncate(segment_bytes).await {
            Ok(()) => claim_on(&file, &path, MIN_CLAIM_BYTES.min(segment_bytes)).await,
            Err(e) => Err(FileError::io("size", &path, e)),
        },
    };
    if let Err(e) = claimed {
        let _ = file.close().await;
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(Segment {
        start,
        file: Rc::new(file),
        path,
    })
}

/// Claims disk space for the first `upto` bytes of `seg` (already claimed space is kept).
pub async fn claim(seg: &Segment, upto: u64) -> Result<(), FileError> {
    claim_on(&seg.file, &seg.path, upto).await
}

async fn claim_on(file: &DmaFile, path: &Path, upto: u64) -> Result<(), FileError> {
    // The file already has its full size: this allocates blocks and changes no length.
    tracked(IoKind::Allocate, file.pre_allocate(upto, false))
        .await
        .map_err(|e| FileError::io("claim space", path, e))
}

/// Segment start offsets in `dir`, sorted; files not named by 20 digits are ignored.
pub fn list(dir: &Path) -> Result<Vec<u64>, FileError> {
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
pub async fn read(seg: &Segment, pos: u64, len: usize) -> Result<Vec<u8>, FileError> {
    Ok(read_in_place(seg, pos, len).await?[..len].to_vec())
}

/// [`read`] that hands back the device read's own buffer (at least `len` bytes), so a large
/// read is not copied again.
pub async fn read_in_place(
    seg: &Segment,
    pos: u64,
    len: usize,
) -> Result<glommio::io::ReadResult, FileError> {
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
    Ok(r)
}
