//! Run files: an immutable, sorted batch of index entries covering one contiguous range of
//! the commit log, written once with direct I/O and only read afterwards.
//!
//! ```text
//! block 0             header (64 bytes used): magic, version, entry count, covered local
//!                     range [first, end), store-time range, block counts, CRC32C of the
//!                     fence blocks, CRC32C of the header
//! fence blocks        the first hash of every entry block, u32 each, zero padded
//! entry blocks        170 entries of 24 bytes sorted by (hash, time, offset), zero padded,
//!                     CRC32C of the block's first 4092 bytes in its last 4
//! ```
//!
//! All integers are big-endian. A run is written to `<name>.tmp`, synced, renamed to
//! `<20-digit first local offset>.run`, and the directory synced: a run under its final
//! name is complete. The CRCs catch what the rename cannot (bit rot, a copied or cut file):
//! a bad header or fence area refuses the run at open (it is rebuilt from the log), a bad
//! entry block is skipped by the query that reads it.

use std::path::{Path, PathBuf};

use super::entry::{KeyEntry, ENTRY_BYTES};
use crate::store::io_inflight::{tracked, IoKind};
use crate::store::segmented_file::{FileError, BLOCK_BYTES};

/// Entries per 4 KiB block: whole entries only, so one block read yields whole entries.
pub const ENTRIES_PER_BLOCK: usize = (BLOCK_BYTES as usize - BLOCK_CRC_BYTES) / ENTRY_BYTES;
/// Trailing CRC32C of an entry block.
const BLOCK_CRC_BYTES: usize = 4;
/// Bytes of a block the CRC covers.
const BLOCK_PAYLOAD_BYTES: usize = BLOCK_BYTES as usize - BLOCK_CRC_BYTES;
/// Fence values (u32) per fence block.
const FENCES_PER_BLOCK: usize = BLOCK_BYTES as usize / 4;
/// Bytes of the header that carry data (the rest of block 0 is zero).
const HEADER_BYTES: usize = 64;
const MAGIC: u32 = 0x434D_5158; // "CMQX"
const VERSION: u32 = 1;
/// Suffix of a complete run file.
pub const RUN_SUFFIX: &str = ".run";
/// Suffix of a run being written (removed at open).
pub const TMP_SUFFIX: &str = ".run.tmp";
/// One write of a run file; a run larger than this is written in several.
pub const RUN_WRITE_CHUNK_BYTES: usize = 1 << 20;
/// Entry blocks a lookup reads from one run at most (the newest of a hot key's blocks).
pub const MAX_LOOKUP_BLOCKS_PER_RUN: usize = 64;

const _: () = assert!(ENTRIES_PER_BLOCK * ENTRY_BYTES <= BLOCK_PAYLOAD_BYTES);
const _: () = assert!(ENTRIES_PER_BLOCK == 170);
const _: () = assert!(RUN_WRITE_CHUNK_BYTES % BLOCK_BYTES as usize == 0);

/// What a run's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunHeader {
    /// Entries in the run.
    pub count: u64,
    /// First local log offset covered.
    pub first: u64,
    /// Local log offset just past the range covered.
    pub end: u64,
    /// Oldest store time of an entry (`i64::MAX` when empty).
    pub min_ts: i64,
    /// Newest store time of an entry (`i64::MIN` when empty).
    pub max_ts: i64,
    /// Entry blocks.
    pub entry_blocks: u32,
    /// Fence blocks.
    pub fence_blocks: u32,
    fences_crc: u32,
}

impl RunHeader {
    /// Bytes of the whole file.
    pub fn file_bytes(&self) -> u64 {
        (1 + u64::from(self.fence_blocks) + u64::from(self.entry_blocks)) * BLOCK_BYTES
    }

    fn entry_block_pos(&self, block: usize) -> u64 {
        (1 + u64::from(self.fence_blocks) + block as u64) * BLOCK_BYTES
    }

