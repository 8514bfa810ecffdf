//! Small bodies: TopicList, KVTable, DataVersion (spec §5.4, §5.9, §5.10).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A list of topic names (206, 224, 304, 311..313).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TopicList {
    /// Topic names.
    #[serde(default)]
    pub topic_list: Vec<String>,
    /// Address of a broker, only in the system-topic list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
}

/// A string → string table (runtime info, KV namespaces, register response).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KvTable {
    /// The entries; all values are strings.
    #[serde(default)]
    pub table: BTreeMap<String, String>,
}

/// A broker's topic-config version; the nameserver reloads queue data only when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DataVersion {
    /// Change counter.
    #[serde(default)]
    pub counter: i64,
    /// 5.x state version.
    #[serde(default)]
    pub state_version: i64,
    /// Time of the last change, ms.
    #[serde(default)]
    pub timestamp: i64,
}
