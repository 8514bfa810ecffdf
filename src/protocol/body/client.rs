//! Bodies of the client-facing broker requests: HeartbeatData (34, parsed leniently),
//! consumer lists (38), queue locks (41/42), connections (203/204), GroupList (300),
//! SubscriptionGroupConfig (200/201) — spec §5.7–§5.9.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::record::tags_hash_code;

/// A queue as clients name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    /// Broker group name.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// Topic.
    pub topic: String,
}

/// A consumer's subscription to one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    /// Class filter (unsupported, echoed).
    pub class_filter_mode: bool,
    /// Tag hash codes, recomputed from `tags_set`.
    pub code_set: BTreeSet<i64>,
    /// `TAG` or `SQL92`.
    pub expression_type: String,
    /// The expression as written (`*`, `TagA || TagB`).
    pub sub_string: String,
    /// Version (client time of the subscription).
    pub sub_version: i64,
    /// Tags; empty means every tag.
    pub tags_set: BTreeSet<String>,
    /// Topic.
    pub topic: String,
}

impl SubscriptionData {
    /// A TAG subscription parsed from an expression (`*`, `a || b`).
    pub fn from_expression(topic: &str, expr: &str, sub_version: i64) -> Self {
        let mut s = SubscriptionData {
            topic: topic.to_owned(),
            sub_string: expr.to_owned(),
            sub_version,
            expression_type: "TAG".into(),
            ..Default::default()
        };
        let e = expr.trim();
        if !(e.is_empty() || e == "*") {
            for tag in e.split("||").map(str::trim).filter(|t| !t.is_empty()) {
                s.tags_set.insert(tag.to_owned());
            }
        }
        s.code_set = s.tags_set.iter().map(|t| tags_hash_code(t)).collect();
        s
    }

    /// A SQL92 subscription: the expression is kept as written and no tag is filtered.
    pub fn sql92(topic: &str, expr: &str, sub_version: i64) -> Self {
        SubscriptionData {
            topic: topic.to_owned(),
            sub_string: expr.to_owned(),
            sub_version,
            expression_type: crate::filter::SQL92.into(),
            ..Default::default()
        }
    }

    /// A subscription of `expression_type` (TAG when empty): tags parsed, or SQL92 kept.
    pub fn of_type(expression_type: &str, topic: &str, expr: &str, sub_version: i64) -> Self {
        if expression_type == crate::filter::SQL92 {
            return Self::sql92(topic, expr, sub_version);
        }
        let mut s = Self::from_expression(topic, expr, sub_version);
        if !expression_type.is_empty() {
            s.expression_type = expression_type.to_owned();
        }
        s
    }

    /// True for a SQL92 property filter.
    pub fn is_sql92(&self) -> bool {
        self.expression_type == crate::filter::SQL92
    }

    /// True when the subscription takes every tag.
    pub fn takes_all(&self) -> bool {
        self.tags_set.is_empty()
    }
}

/// A consumer group entry of a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerData {
    /// Group name.
    pub group_name: String,
    /// `CONSUME_PASSIVELY` (push), `CONSUME_ACTIVELY` (pull), `CONSUME_POP`.
    pub consume_type: String,
    /// `CLUSTERING` or `BROADCASTING`.
    pub message_model: String,
    /// Where a fresh group starts.
    pub consume_from_where: String,
    /// Subscriptions.
    pub subscriptions: Vec<SubscriptionData>,
}

/// HEART_BEAT body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeartbeatData {
    /// `ip@instance`.
    pub client_id: String,
    /// Consumer groups of the client.
    pub consumers: Vec<ConsumerData>,
    /// Producer groups of the client.
    pub producers: Vec<String>,
}

const CONSUME_TYPES: [&str; 3] = ["CONSUME_ACTIVELY", "CONSUME_PASSIVELY", "CONSUME_POP"];
const MESSAGE_MODELS: [&str; 2] = ["BROADCASTING", "CLUSTERING"];
const CONSUME_FROM: [&str; 6] = [
    "CONSUME_FROM_LAST_OFFSET",
    "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
    "CONSUME_FROM_MIN_OFFSET",
    "CONSUME_FROM_MAX_OFFSET",
    "CONSUME_FROM_FIRST_OFFSET",
    "CONSUME_FROM_TIMESTAMP",
];