    /// Entries held by entry block `block`.
    fn entries_in(&self, block: usize) -> usize {
        let before = (block * ENTRIES_PER_BLOCK) as u64;
        (self.count.saturating_sub(before) as usize).min(ENTRIES_PER_BLOCK)
    }
}

/// Why a run file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// Header missing, torn, or of another format.
    #[error("run header does not verify")]
    Header,
    /// The file is shorter than its header says.
    #[error("run file holds {found} bytes, its header says {expected}")]
    Length {
        /// Bytes found.
        found: u64,
        /// Bytes the header implies.
        expected: u64,
    },
    /// The fence blocks do not match their CRC.
    #[error("run fences do not verify")]
    Fences,
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] FileError),
}

/// Builds the image of a run from entries sorted by (hash, time, offset).
pub fn encode(entries: &[KeyEntry], first: u64, end: u64) -> Vec<u8> {
    debug_assert!(entries.windows(2).all(|w| w[0] <= w[1]), "entries sorted");
    assert!(first <= end, "a run covers [first, end)");
    let entry_blocks = entries.len().div_ceil(ENTRIES_PER_BLOCK);
    let fence_blocks = entry_blocks.div_ceil(FENCES_PER_BLOCK);
    let block = BLOCK_BYTES as usize;
    let mut img = vec![0u8; (1 + fence_blocks + entry_blocks) * block];
    let (fence_area, entry_area) = img[block..].split_at_mut(fence_blocks * block);
    for (b, chunk) in entries.chunks(ENTRIES_PER_BLOCK).enumerate() {
        fence_area[b * 4..b * 4 + 4].copy_from_slice(&chunk[0].hash.to_be_bytes());
        let dst = &mut entry_area[b * block..(b + 1) * block];
        for (i, e) in chunk.iter().enumerate() {
            e.encode(&mut dst[i * ENTRY_BYTES..(i + 1) * ENTRY_BYTES]);
        }
        let crc = crc32c::crc32c(&dst[..BLOCK_PAYLOAD_BYTES]);
        dst[BLOCK_PAYLOAD_BYTES..].copy_from_slice(&crc.to_be_bytes());
    }
    let header = RunHeader {
        count: entries.len() as u64,
        first,
        end,
        min_ts: entries
            .iter()
            .map(|e| e.store_timestamp)
            .min()
            .unwrap_or(i64::MAX),
        max_ts: entries
            .iter()
            .map(|e| e.store_timestamp)
            .max()
            .unwrap_or(i64::MIN),
        entry_blocks: entry_blocks as u32,
        fence_blocks: fence_blocks as u32,
        fences_crc: crc32c::crc32c(fence_area),
    };
    encode_header(&header, &mut img[..HEADER_BYTES]);
    img
}

fn encode_header(h: &RunHeader, dst: &mut [u8]) {
    dst[0..4].copy_from_slice(&MAGIC.to_be_bytes());
    dst[4..8].copy_from_slice(&VERSION.to_be_bytes());
    dst[8..16].copy_from_slice(&h.count.to_be_bytes());
    dst[16..24].copy_from_slice(&h.first.to_be_bytes());
    dst[24..32].copy_from_slice(&h.end.to_be_bytes());
    dst[32..40].copy_from_slice(&h.min_ts.to_be_bytes());
    dst[40..48].copy_from_slice(&h.max_ts.to_be_bytes());
    dst[48..52].copy_from_slice(&h.entry_blocks.to_be_bytes());
    dst[52..56].copy_from_slice(&h.fence_blocks.to_be_bytes());
    dst[56..60].copy_from_slice(&h.fences_crc.to_be_bytes());
    let crc = crc32c::crc32c(&dst[..60]);
    dst[60..64].copy_from_slice(&crc.to_be_bytes());
}

