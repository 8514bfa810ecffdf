//! The per-shard storage engine: one commit log and one consume index per queue, owned by
//! one core, written with direct I/O, recovered after any stop.
//!
//! Layout under `storePathRootDir`:
//!
//! ```text
//! shard-<i>/commitlog/<20-digit local start offset>      segments of mappedFileSizeCommitLog
//! shard-<i>/consumequeue/<topic>/<queueId>/<20 digits>   20-byte entries, 6,000,640 B segments
//! shard-<i>/checkpoint                                   one 4 KiB block (see checkpoint.rs)
//! shard-<i>/index/<20 digits>.run                        key index runs (see message_index)
//! ```
//!
//! Records: RocketMQ's V1 message layout plus a CRC32C trailer ([`record`]). Offsets: the
//! physical offset clients see is `shard << 52 | local offset` ([`commitlog`]).
//!
//! Alignment: every write is a whole number of 4 KiB blocks at a 4 KiB-aligned file
//! position (direct I/O). The last, partly filled block of a file stays in memory and is
//! rewritten in place by the next write ([`segmented_file`]); the rewrite repeats the bytes
//! already there, so a torn write cannot damage them on devices with atomic sector writes.
//!
//! Durability: appends are memory copies; [`flusher`] writes them in groups and
//! fdatasyncs per round (SYNC_FLUSH) or per interval (ASYNC_FLUSH). [`recovery`] rebuilds
//! indexes from the log past the checkpoint and cuts a torn tail.
//!
//! Reads ([`read`]) serve memory first, then one direct read. Replication ([`replica`])
//! reads raw log ranges on a master and appends them, verified and indexed, on a slave.
//!
//! Budget (per shard, one NVMe): a 128 B message is a ~220 B record, so 1 M appends/s is
//! ~220 MB/s of sequential 1 MiB writes, far below a device's GB/s; the cost is CPU: ~1 µs
//! per append for encoding, CRC32C and two copies. SYNC_FLUSH adds one fdatasync per group
//! (~0.2 ms here), so 64 concurrent writers need groups of ≥ 13 to keep 64 k syncs/s out of
//! the picture.

pub mod checkpoint;
pub mod commitlog;
pub mod config;
pub mod consume_index;
pub mod dma;
pub mod error;
mod flusher;
pub mod idle_release;
pub mod io_inflight;
pub mod message_index;
pub mod read;
pub mod record;
pub mod recovery;
pub mod replica;
pub mod retention;
pub mod root;
pub mod segmented_file;
pub mod shard_store;

pub use config::{FlushMode, StoreConfig};
pub use error::StoreError;
pub use record::NewMessage;
pub use retention::{DiskUsage, RetentionPolicy};
pub use shard_store::{
    AppendResult, GetResult, GetStatus, ReadLimits, RetentionOutcome, ShardStore, StoreStats,
};

#[cfg(test)]
pub(crate) mod tests;