/// An enum field given by name, or by ordinal (the C++ client), or absent.
fn enum_name(v: Option<&Value>, names: &[&str], default: &str) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|i| names.get(i as usize))
            .map_or(default, |s| s)
            .to_string(),
        _ => default.to_string(),
    }
}

fn int_field(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

impl HeartbeatData {
    /// Parses a heartbeat body from any known client (spec §5.7, trap 16): enums by name
    /// or ordinal, missing fields defaulted, tag codes recomputed from the tags.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let v: Value = super::from_json_lenient(body)?;
        let obj = v.as_object().ok_or("heartbeat body is not an object")?;
        let client_id = obj
            .get("clientID")
            .and_then(Value::as_str)
            .ok_or("heartbeat body has no clientID")?
            .to_owned();
        let empty = Vec::new();
        let list = |k: &str| {
            obj.get(k)
                .and_then(Value::as_array)
                .unwrap_or(&empty)
                .clone()
        };
        let mut consumers = Vec::new();
        for c in list("consumerDataSet") {
            let Some(group) = c.get("groupName").and_then(Value::as_str) else {
                return Err("consumerDataSet entry without groupName".into());
            };
            let mut subscriptions = Vec::new();
            for s in c
                .get("subscriptionDataSet")
                .and_then(Value::as_array)
                .unwrap_or(&empty)
            {
                let topic = s.get("topic").and_then(Value::as_str).unwrap_or_default();
                let expr = s.get("subString").and_then(Value::as_str).unwrap_or("*");
                let kind = s
                    .get("expressionType")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let mut sd =
                    SubscriptionData::of_type(kind, topic, expr, int_field(s.get("subVersion")));
                if let Some(tags) = s
                    .get("tagsSet")
                    .and_then(Value::as_array)
                    .filter(|_| !sd.is_sql92())
                {
                    let set: BTreeSet<String> = tags
                        .iter()
                        .filter_map(Value::as_str)
                        .filter(|t| !t.is_empty() && *t != "*")
                        .map(str::to_owned)
                        .collect();
                    if !set.is_empty() {
                        sd.code_set = set.iter().map(|t| tags_hash_code(t)).collect();
                        sd.tags_set = set;
                    }
                }
                subscriptions.push(sd);
            }
            consumers.push(ConsumerData {
                group_name: group.to_owned(),
                consume_type: enum_name(c.get("consumeType"), &CONSUME_TYPES, "CONSUME_PASSIVELY"),
                message_model: enum_name(c.get("messageModel"), &MESSAGE_MODELS, "CLUSTERING"),
                consume_from_where: enum_name(
                    c.get("consumeFromWhere"),
                    &CONSUME_FROM,
                    "CONSUME_FROM_LAST_OFFSET",
                ),
                subscriptions,
            });
        }
        let producers = list("producerDataSet")
            .iter()
            .filter_map(|p| p.get("groupName").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        Ok(HeartbeatData {
            client_id,
            consumers,
            producers,
        })
    }
}

/// GET_CONSUMER_LIST_BY_GROUP response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerListBody {
    /// Client ids of the group's live consumers.
    pub consumer_id_list: Vec<String>,
}

/// LOCK_BATCH_MQ / UNLOCK_BATCH_MQ request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    /// Group.
    pub consumer_group: String,
    /// Requesting client.
    pub client_id: String,
    /// Queues.
    pub mq_set: BTreeSet<MessageQueue>,
    /// 5.x: do not forward to other brokers.
    pub only_this_broker: bool,
}

/// LOCK_BATCH_MQ response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchResponseBody {
    /// Queues now held by the caller.
    #[serde(rename = "lockOKMQSet")]
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

/// One client connection, as admin tools list them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Connection {
    /// Client `ip:port`.
    pub client_addr: String,
    /// Client id.
    pub client_id: String,
    /// Language name.
    pub language: String,
    /// Client version ordinal.
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerConnection {
    /// Live connections.
    pub connection_set: Vec<Connection>,
    /// Where a fresh group starts.
    pub consume_from_where: String,
    /// Push or pull.
    pub consume_type: String,
    /// Clustering or broadcasting.
    pub message_model: String,
    /// Topic → subscription.
    pub subscription_table: BTreeMap<String, SubscriptionData>,
}