/// Decodes block 0; `None` when it is not a verified run header.
pub fn decode_header(block: &[u8]) -> Option<RunHeader> {
    let b = block.get(..HEADER_BYTES)?;
    let u32_at = |i: usize| b[i..i + 4].try_into().ok().map(u32::from_be_bytes);
    let u64_at = |i: usize| b[i..i + 8].try_into().ok().map(u64::from_be_bytes);
    if u32_at(0)? != MAGIC || u32_at(4)? != VERSION || u32_at(60)? != crc32c::crc32c(&b[..60]) {
        return None;
    }
    let h = RunHeader {
        count: u64_at(8)?,
        first: u64_at(16)?,
        end: u64_at(24)?,
        min_ts: u64_at(32)? as i64,
        max_ts: u64_at(40)? as i64,
        entry_blocks: u32_at(48)?,
        fence_blocks: u32_at(52)?,
        fences_crc: u32_at(56)?,
    };
    // A header that verifies but does not add up is refused like a torn one.
    let consistent = h.first <= h.end
        && (h.entry_blocks as u64) == h.count.div_ceil(ENTRIES_PER_BLOCK as u64)
        && (h.fence_blocks as usize) == (h.entry_blocks as usize).div_ceil(FENCES_PER_BLOCK);
    consistent.then_some(h)
}

