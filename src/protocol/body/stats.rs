//! Admin statistics bodies keyed by MessageQueue: TopicStatsTable (202), ConsumeStats (208),
//! ConsumeStatsList (317) — spec §5.5/§5.6. Written with fastjson object keys (Java mqadmin
//! can read nothing else, §5.1 rule 3), read back leniently.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::client::MessageQueue;
use super::fastjson::write_object_keyed_map;

/// One queue's offsets in a TopicStatsTable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    /// First readable offset.
    pub min_offset: i64,
    /// Next offset to be written.
    pub max_offset: i64,
    /// Store time of the last message (0 when empty).
    pub last_update_timestamp: i64,
}

/// GET_TOPIC_STATS_INFO response.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicStatsTable {
    /// Per queue.
    pub offset_table: BTreeMap<MessageQueue, TopicOffset>,
    /// Put TPS of the topic.
    pub topic_put_tps: f64,
}

impl TopicStatsTable {
    /// fastjson-shaped JSON.
    pub fn to_json(&self) -> Vec<u8> {
        format!(
            "{{\"offsetTable\":{},\"topicPutTps\":{:?}}}",
            write_object_keyed_map(self.offset_table.iter()),
            self.topic_put_tps
        )
        .into_bytes()
    }
}

/// One queue's progress in a ConsumeStats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct OffsetWrapper {
    /// Next offset to be written.
    pub broker_offset: i64,
    /// Committed offset (0 when none).
    pub consumer_offset: i64,
    /// Store time of the last consumed message.
    pub last_timestamp: i64,
    /// 5.x: offset pulled up to.
    pub pull_offset: i64,
}

/// GET_CONSUME_STATS response (one element of ConsumeStatsList too).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStats {
    /// Per queue.
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
    /// Consume TPS.
    pub consume_tps: f64,
}

impl ConsumeStats {
    /// fastjson-shaped JSON.
    pub fn to_json_string(&self) -> String {
        format!(
            "{{\"consumeTps\":{:?},\"offsetTable\":{}}}",
            self.consume_tps,
            write_object_keyed_map(self.offset_table.iter())
        )
    }

    /// Σ (broker offset − consumer offset).
    pub fn total_diff(&self) -> i64 {
        self.offset_table
            .values()
            .map(|o| (o.broker_offset - o.consumer_offset).max(0))
            .sum()
    }
}

/// GET_BROKER_CONSUME_STATS response.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStatsList {
    /// The answering broker.
    pub broker_addr: String,
    /// Group → its stats per topic.
    pub consume_stats_list: Vec<(String, Vec<ConsumeStats>)>,
    /// Σ diff over everything.
    pub total_diff: i64,
}

impl ConsumeStatsList {
    /// fastjson-shaped JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let list: Vec<String> = self
            .consume_stats_list
            .iter()
            .map(|(g, stats)| {
                let inner: Vec<String> = stats.iter().map(ConsumeStats::to_json_string).collect();
                format!(
                    "{{{}:[{}]}}",
                    serde_json::to_string(g).unwrap_or_default(),
                    inner.join(",")
                )
            })
            .collect();
        format!(
            "{{\"brokerAddr\":{},\"consumeStatsList\":[{}],\"totalDiff\":{},\"totalInflightDiff\":0}}",
            serde_json::to_string(&self.broker_addr).unwrap_or_default(),
            list.join(","),
            self.total_diff
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn mq(q: i32) -> MessageQueue {
        MessageQueue {
            broker_name: "b".into(),
            queue_id: q,
            topic: "t".into(),
        }
    }

    #[test]
    fn stats_bodies_use_object_keys_and_read_back() {
        let mut t = TopicStatsTable::default();
        t.offset_table.insert(
            mq(1),
            TopicOffset {
                min_offset: 0,
                max_offset: 9,
                last_update_timestamp: 5,
            },
        );
        let text = String::from_utf8(t.to_json()).unwrap();
        assert!(
            text.starts_with(r#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"t"}:{"#),
            "{text}"
        );
        let v: Value = super::super::from_json_lenient(text.as_bytes()).unwrap();
        assert_eq!(v["topicPutTps"].as_f64(), Some(0.0));

        let mut c = ConsumeStats::default();
        c.offset_table.insert(
            mq(0),
            OffsetWrapper {
                broker_offset: 10,
                consumer_offset: 4,
                ..Default::default()
            },
        );
        let l = ConsumeStatsList {
            broker_addr: "127.0.0.1:10911".into(),
            consume_stats_list: vec![("g1".into(), vec![c.clone()])],
            total_diff: c.total_diff(),
        };
        let v: Value = super::super::from_json_lenient(&l.to_json()).unwrap();
        assert_eq!(v["totalDiff"].as_i64(), Some(6));
        assert_eq!(v["totalInflightDiff"].as_i64(), Some(0));
        let stats = &v["consumeStatsList"][0]["g1"][0]["offsetTable"];
        let (_, w) = stats.as_object().unwrap().iter().next().unwrap();
        assert_eq!(w["pullOffset"].as_i64(), Some(0));
    }
}