/// GET_PRODUCER_CONNECTION_LIST response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerConnection {
    /// Live connections.
    pub connection_set: Vec<Connection>,
}

/// QUERY_TOPIC_CONSUME_BY_WHO response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupList {
    /// Groups.
    pub group_list: BTreeSet<String>,
}

/// A consumer group's broker-side settings (200/201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfig {
    /// Group.
    pub group_name: String,
    /// May consume.
    pub consume_enable: bool,
    /// Fresh group starts at the min offset.
    pub consume_from_min_enable: bool,
    /// Broadcasting allowed.
    pub consume_broadcast_enable: bool,
    /// Queues of `%RETRY%<group>`.
    pub retry_queue_nums: i32,
    /// Deliveries before the dead-letter queue.
    pub retry_max_times: i32,
    /// Broker to read from.
    pub broker_id: i64,
    /// Broker to read from when consumption is slow.
    pub which_broker_when_consume_slowly: i64,
    /// Send NOTIFY_CONSUMER_IDS_CHANGED.
    pub notify_consumer_ids_changed_enable: bool,
    /// RocketMQ 5: the group consumes FIFO (gRPC receives hold a queue while a delivery
    /// is in flight). Written only when set, so 4.x tools see the 4.x shape.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub consume_message_orderly: bool,
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        SubscriptionGroupConfig {
            group_name: String::new(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            retry_queue_nums: 1,
            retry_max_times: 16,
            broker_id: 0,
            which_broker_when_consume_slowly: 1,
            notify_consumer_ids_changed_enable: true,
            consume_message_orderly: false,
        }
    }
}

/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupWrapper {
    /// Group → config.
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
    /// Version of this table.
    pub data_version: super::DataVersion,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_of_every_client_parse() {
        // Java / Rust shape.
        let j = br#"{"clientID":"10.0.0.9@1#2","consumerDataSet":[{"groupName":"g1","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","unitMode":false,"subscriptionDataSet":[{"classFilterMode":false,"topic":"T","subString":"TagA || TagB","tagsSet":["TagA","TagB"],"codeSet":[1,2],"subVersion":17,"expressionType":"TAG"}]}],"producerDataSet":[{"groupName":"p1"}],"heartbeatFingerprint":0,"withoutSub":false}"#;
        let h = HeartbeatData::parse(j).unwrap();
        assert_eq!(h.client_id, "10.0.0.9@1#2");
        let s = &h.consumers[0].subscriptions[0];
        assert_eq!(
            s.code_set,
            [tags_hash_code("TagA"), tags_hash_code("TagB")].into()
        );
        assert_eq!(
            h.consumers[0].consume_from_where,
            "CONSUME_FROM_FIRST_OFFSET"
        );
        assert_eq!(h.producers, vec!["p1".to_string()]);
        // C++ shape: ordinals, string subVersion, no tag sets, trailing newline.
        let c = b"{\"clientID\":\"c\",\"consumerDataSet\":[{\"groupName\":\"g\",\"consumeType\":1,\"messageModel\":1,\"consumeFromWhere\":0,\"subscriptionDataSet\":[{\"topic\":\"T\",\"subString\":\"a||b\",\"subVersion\":\"5\"}]}]}\n";
        let h = HeartbeatData::parse(c).unwrap();
        let g = &h.consumers[0];
        assert_eq!(
            (g.consume_type.as_str(), g.message_model.as_str()),
            ("CONSUME_PASSIVELY", "CLUSTERING")
        );
        assert_eq!(g.subscriptions[0].sub_version, 5);
        assert_eq!(g.subscriptions[0].tags_set.len(), 2);
        assert!(HeartbeatData::parse(b"{}").is_err());
        assert!(HeartbeatData::parse(b"[1").is_err());
    }

    #[test]
    fn star_takes_all() {
        assert!(SubscriptionData::from_expression("T", "*", 0).takes_all());
        assert!(!SubscriptionData::from_expression("T", "a", 0).takes_all());
    }
}