/// Decodes the fence blocks (the bytes right after block 0).
pub fn decode_fences(h: &RunHeader, bytes: &[u8]) -> Result<Vec<u32>, RunError> {
    let len = h.fence_blocks as usize * BLOCK_BYTES as usize;
    let area = bytes.get(..len).ok_or(RunError::Fences)?;
    if crc32c::crc32c(area) != h.fences_crc {
        return Err(RunError::Fences);
    }
    Ok(area
        .chunks_exact(4)
        .take(h.entry_blocks as usize)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Decodes one entry block holding `n` entries; `None` when its CRC fails.
pub fn decode_block(block: &[u8], n: usize) -> Option<Vec<KeyEntry>> {
    let payload = block.get(..BLOCK_PAYLOAD_BYTES)?;
    let crc = u32::from_be_bytes(
        block
            .get(BLOCK_PAYLOAD_BYTES..BLOCK_BYTES as usize)?
            .try_into()
            .ok()?,
    );
    if crc != crc32c::crc32c(payload) {
        return None;
    }
    payload
        .chunks_exact(ENTRY_BYTES)
        .take(n)
        .map(KeyEntry::decode)
        .collect()
}

/// The entry blocks that may hold `hash`, from its fences: the last block starting below
/// it (equal hashes may begin there) through the last block starting at or below it.
pub fn candidate_blocks(fences: &[u32], hash: u32) -> std::ops::Range<usize> {
    let below = fences.partition_point(|f| *f < hash);
    let through = fences.partition_point(|f| *f <= hash);
    below.saturating_sub(1)..through
}

/// A run on disk: its header and fences (kept in memory), read again per lookup.
#[derive(Debug, Clone)]
pub struct Run {
    /// The file.
    pub path: PathBuf,
    /// Its header.
    pub header: RunHeader,
    fences: Vec<u32>,
}

/// The name of the run starting at local offset `first`.
pub fn run_name(first: u64) -> String {
    format!("{first:020}{RUN_SUFFIX}")
}

impl Run {
    /// Writes a run image (from [`encode`]) starting at local offset `first` into `dir`:
    /// temp file, sync, rename, directory sync (the last two on the blocking pool).
    pub async fn write(dir: &Path, img: Vec<u8>, first: u64) -> Result<Run, FileError> {
        let header = decode_header(&img).expect("a run image carries a verified header");
        assert_eq!(header.first, first, "a run is named by its first offset");
        let fences = decode_fences(&header, &img[BLOCK_BYTES as usize..])
            .expect("fences of a run image verify");
        let tmp = dir.join(format!("{first:020}{TMP_SUFFIX}"));
        let path = dir.join(run_name(first));
        let file = crate::store::dma::open(&tmp, crate::store::dma::Mode::Create).await?;
        let io = |op: &'static str, e: glommio::GlommioError<()>| FileError::io(op, &tmp, e);
        let written = async {
            for (i, chunk) in img.chunks(RUN_WRITE_CHUNK_BYTES).enumerate() {
                let mut buf = file.alloc_dma_buffer(chunk.len());
                buf.as_bytes_mut().copy_from_slice(chunk);
                let pos = (i * RUN_WRITE_CHUNK_BYTES) as u64;
                tracked(IoKind::Write, file.write_at(buf, pos))
                    .await
                    .map_err(|e| io("write", e))?;
            }
            tracked(IoKind::Sync, file.fdatasync())
                .await
                .map_err(|e| io("fdatasync", e))
        }
        .await;
        let _ = file.close().await;
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let (from, to, d) = (tmp.clone(), path.clone(), dir.to_owned());
        glommio::executor()
            .spawn_blocking(move || {
                std::fs::rename(&from, &to).map_err(|e| FileError::io("rename", &from, e))?;
                sync_dir(&d)
            })
            .await?;
        Ok(Run {
            path,
            header,
            fences,
        })
    }

    /// Opens a run: reads and verifies its header and fences (not its entry blocks).
    pub async fn load(path: &Path) -> Result<Run, RunError> {
        let file = crate::store::dma::open(path, crate::store::dma::Mode::Read).await?;
        let r = Self::load_open(path, &file).await;
        let _ = file.close().await;
        r
    }

    async fn load_open(path: &Path, file: &glommio::io::DmaFile) -> Result<Run, RunError> {
        let io = |op: &'static str, e: glommio::GlommioError<()>| FileError::io(op, path, e);
        let size = file.file_size().await.map_err(|e| io("stat", e))?;
        if size < BLOCK_BYTES {
            return Err(RunError::Header);
        }
        let head = tracked(IoKind::Read, file.read_at_aligned(0, BLOCK_BYTES as usize))
            .await
            .map_err(|e| io("read", e))?;
        let header = decode_header(&head).ok_or(RunError::Header)?;
        if size < header.file_bytes() {
            return Err(RunError::Length {
                found: size,
                expected: header.file_bytes(),
            });
        }
        let fence_len = header.fence_blocks as usize * BLOCK_BYTES as usize;
        let fences = if fence_len == 0 {
            Vec::new()
        } else {
            let b = tracked(IoKind::Read, file.read_at_aligned(BLOCK_BYTES, fence_len))
                .await
                .map_err(|e| io("read", e))?;
            decode_fences(&header, &b)?
        };
        Ok(Run {
            path: path.to_owned(),
            header,
            fences,
        })
    }

    /// Bytes of memory the run keeps (its fences).
    pub fn memory_bytes(&self) -> usize {
        self.fences.len() * 4
    }

    /// Entries of `hash` stored within `[begin, end]` ms, newest blocks first, at most
    /// [`MAX_LOOKUP_BLOCKS_PER_RUN`] blocks read. Blocks whose CRC fails are skipped and
    /// counted in the second value.
    pub async fn lookup(
        &self,
        hash: u32,
        begin: i64,
        end: i64,
    ) -> Result<(Vec<KeyEntry>, usize), FileError> {
        let h = &self.header;
        if h.count == 0 || h.max_ts < begin || h.min_ts > end {
            return Ok((Vec::new(), 0));
        }
        let mut blocks = candidate_blocks(&self.fences, hash);
        if blocks.is_empty() {
            return Ok((Vec::new(), 0));
        }
        blocks.start = blocks
            .start
            .max(blocks.end.saturating_sub(MAX_LOOKUP_BLOCKS_PER_RUN));
        let file = crate::store::dma::open(&self.path, crate::store::dma::Mode::Read).await?;
        let len = blocks.len() * BLOCK_BYTES as usize;
        let read = tracked(
            IoKind::Read,
            file.read_at_aligned(h.entry_block_pos(blocks.start), len),
        )
        .await;
        let _ = file.close().await;
        let bytes = read.map_err(|e| FileError::io("read", &self.path, e))?;
        if bytes.len() < len {
            return Err(FileError::io(
                "read",
                &self.path,
                format!("short read: {} of {len} bytes", bytes.len()),
            ));
        }
        let (mut out, mut bad) = (Vec::new(), 0);
        for (i, b) in bytes.chunks_exact(BLOCK_BYTES as usize).enumerate() {
            match decode_block(b, h.entries_in(blocks.start + i)) {
                Some(es) => out.extend(es.into_iter().filter(|e| {
                    e.hash == hash && e.store_timestamp >= begin && e.store_timestamp <= end
                })),
                None => bad += 1,
            }
        }
        Ok((out, bad))
    }
}

/// Syncs a directory so a rename or removal in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), FileError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FileError::io("sync dir", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entries(n: usize, hashes: u32) -> Vec<KeyEntry> {
        let mut v: Vec<KeyEntry> = (0..n)
            .map(|i| KeyEntry {
                hash: (i as u32).wrapping_mul(2_654_435_761) % hashes,
                store_timestamp: 1_000 + i as i64,
                physical_offset: i as i64 * 100,
                size: 90,
            })
            .collect();
        v.sort();
        v
    }

    /// Every entry comes back from the blocks its hash's fences name.
    fn all_found(es: &[KeyEntry]) {
        let img = encode(es, 10, 20);
        let h = decode_header(&img).unwrap();
        assert_eq!((h.count, h.first, h.end), (es.len() as u64, 10, 20));
        assert_eq!(img.len() as u64, h.file_bytes());
        let fences = decode_fences(&h, &img[4096..]).unwrap();
        for e in es {
            let blocks = candidate_blocks(&fences, e.hash);
            let found = blocks.clone().any(|b| {
                let pos = h.entry_block_pos(b) as usize;
                decode_block(&img[pos..pos + 4096], h.entries_in(b))
                    .unwrap()
                    .contains(e)
            });
            assert!(found, "{e:?} not in blocks {blocks:?}");
        }
    }

    #[test]
    fn round_trip_small_large_and_empty() {
        all_found(&entries(0, 7));
        all_found(&entries(1, 7));
        all_found(&entries(171, 1_000_000));
        // Many equal hashes spanning blocks, and more fences than one fence block holds.
        all_found(&entries(5_000, 3));
        all_found(&entries(ENTRIES_PER_BLOCK * 1100, u32::MAX));
    }

    #[test]
    fn damaged_runs_are_refused() {
        let es = entries(500, 1_000);
        let img = encode(&es, 0, 4096);
        let mut bad = img.clone();
        bad[20] ^= 1; // header
        assert_eq!(decode_header(&bad), None);
        let mut bad = img.clone();
        bad[4096 + 2] ^= 1; // fences
        let h = decode_header(&bad).unwrap();
        assert_eq!(decode_fences(&h, &bad[4096..]), Err(RunError::Fences));
        let mut bad = img.clone();
        let pos = h.entry_block_pos(1) as usize;
        bad[pos + 5] ^= 1; // one entry block
        assert_eq!(decode_block(&bad[pos..pos + 4096], h.entries_in(1)), None);
        assert!(decode_block(&img[pos..pos + 4096], h.entries_in(1)).is_some());
        assert_eq!(decode_header(&[0u8; 4096]), None);
    }

    proptest! {
        #[test]
        fn any_sorted_entries_are_found(raw in prop::collection::vec((any::<u32>(), 0i64..5_000, 0i64..1 << 40), 0..2_000)) {
            let mut es: Vec<KeyEntry> = raw
                .into_iter()
                .map(|(hash, ts, off)| KeyEntry { hash: hash % 64, store_timestamp: ts, physical_offset: off, size: 1 })
                .collect();
            es.sort();
            all_found(&es);
        }
    }
}
