//! Store errors, typed so the broker can answer each with the right response code.

use super::record::MessageError;
use super::segmented_file::FileError;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The message cannot be stored as given (MESSAGE_ILLEGAL).
    #[error("message rejected: {0}")]
    Message(#[from] MessageError),
    /// Writes are failing (disk full, I/O error); appends are refused until a write
    /// succeeds again. Stored data stays readable (SERVICE_NOT_AVAILABLE; the remark says
    /// "disk full" when the device is out of space, so an operator knows what to free).
    #[error("store not writable{full}: {0}", full = if .0.is_no_space() { " (disk full)" } else { "" })]
    NotWritable(FileError),
    /// SYNC_FLUSH: the record is stored but no fdatasync covered it within the timeout
    /// (FLUSH_DISK_TIMEOUT: a successful send with a non-OK status).
    #[error("flush to disk did not complete within {0} ms")]
    FlushTimeout(u64),
    /// Reading or opening failed.
    #[error(transparent)]
    Io(#[from] FileError),
    /// Replicated bytes that cannot continue this log (a slave stops following).
    #[error("replicated bytes rejected: {0}")]
    Replica(String),
    /// The store is closing.
    #[error("store is shut down")]
    Closed,
}
