//! Errors of segmented files: an I/O call, with whether the device was full.

use std::path::Path;

/// Why a segmented file operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// An I/O call failed.
    #[error("{op} {path}: {reason}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// File or directory.
        path: String,
        /// OS error text.
        reason: String,
        /// True for ENOSPC/EDQUOT: retrying after space is freed may succeed.
        no_space: bool,
    },
}

impl FileError {
    /// The one way to build an I/O error: it records whether the device was full
    /// (ENOSPC/EDQUOT), which decides whether retrying after freeing space can succeed.
    pub(crate) fn io(
        op: &'static str,
        path: impl AsRef<std::ffi::OsStr>,
        e: impl std::fmt::Display,
    ) -> Self {
        let reason = e.to_string();
        let no_space = reason.contains("No space left")
            || reason.contains("os error 28")
            || reason.contains("quota");
        FileError::Io {
            op,
            path: Path::new(path.as_ref()).display().to_string(),
            reason,
            no_space,
        }
    }

    /// True when the device is full.
    pub fn is_no_space(&self) -> bool {
        matches!(self, FileError::Io { no_space: true, .. })
    }
}
