//! ConsumerRunningInfo, a consumer's answer to GET_CONSUMER_RUNNING_INFO (307): its
//! properties, subscriptions, and per owned queue a ProcessQueueInfo. `mqTable` is keyed by
//! MessageQueue objects (fastjson's form, which Java's mqadmin reads) and read back leniently.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::client::{MessageQueue, SubscriptionData};
use super::fastjson::write_object_keyed_map;

/// The state of one queue a consumer owns (RocketMQ's ProcessQueueInfo).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ProcessQueueInfo {
    /// Offset the consumer will commit next.
    pub commit_offset: i64,
    /// Lowest offset pulled and not yet consumed.
    pub cached_msg_min_offset: i64,
    /// Highest offset pulled and not yet consumed.
    pub cached_msg_max_offset: i64,
    /// Messages pulled and not yet consumed.
    pub cached_msg_count: i32,
    /// Their size, MiB.
    #[serde(rename = "cachedMsgSizeInMiB")]
    pub cached_msg_size_in_mib: i32,
    /// Transactional messages (unused, kept for the shape).
    pub transaction_msg_min_offset: i64,
    /// Transactional messages (unused).
    pub transaction_msg_max_offset: i64,
    /// Transactional messages (unused).
    pub transaction_msg_count: i32,
    /// Orderly consumers: the broker lock is held.
    pub locked: bool,
    /// Orderly consumers: unlock attempts.
    pub try_unlock_times: i64,
    /// Orderly consumers: when the lock was last taken, ms.
    pub last_lock_timestamp: i64,
    /// The queue was given up (Java's spelling).
    pub droped: bool,
    /// Last pull, ms.
    pub last_pull_timestamp: i64,
    /// Last consumption, ms.
    pub last_consume_timestamp: i64,
}

/// Per-topic consumption figures (RocketMQ's ConsumeStatus).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ConsumeStatus {
    /// Mean pull round trip, ms.
    #[serde(rename = "pullRT")]
    pub pull_rt: f64,
    /// Pulled messages per second.
    #[serde(rename = "pullTPS")]
    pub pull_tps: f64,
    /// Mean time in the listener, ms.
    #[serde(rename = "consumeRT")]
    pub consume_rt: f64,
    /// Messages consumed successfully per second.
    #[serde(rename = "consumeOKTPS")]
    pub consume_ok_tps: f64,
    /// Failed consumptions per second.
    #[serde(rename = "consumeFailedTPS")]
    pub consume_failed_tps: f64,
    /// Failed consumptions in the last hour.
    #[serde(rename = "consumeFailedMsgs")]
    pub consume_failed_msgs: i64,
}

/// GET_CONSUMER_RUNNING_INFO response body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumerRunningInfo {
    /// `PROP_*` keys as Java clients send them (consume type, orderly, start time, ...).
    pub properties: BTreeMap<String, String>,
    /// Subscriptions, the retry topic's included.
    pub subscription_set: Vec<SubscriptionData>,
    /// Owned queues.
    pub mq_table: BTreeMap<MessageQueue, ProcessQueueInfo>,
    /// Per topic.
    pub status_table: BTreeMap<String, ConsumeStatus>,
}

impl ConsumerRunningInfo {
    /// fastjson-shaped JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Plain maps and structs: serializing into a String cannot fail.
        format!(
            "{{\"jstack\":\"\",\"mqTable\":{},\"properties\":{},\"statusTable\":{},\"subscriptionSet\":{}}}",
            write_object_keyed_map(self.mq_table.iter()),
            serde_json::to_string(&self.properties).unwrap_or_default(),
            serde_json::to_string(&self.status_table).unwrap_or_default(),
            serde_json::to_string(&self.subscription_set).unwrap_or_default(),
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn mq_table_uses_object_keys_and_reads_back() {
        let mut info = ConsumerRunningInfo::default();
        info.properties
            .insert("PROP_CONSUME_TYPE".into(), "CONSUME_PASSIVELY".into());
        info.subscription_set
            .push(SubscriptionData::from_expression("T", "TagA", 7));
        let mq = MessageQueue {
            broker_name: "broker-a".into(),
            queue_id: 3,
            topic: "T".into(),
        };
        info.mq_table.insert(
            mq.clone(),
            ProcessQueueInfo {
                commit_offset: 42,
                cached_msg_count: 2,
                ..Default::default()
            },
        );
        info.status_table
            .insert("T".into(), ConsumeStatus::default());
        let text = String::from_utf8(info.to_json()).unwrap();
        assert!(
            text.contains(r#""mqTable":{{"brokerName":"broker-a","queueId":3,"topic":"T"}:{"#),
            "{text}"
        );
        let v: Value = super::super::from_json_lenient(text.as_bytes()).unwrap();
        assert_eq!(v["properties"]["PROP_CONSUME_TYPE"], "CONSUME_PASSIVELY");
        assert_eq!(v["subscriptionSet"][0]["subString"], "TagA");
        assert_eq!(v["statusTable"]["T"]["consumeOKTPS"].as_f64(), Some(0.0));
        let (key, pq) = v["mqTable"].as_object().unwrap().iter().next().unwrap();
        let back: MessageQueue = serde_json::from_str(key).unwrap();
        assert_eq!(back, mq);
        let pq: ProcessQueueInfo = serde_json::from_value(pq.clone()).unwrap();
        assert_eq!((pq.commit_offset, pq.cached_msg_count), (42, 2));
        assert!(text.contains("\"cachedMsgSizeInMiB\":0"), "{text}");
    }
}
