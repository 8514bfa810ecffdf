//! The per-shard storage engine (in progress).

pub mod checkpoint;
pub mod commitlog;
pub mod consume_index;
pub mod record;
pub mod segmented_file;
