//! The nameserver's namespace → key → value store (e.g. ORDER_TOPIC_CONFIG), persisted as
//! RocketMQ's kvConfig.json (`{"configTable":{ns:{k:v}}}`).
//!
//! Writes are rare (admin commands), so each change rewrites the small file through a
//! temporary file, fsync and a rename (then an fsync of the directory): a crash leaves the
//! old or the new file, never half of one. A change takes effect only once persisted. The
//! blocking file calls run on the nameserver's only executor; at admin rates that is
//! cheaper than a thread hop. Sizes are capped so requests cannot grow the file unbounded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Longest namespace, key or value accepted.
pub const MAX_KV_VALUE_BYTES: usize = 64 * 1024;
/// Most entries kept in all namespaces together.
pub const MAX_KV_ENTRIES: usize = 100_000;

/// The namespace whose entries fill routes' orderTopicConf.
pub const ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KvFile {
    #[serde(default)]
    config_table: BTreeMap<String, BTreeMap<String, String>>,
}

/// Persisted KV config.
#[derive(Debug)]
pub struct KvConfig {
    path: PathBuf,
    table: BTreeMap<String, BTreeMap<String, String>>,
}

/// Why the KV file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KvConfigError {
    /// I/O error on the file.
    #[error("kv config {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error text.
        reason: String,
    },
    /// A namespace, key or value over [`MAX_KV_VALUE_BYTES`], or the table full.
    #[error("kv config limit: {0}")]
    Limit(String),
    /// The file exists but does not parse; it is left untouched.
    #[error("kv config {path} is not valid JSON ({reason}); fix or move it away")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Parser message.
        reason: String,
    },
}

impl KvConfig {
    /// Loads `path`, or starts empty when it does not exist.
    pub fn load(path: &Path) -> Result<Self, KvConfigError> {
        let table = match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice::<KvFile>(&bytes)
                    .map_err(|e| KvConfigError::Corrupt {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    })?
                    .config_table
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(KvConfigError::Io {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })
            }
        };
        Ok(KvConfig {
            path: path.to_owned(),
            table,
        })
    }

    /// The value of `namespace`/`key`.
    pub fn get(&self, namespace: &str, key: &str) -> Option<&str> {
        self.table.get(namespace)?.get(key).map(String::as_str)
    }

    /// Every entry of a namespace, `None` when it has none.
    pub fn namespace(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.table.get(namespace).filter(|m| !m.is_empty())
    }

    /// Sets and persists a value; on failure nothing changes.
    pub fn put(&mut self, namespace: &str, key: &str, value: &str) -> Result<(), KvConfigError> {
        for (what, v) in [("namespace", namespace), ("key", key), ("value", value)] {
            if v.len() > MAX_KV_VALUE_BYTES {
                return Err(KvConfigError::Limit(format!(
                    "{what} of {} bytes exceeds {MAX_KV_VALUE_BYTES}",
                    v.len()
                )));
            }
        }
        let entries: usize = self.table.values().map(BTreeMap::len).sum();
        let exists = self.get(namespace, key).is_some();
        if !exists && entries >= MAX_KV_ENTRIES {
            return Err(KvConfigError::Limit(format!(
                "{MAX_KV_ENTRIES} entries already stored"
            )));
        }
        let mut next = self.table.clone();
        next.entry(namespace.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        self.persist(&next)?;
        self.table = next;
        Ok(())
    }

    /// Deletes and persists; deleting an absent key is not an error; on failure nothing
    /// changes.
    pub fn delete(&mut self, namespace: &str, key: &str) -> Result<(), KvConfigError> {
        let mut next = self.table.clone();
        if let Some(ns) = next.get_mut(namespace) {
            ns.remove(key);
            if ns.is_empty() {
                next.remove(namespace);
            }
        }
        self.persist(&next)?;
        self.table = next;
        Ok(())
    }

    fn persist(
        &self,
        table: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<(), KvConfigError> {
        let io = |e: std::io::Error| KvConfigError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let body = serde_json::to_vec_pretty(&KvFile {
            config_table: table.clone(),
        })
        .unwrap_or_default();
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, body).map_err(io)?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_across_reloads_and_refuses_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/kvConfig.json");
        let mut kv = KvConfig::load(&p).unwrap();
        kv.put(ORDER_TOPIC_CONFIG, "T", "a:4;b:4").unwrap();
        kv.put("ns", "k", "v").unwrap();
        kv.delete("ns", "k").unwrap();
        let kv = KvConfig::load(&p).unwrap();
        assert_eq!(kv.get(ORDER_TOPIC_CONFIG, "T"), Some("a:4;b:4"));
        assert!(kv.namespace("ns").is_none());

        let mut kv = KvConfig::load(&p).unwrap();
        let big = "x".repeat(MAX_KV_VALUE_BYTES + 1);
        assert!(matches!(
            kv.put("ns", "k", &big),
            Err(KvConfigError::Limit(_))
        ));
        // A failed persist changes nothing in memory.
        let mut broken = KvConfig::load(&p).unwrap();
        broken.path = dir.path().join("no/such\0dir/kv.json");
        std::fs::write(dir.path().join("no"), b"a file, not a directory").unwrap();
        assert!(broken.put("ns", "k2", "v").is_err());
        assert_eq!(broken.get("ns", "k2"), None);
        drop(kv);

        std::fs::write(&p, b"{not json").unwrap();
        let err = KvConfig::load(&p).unwrap_err().to_string();
        assert!(err.contains("kvConfig.json"), "{err}");
    }
}
