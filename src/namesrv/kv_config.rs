//! The nameserver's namespace → key → value store (e.g. ORDER_TOPIC_CONFIG), persisted as
//! RocketMQ's kvConfig.json (`{"configTable":{ns:{k:v}}}`).
//!
//! Writes are rare (admin commands), so each change rewrites the small file through a
//! temporary file and a rename: a crash leaves the old or the new file, never half of one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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

    /// Sets and persists a value.
    pub fn put(&mut self, namespace: &str, key: &str, value: &str) -> Result<(), KvConfigError> {
        self.table
            .entry(namespace.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        self.persist()
    }

    /// Deletes and persists; deleting an absent key is not an error.
    pub fn delete(&mut self, namespace: &str, key: &str) -> Result<(), KvConfigError> {
        if let Some(ns) = self.table.get_mut(namespace) {
            ns.remove(key);
            if ns.is_empty() {
                self.table.remove(namespace);
            }
        }
        self.persist()
    }

    fn persist(&self) -> Result<(), KvConfigError> {
        let io = |e: std::io::Error| KvConfigError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let body = serde_json::to_vec_pretty(&KvFile {
            config_table: self.table.clone(),
        })
        .unwrap_or_default();
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, body).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
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

        std::fs::write(&p, b"{not json").unwrap();
        let err = KvConfig::load(&p).unwrap_err().to_string();
        assert!(err.contains("kvConfig.json"), "{err}");
    }
}
