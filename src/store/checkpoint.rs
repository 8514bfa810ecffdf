//! A shard's checkpoint: the commit-log offset below which every record's consume-index
//! entry is durable, and whether the shard was closed cleanly.
//!
//! Recovery trusts index entries for records below the checkpoint and rebuilds the rest
//! from the log. The checkpoint is one 4 KiB block rewritten in place; its content sits in
//! the first sector and carries a CRC32C, so a torn write is detected (and recovery then
//! scans the whole log, slower but correct).

use std::path::Path;

use glommio::io::DmaFile;

use super::io_inflight::{tracked, IoKind};
use super::segmented_file::{FileError, BLOCK_BYTES};

const MAGIC: u32 = 0x434D_5143; // "CMQC"
const VERSION: u32 = 1;
const PAYLOAD_BYTES: usize = 4 + 4 + 8 + 1;

/// What the checkpoint records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Commit-log local offset below which index entries are durable.
    pub log_offset: u64,
    /// True when written by a clean shutdown.
    pub clean: bool,
}

/// Encodes a checkpoint block.
fn encode(cp: &Checkpoint, block: &mut [u8]) {
    block.fill(0);
    block[0..4].copy_from_slice(&MAGIC.to_be_bytes());
    block[4..8].copy_from_slice(&VERSION.to_be_bytes());
    block[8..16].copy_from_slice(&cp.log_offset.to_be_bytes());
    block[16] = u8::from(cp.clean);
    let crc = crc32c::crc32c(&block[..PAYLOAD_BYTES]);
    block[PAYLOAD_BYTES..PAYLOAD_BYTES + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Decodes a checkpoint block; `None` when it is blank, torn or from another format.
pub fn decode(block: &[u8]) -> Option<Checkpoint> {
    if block.len() < PAYLOAD_BYTES + 4 {
        return None;
    }
    let crc = u32::from_be_bytes(block[PAYLOAD_BYTES..PAYLOAD_BYTES + 4].try_into().ok()?);
    let magic = u32::from_be_bytes(block[0..4].try_into().ok()?);
    let version = u32::from_be_bytes(block[4..8].try_into().ok()?);
    if magic != MAGIC || version != VERSION || crc != crc32c::crc32c(&block[..PAYLOAD_BYTES]) {
        return None;
    }
    Some(Checkpoint {
        log_offset: u64::from_be_bytes(block[8..16].try_into().ok()?),
        clean: block[16] == 1,
    })
}

/// The checkpoint file of a shard, kept open.
pub struct CheckpointFile {
    file: DmaFile,
    path: String,
    /// The log offset of the last checkpoint written or read (0 if none).
    log_offset: std::cell::Cell<u64>,
}

impl CheckpointFile {
    /// Opens (creating) the file and reads what it holds.
    pub async fn open(path: &Path) -> Result<(Self, Option<Checkpoint>), FileError> {
        let io = |op, e: glommio::GlommioError<()>| FileError::io(op, path, e);
        let file = super::dma::open(path, super::dma::Mode::Create).await?;
        let size = file.file_size().await.map_err(|e| io("stat", e))?;
        let cp = if size >= BLOCK_BYTES {
            let r = file
                .read_at_aligned(0, BLOCK_BYTES as usize)
                .await
                .map_err(|e| io("read", e))?;
            decode(&r)
        } else {
            None
        };
        Ok((
            CheckpointFile {
                file,
                path: path.display().to_string(),
                log_offset: std::cell::Cell::new(cp.as_ref().map_or(0, |c| c.log_offset)),
            },
            cp,
        ))
    }

    /// Writes and syncs a checkpoint.
    pub async fn write(&self, cp: &Checkpoint) -> Result<(), FileError> {
        let io = |op, e: glommio::GlommioError<()>| FileError::io(op, &self.path, e);
        let mut buf = self.file.alloc_dma_buffer(BLOCK_BYTES as usize);
        encode(cp, buf.as_bytes_mut());
        tracked(IoKind::Write, self.file.write_at(buf, 0))
            .await
            .map_err(|e| io("write", e))?;
        tracked(IoKind::Sync, self.file.fdatasync())
            .await
            .map_err(|e| io("fdatasync", e))?;
        self.log_offset.set(cp.log_offset);
        Ok(())
    }

    /// The log offset of the last checkpoint on disk.
    pub fn log_offset(&self) -> u64 {
        self.log_offset.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_torn_blocks() {
        let cp = Checkpoint {
            log_offset: 123_456,
            clean: true,
        };
        let mut block = vec![0u8; 4096];
        encode(&cp, &mut block);
        assert_eq!(decode(&block), Some(cp));
        block[9] ^= 1;
        assert_eq!(decode(&block), None);
        assert_eq!(decode(&[0u8; 4096]), None);
    }
}
