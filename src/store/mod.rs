//! The per-shard storage engine (in progress): see `record` for the stored record layout.

pub mod record;
pub mod segmented_file;
