//! Store settings (from the broker's RocketMQ keys and coremq's own).

use std::path::PathBuf;
use std::time::Duration;

use super::retention::RetentionPolicy;

/// When an append is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// Once the record is in the shard's write buffer; flushed every interval.
    Async,
    /// Once a write and an fdatasync covering the record completed.
    Sync,
}

/// Settings of one shard's store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// storePathRootDir: the shard lives in `root/shard-<i>/`.
    pub root: PathBuf,
    /// This shard's id.
    pub shard: u32,
    /// mappedFileSizeCommitLog (multiple of 4096).
    pub commitlog_segment_bytes: u64,
    /// mappedFileSizeConsumeQueue (rounded up to a multiple of 20,480).
    pub consume_index_segment_bytes: u64,
    /// flushDiskType.
    pub flush_mode: FlushMode,
    /// flushIntervalCommitLog: ASYNC_FLUSH period.
    pub flush_interval: Duration,
    /// syncFlushTimeout: SYNC_FLUSH wait before FLUSH_DISK_TIMEOUT.
    pub sync_flush_timeout: Duration,
    /// Appended-but-unwritten bytes allowed before appends wait (back-pressure).
    pub max_pending_write_bytes: u64,
    /// Size of one commit-log write chunk.
    pub write_chunk_bytes: usize,
    /// Size of one consume-index write chunk (per queue).
    pub index_chunk_bytes: usize,
    /// Read caches are dropped after this long without appends or reads (`None`: kept).
    pub cache_idle_release: Option<Duration>,
    /// Longest time between checkpoints while anything changed (flushConsumeQueueThoroughInterval).
    pub checkpoint_interval: Duration,
    /// Durable log bytes after which a checkpoint is due before `checkpoint_interval`
    /// (bounds the log replayed after a crash).
    pub checkpoint_after_log_bytes: u64,
    /// Written commit-log bytes kept in memory for reads of recent data.
    pub read_cache_bytes: usize,
    /// deleteWhen / fileReservedTime / diskMaxUsedSpaceRatio; `None` keeps everything.
    pub retention: Option<RetentionPolicy>,
    /// messageIndexEnable: keep the key index (QUERY_MESSAGE).
    pub message_index_enable: bool,
    /// Index entries buffered in memory before a run is written.
    pub message_index_buffer_entries: usize,
}

/// How often retention is evaluated (RocketMQ's cleanResourceInterval).
pub const CLEAN_RESOURCE_INTERVAL_MS: u64 = 10_000;

/// RocketMQ's mappedFileSizeCommitLog default.
pub const DEFAULT_COMMITLOG_SEGMENT_BYTES: u64 = 1 << 30;
/// RocketMQ's mappedFileSizeConsumeQueue default (rounded up by the store).
pub const DEFAULT_CONSUME_INDEX_SEGMENT_BYTES: u64 = 6_000_000;
/// Unwritten bytes per shard before appends wait.
pub const DEFAULT_MAX_PENDING_WRITE_BYTES: u64 = 64 << 20;
/// One commit-log write.
pub const DEFAULT_WRITE_CHUNK_BYTES: usize = 1 << 20;
/// One consume-index write.
pub const DEFAULT_INDEX_CHUNK_BYTES: usize = 16 << 10;
/// Commit-log read cache per shard.
pub const DEFAULT_READ_CACHE_BYTES: usize = 64 << 20;
/// Index read cache per queue.
pub const INDEX_READ_CACHE_BYTES: usize = 32 << 10;
/// Idle time after which a shard drops its read caches, ms.
pub const DEFAULT_CACHE_IDLE_RELEASE_MS: u64 = 5_000;
/// Longest checkpoint period: RocketMQ's flushConsumeQueueThoroughInterval, the most often
/// it syncs the partial pages of every consume queue. A checkpoint writes and syncs the
/// partial index tail of every queue written since the last one: on BenchmarkTest (1,024
/// queues) a 1 s period cost about 930 fdatasyncs and 4.5 MB of rewritten tails per second
/// at 2k msgs/s, 7x the data logged.
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: u64 = 60_000;
/// Durable log bytes past the last checkpoint that make the next one due (at most one a
/// second): the replay after a crash reads about this much per shard, plus what arrives
/// while a checkpoint round runs and one flush interval; the index cost follows the data
/// rate, not the queue count.
pub const DEFAULT_CHECKPOINT_AFTER_LOG_BYTES: u64 = 64 << 20;

impl StoreConfig {
    /// Defaults for shard `shard` under `root`.
    pub fn new(root: PathBuf, shard: u32) -> Self {
        StoreConfig {
            root,
            shard,
            commitlog_segment_bytes: DEFAULT_COMMITLOG_SEGMENT_BYTES,
            consume_index_segment_bytes: DEFAULT_CONSUME_INDEX_SEGMENT_BYTES,
            flush_mode: FlushMode::Async,
            flush_interval: Duration::from_millis(500),
            sync_flush_timeout: Duration::from_millis(5000),
            max_pending_write_bytes: DEFAULT_MAX_PENDING_WRITE_BYTES,
            write_chunk_bytes: DEFAULT_WRITE_CHUNK_BYTES,
            index_chunk_bytes: DEFAULT_INDEX_CHUNK_BYTES,
            checkpoint_interval: Duration::from_millis(DEFAULT_CHECKPOINT_INTERVAL_MS),
            checkpoint_after_log_bytes: DEFAULT_CHECKPOINT_AFTER_LOG_BYTES,
            read_cache_bytes: DEFAULT_READ_CACHE_BYTES,
            cache_idle_release: Some(Duration::from_millis(DEFAULT_CACHE_IDLE_RELEASE_MS)),
            retention: Some(RetentionPolicy::rocketmq_defaults()),
            message_index_enable: true,
            message_index_buffer_entries: super::message_index::DEFAULT_INDEX_BUFFER_ENTRIES,
        }
    }

    /// The shard's directory.
    pub fn shard_dir(&self) -> PathBuf {
        self.root.join(format!("shard-{}", self.shard))
    }

    /// The commit-log directory.
    pub fn commitlog_dir(&self) -> PathBuf {
        self.shard_dir().join("commitlog")
    }

    /// The directory of one queue's index.
    pub fn queue_dir(&self, topic: &str, queue_id: i32) -> PathBuf {
        self.shard_dir()
            .join("consumequeue")
            .join(topic)
            .join(queue_id.to_string())
    }
}
