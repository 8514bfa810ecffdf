//! The store root shared by a broker's shards: a lock against a second broker, the shard
//! count the store was created with, and RocketMQ's `abort` marker.
//!
//! Queues are assigned to shards by `hash(topic) + queueId mod shards`, so a store written
//! with N shards cannot be read with M ≠ N: queues would be looked for on the wrong shard.
//! The count is recorded at creation and checked at every open.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const META_FILE: &str = "store.json";
const LOCK_FILE: &str = "lock";
const ABORT_FILE: &str = "abort";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    format_version: u32,
    shard_count: u32,
}

/// Why the store root cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// Another process holds the lock.
    #[error("store {0} is in use by another coremq broker (lock file held); stop it or use another storePathRootDir")]
    Locked(PathBuf),
    /// The shard count differs from the one the store was created with.
    #[error("store {path} was created with {found} shards but this broker is configured for {wanted}; set shardCount={found} (or the matching CPU list) to use it, or start with an empty storePathRootDir (moving data between shard counts is not supported)")]
    ShardCount {
        /// Store root.
        path: PathBuf,
        /// Recorded count.
        found: u32,
        /// Configured count.
        wanted: u32,
    },
    /// The meta file is unreadable or from another format.
    #[error("store metadata {path}: {reason}")]
    Meta {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Filesystem error.
    #[error("store root {path}: {reason}")]
    Io {
        /// Path.
        path: PathBuf,
        /// OS error text.
        reason: String,
    },
}

/// An open, locked store root.
pub struct StoreRoot {
    path: PathBuf,
    _lock: File,
    /// True when `abort` was present at open: the last stop was not clean.
    pub crashed: bool,
}

impl StoreRoot {
    /// Opens (creating) the root for `shards` shards, taking the lock.
    pub fn open(path: &Path, shards: u32) -> Result<Self, RootError> {
        let io = |p: &Path, e: std::io::Error| RootError::Io {
            path: p.to_owned(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(path).map_err(|e| io(path, e))?;
        let lock_path = path.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io(&lock_path, e))?;
        // SAFETY: flock on a descriptor we own; non-blocking.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(RootError::Locked(path.to_owned()));
        }
        let meta_path = path.join(META_FILE);
        match std::fs::read(&meta_path) {
            Ok(bytes) => {
                let meta: Meta = serde_json::from_slice(&bytes).map_err(|e| RootError::Meta {
                    path: meta_path.clone(),
                    reason: e.to_string(),
                })?;
                if meta.format_version != FORMAT_VERSION {
                    return Err(RootError::Meta {
                        path: meta_path,
                        reason: format!(
                            "format version {} (this coremq reads {FORMAT_VERSION})",
                            meta.format_version
                        ),
                    });
                }
                if meta.shard_count != shards {
                    return Err(RootError::ShardCount {
                        path: path.to_owned(),
                        found: meta.shard_count,
                        wanted: shards,
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let meta = Meta {
                    format_version: FORMAT_VERSION,
                    shard_count: shards,
                };
                let tmp = path.join("store.json.tmp");
                std::fs::write(&tmp, serde_json::to_vec_pretty(&meta).unwrap_or_default())
                    .and_then(|()| File::open(&tmp)?.sync_all())
                    .and_then(|()| std::fs::rename(&tmp, &meta_path))
                    .map_err(|e| io(&meta_path, e))?;
            }
            Err(e) => return Err(io(&meta_path, e)),
        }
        let abort = path.join(ABORT_FILE);
        let crashed = abort.exists();
        File::create(&abort).map_err(|e| io(&abort, e))?;
        Ok(StoreRoot {
            path: path.to_owned(),
            _lock: lock,
            crashed,
        })
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Marks a clean shutdown (after every shard closed cleanly).
    pub fn close_clean(self) -> Result<(), RootError> {
        let abort = self.path.join(ABORT_FILE);
        std::fs::remove_file(&abort).map_err(|e| RootError::Io {
            path: abort,
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_shard_count_and_abort_marker() {
        let dir = tempfile::tempdir().unwrap();
        let root = StoreRoot::open(dir.path(), 2).unwrap();
        assert!(!root.crashed);
        assert!(matches!(
            StoreRoot::open(dir.path(), 2),
            Err(RootError::Locked(_))
        ));
        drop(root); // not closed cleanly: abort stays
        let root = StoreRoot::open(dir.path(), 2).unwrap();
        assert!(root.crashed);
        root.close_clean().unwrap();
        let err = StoreRoot::open(dir.path(), 4).err().unwrap();
        assert!(matches!(
            err,
            RootError::ShardCount {
                found: 2,
                wanted: 4,
                ..
            }
        ));
        let text = err.to_string();
        assert!(
            text.contains("created with 2 shards") && text.contains("shardCount=2"),
            "{text}"
        );
        let root = StoreRoot::open(dir.path(), 2).unwrap();
        assert!(!root.crashed);
    }
}
