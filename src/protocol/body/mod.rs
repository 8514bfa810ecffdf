//! JSON bodies in the emission profile of spec §5.1: standard JSON, quoted integer keys,
//! 5.x field supersets, enums by Java name; MessageQueue-keyed maps in fastjson's object-key
//! form (see [`fastjson`]).

pub mod cluster_info;
pub mod fastjson;
pub mod route;
pub mod small;
pub mod topic_config;

pub use cluster_info::ClusterInfo;
pub use route::{BrokerData, QueueData, TopicRouteData, MASTER_ID};
pub use small::{DataVersion, KvTable, TopicList};
pub use topic_config::{RegisterBrokerBody, TopicConfig, TopicConfigSerializeWrapper};

/// Serializes a body to JSON bytes (plain data structs cannot fail to serialize).
pub fn to_json<T: serde::Serialize>(body: &T) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_default()
}

/// Parses a body that may carry fastjson's non-standard keys.
pub fn from_json_lenient<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(_) => {
            let v = fastjson::parse_lenient(text)?;
            serde_json::from_value(v).map_err(|e| e.to_string())
        }
    }
}
