//! JSON bodies in the emission profile of spec §5.1: standard JSON, quoted integer keys,
//! 5.x field supersets, enums by Java name; MessageQueue-keyed maps in fastjson's object-key
//! form (see [`fastjson`]).

pub mod batch;
pub mod client;
pub mod cluster_info;
pub mod consumer_calls;
pub mod fastjson;
pub mod ha;
pub mod route;
pub mod small;
pub mod stats;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn lenient_reader_takes_java_shaped_bodies() {
        // A Java nameserver's route for old clients: unquoted integer keys.
        let route = br#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"b","cluster":"c","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;
        let r: TopicRouteData = from_json_lenient(route).unwrap();
        assert_eq!(r.broker_datas[0].broker_addrs[&1], "10.0.0.2:10911");
        // A broker's TopicStatsTable: MessageQueue objects as map keys.
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Stats {
            offset_table: BTreeMap<String, serde_json::Value>,
        }
        let stats = br#"{"offsetTable":{{"brokerName":"b","queueId":3,"topic":"t"}:{"maxOffset":9,"minOffset":0,"lastUpdateTimestamp":0}},"topicPutTps":0.0}"#;
        let s: Stats = from_json_lenient(stats).unwrap();
        let (key, val) = s.offset_table.iter().next().unwrap();
        let mq: serde_json::Value = serde_json::from_str(key).unwrap();
        assert_eq!(
            (mq["queueId"].as_i64(), val["maxOffset"].as_i64()),
            (Some(3), Some(9))
        );
        // Standard JSON takes the fast path; garbage is an error, not a panic.
        assert!(from_json_lenient::<TopicRouteData>(&to_json(&r)).is_ok());
        assert!(from_json_lenient::<TopicRouteData>(b"{broken").is_err());
        assert!(from_json_lenient::<TopicRouteData>(&[0xff, 0xfe]).is_err());
    }
}
