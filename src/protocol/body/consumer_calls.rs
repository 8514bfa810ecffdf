//! Bodies of the admin calls a broker relays to one consumer: ConsumerRunningInfo, the
//! answer to GET_CONSUMER_RUNNING_INFO (307) — properties, subscriptions, and per owned
//! queue a ProcessQueueInfo, `mqTable` keyed by MessageQueue objects (fastjson's form, which
//! Java's mqadmin reads) and read back leniently — and ConsumeMessageDirectlyResult, the
//! answer to CONSUME_MESSAGE_DIRECTLY (309).

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

/// ResetOffsetBody: the offsets a group's queues are reset to (INVOKE_BROKER_TO_RESET_OFFSET
/// response, RESET_CONSUMER_CLIENT_OFFSET body), fastjson-keyed.
pub fn reset_offset_body(offsets: &BTreeMap<MessageQueue, i64>) -> Vec<u8> {
    format!(
        "{{\"offsetTable\":{}}}",
        write_object_keyed_map(offsets.iter())
    )
    .into_bytes()
}

/// How a directly consumed message fared (RocketMQ's CMResult).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ConsumeDirectlyOutcome {
    /// Consumed.
    #[default]
    #[serde(rename = "CR_SUCCESS")]
    Success,
    /// The listener asked for a later retry.
    #[serde(rename = "CR_LATER")]
    Later,
    /// Transactional listeners only.
    #[serde(rename = "CR_ROLLBACK")]
    Rollback,
    /// Transactional listeners only.
    #[serde(rename = "CR_COMMIT")]
    Commit,
    /// The listener failed.
    #[serde(rename = "CR_THROW_EXCEPTION")]
    ThrowException,
    /// The listener returned nothing.
    #[serde(rename = "CR_RETURN_NULL")]
    ReturnNull,
}

impl ConsumeDirectlyOutcome {
    /// The Java name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Success => "CR_SUCCESS",
            Self::Later => "CR_LATER",
            Self::Rollback => "CR_ROLLBACK",
            Self::Commit => "CR_COMMIT",
            Self::ThrowException => "CR_THROW_EXCEPTION",
            Self::ReturnNull => "CR_RETURN_NULL",
        }
    }
}

/// CONSUME_MESSAGE_DIRECTLY response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeMessageDirectlyResult {
    /// The consumer is orderly.
    pub order: bool,
    /// Offsets are committed automatically (always, for push consumers).
    pub auto_commit: bool,
    /// Outcome.
    pub consume_result: ConsumeDirectlyOutcome,
    /// Why, when not consumed.
    pub remark: Option<String>,
    /// Time in the listener, ms.
    pub spent_time_mills: i64,
}

impl std::fmt::Display for ConsumeMessageDirectlyResult {
    /// Java's `toString()`, what mqadmin prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ConsumeMessageDirectlyResult [order={}, autoCommit={}, consumeResult={}, remark={}, spentTimeMills={}]",
            self.order,
            self.auto_commit,
            self.consume_result.name(),
            self.remark.as_deref().unwrap_or("null"),
            self.spent_time_mills
        )
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

    #[test]
    fn consume_directly_result_reads_javas_json_and_prints_its_tostring() {
        let java =
            r#"{"autoCommit":true,"consumeResult":"CR_LATER","order":false,"spentTimeMills":3}"#;
        let r: ConsumeMessageDirectlyResult = serde_json::from_str(java).unwrap();
        assert_eq!(r.consume_result, ConsumeDirectlyOutcome::Later);
        assert_eq!(
            r.to_string(),
            "ConsumeMessageDirectlyResult [order=false, autoCommit=true, consumeResult=CR_LATER, remark=null, spentTimeMills=3]"
        );
        let back: ConsumeMessageDirectlyResult =
            serde_json::from_slice(&super::super::to_json(&r)).unwrap();
        assert_eq!(back, r);
    }
}
