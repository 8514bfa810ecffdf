//! Headers of the requests a broker serves (spec §2.3–§2.11).

use crate::command_header;
use crate::protocol::ext_fields::{CommandHeader, ExtFields, HeaderError};

command_header! {
    /// SEND_MESSAGE (10) request, long field names.
    pub struct SendMessageRequestHeader {
        pub producer_group: String = "producerGroup",
        pub topic: String = "topic",
        pub default_topic: String = "defaultTopic",
        pub default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        pub queue_id: i32 = "queueId",
        pub sys_flag: i32 = "sysFlag",
        pub born_timestamp: i64 = "bornTimestamp",
        pub flag: i32 = "flag",
        pub properties: Option<String> = "properties",
        pub reconsume_times: Option<i32> = "reconsumeTimes",
        pub unit_mode: Option<bool> = "unitMode",
        pub max_reconsume_times: Option<i32> = "maxReconsumeTimes",
        pub batch: Option<bool> = "batch",
        pub bname: Option<String> = "bname",
    }
}

command_header! {
    /// SEND_MESSAGE_V2 (310) / SEND_BATCH_MESSAGE (320) request: the same fields as single
    /// letters, to keep a hot request small.
    pub struct SendMessageRequestHeaderV2 {
        pub a: String = "a",
        pub b: String = "b",
        pub c: String = "c",
        pub d: i32 = "d",
        pub e: i32 = "e",
        pub f: i32 = "f",
        pub g: i64 = "g",
        pub h: i32 = "h",
        pub i: Option<String> = "i",
        pub j: Option<i32> = "j",
        pub k: Option<bool> = "k",
        pub l: Option<i32> = "l",
        pub m: Option<bool> = "m",
        pub n: Option<String> = "n",
    }
}

impl SendMessageRequestHeader {
    /// Reads the header of a 10, 310 or 320 request in whichever naming it uses.
    pub fn from_request(code: i32, ext: &ExtFields) -> Result<Self, HeaderError> {
        // Some clients send 310 with long names; the letter `a` decides. 10 and 324 (the
        // reply) are the long-name codes.
        if code == 10 || code == 324 || ext.get("a").is_none() {
            return Self::from_ext(ext);
        }
        let v = SendMessageRequestHeaderV2::from_ext(ext)?;
        Ok(SendMessageRequestHeader {
            producer_group: v.a,
            topic: v.b,
            default_topic: v.c,
            default_topic_queue_nums: v.d,
            queue_id: v.e,
            sys_flag: v.f,
            born_timestamp: v.g,
            flag: v.h,
            properties: v.i,
            reconsume_times: v.j,
            unit_mode: v.k,
            max_reconsume_times: v.l,
            batch: v.m,
            bname: v.n,
        })
    }
}

command_header! {
    /// PUSH_REPLY_MESSAGE_TO_CLIENT (326): a reply as the broker pushes it to the requester
    /// (the reply's send header, plus where and when it was stored). Hosts are `ip:port`.
    pub struct ReplyMessageRequestHeader {
        pub producer_group: String = "producerGroup",
        pub topic: String = "topic",
        pub default_topic: String = "defaultTopic",
        pub default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        pub queue_id: i32 = "queueId",
        pub sys_flag: i32 = "sysFlag",
        pub born_timestamp: i64 = "bornTimestamp",
        pub flag: i32 = "flag",
        pub properties: Option<String> = "properties",
        pub reconsume_times: Option<i32> = "reconsumeTimes",
        pub unit_mode: Option<bool> = "unitMode",
        pub born_host: String = "bornHost",
        pub store_host: String = "storeHost",
        pub store_timestamp: i64 = "storeTimestamp",
    }
}

command_header! {
    /// SEND_MESSAGE response.
    pub struct SendMessageResponseHeader {
        pub msg_id: String = "msgId",
        pub queue_id: i32 = "queueId",
        pub queue_offset: i64 = "queueOffset",
        pub msg_region: Option<String> = "MSG_REGION",
        pub trace_on: Option<String> = "TRACE_ON",
    }
}

command_header! {
    /// PULL_MESSAGE (11) request.
    pub struct PullMessageRequestHeader {
        pub consumer_group: String = "consumerGroup",
        pub topic: String = "topic",
        pub queue_id: i32 = "queueId",
        pub queue_offset: i64 = "queueOffset",
        pub max_msg_nums: i32 = "maxMsgNums",
        pub sys_flag: i32 = "sysFlag",
        pub commit_offset: i64 = "commitOffset",
        pub suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        pub subscription: Option<String> = "subscription",
        pub sub_version: i64 = "subVersion",
        pub expression_type: Option<String> = "expressionType",
        pub max_msg_bytes: Option<i32> = "maxMsgBytes",
    }
}

/// PULL sysFlag: piggy-backed offset commit.
pub const PULL_FLAG_COMMIT_OFFSET: i32 = 0x1;
/// PULL sysFlag: the broker may park the request.
pub const PULL_FLAG_SUSPEND: i32 = 0x2;
/// PULL sysFlag: the request carries its subscription expression.
pub const PULL_FLAG_SUBSCRIPTION: i32 = 0x4;

command_header! {
    /// PULL_MESSAGE response (all four on every pull result code, trap 5).
    pub struct PullMessageResponseHeader {
        pub suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        pub next_begin_offset: i64 = "nextBeginOffset",
        pub min_offset: i64 = "minOffset",
        pub max_offset: i64 = "maxOffset",
    }
}

command_header! {
    /// QUERY_CONSUMER_OFFSET (14) request.
    pub struct QueryConsumerOffsetRequestHeader {
        pub consumer_group: String = "consumerGroup",
        pub topic: String = "topic",
        pub queue_id: i32 = "queueId",
        pub set_zero_if_not_found: Option<bool> = "setZeroIfNotFound",
    }
}

command_header! {
    /// UPDATE_CONSUMER_OFFSET (15) request.
    pub struct UpdateConsumerOffsetRequestHeader {
        pub consumer_group: String = "consumerGroup",
        pub topic: String = "topic",
        pub queue_id: i32 = "queueId",
        pub commit_offset: i64 = "commitOffset",
    }
}

command_header! {
    /// GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32) request.
    pub struct QueueRequestHeader {
        pub topic: String = "topic",
        pub queue_id: i32 = "queueId",
    }
}

command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP (29) request.
    pub struct SearchOffsetRequestHeader {
        pub topic: String = "topic",
        pub queue_id: i32 = "queueId",
        pub timestamp: i64 = "timestamp",
    }
}

command_header! {
    /// Response carrying one offset (14, 29, 30, 31).
    pub struct OffsetResponseHeader {
        pub offset: i64 = "offset",
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME response.
    pub struct TimestampResponseHeader {
        pub timestamp: i64 = "timestamp",
    }
}

command_header! {
    /// UNREGISTER_CLIENT (35) request.
    pub struct UnregisterClientRequestHeader {
        pub client_id: String = "clientID",
        pub producer_group: Option<String> = "producerGroup",
        pub consumer_group: Option<String> = "consumerGroup",
    }
}

command_header! {
    /// Requests naming one consumer group (38, 40, 203).
    pub struct ConsumerGroupHeader {
        pub consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// GET_CONSUMER_RUNNING_INFO (307): admin → broker, relayed broker → the client.
    pub struct ConsumerRunningInfoRequestHeader {
        pub consumer_group: String = "consumerGroup",
        pub client_id: String = "clientId",
        pub jstack_enable: Option<bool> = "jstackEnable",
    }
}

command_header! {
    /// CONSUME_MESSAGE_DIRECTLY (309): admin → broker (which adds the record and its name),
    /// relayed to the client.
    pub struct ConsumeMessageDirectlyHeader {
        pub consumer_group: String = "consumerGroup",
        pub client_id: String = "clientId",
        pub msg_id: String = "msgId",
        pub broker_name: Option<String> = "brokerName",
    }
}

command_header! {
    /// INVOKE_BROKER_TO_RESET_OFFSET (222): admin → broker; the broker's
    /// RESET_CONSUMER_CLIENT_OFFSET (220) to each consumer carries the same fields.
    pub struct ResetOffsetRequestHeader {
        pub topic: String = "topic",
        pub group: String = "group",
        pub timestamp: i64 = "timestamp",
        pub is_force: Option<bool> = "isForce",
    }
}

command_header! {
    /// GET_PRODUCER_CONNECTION_LIST (204) request.
    pub struct ProducerGroupHeader {
        pub producer_group: String = "producerGroup",
    }
}

command_header! {
    /// CONSUMER_SEND_MSG_BACK (36) request.
    pub struct ConsumerSendMsgBackRequestHeader {
        pub offset: i64 = "offset",
        pub group: String = "group",
        pub delay_level: i32 = "delayLevel",
        pub origin_msg_id: Option<String> = "originMsgId",
        pub origin_topic: Option<String> = "originTopic",
        pub unit_mode: Option<bool> = "unitMode",
        pub max_reconsume_times: Option<i32> = "maxReconsumeTimes",
    }
}

command_header! {
    /// UPDATE_AND_CREATE_TOPIC (17) request.
    pub struct CreateTopicRequestHeader {
        pub topic: String = "topic",
        pub default_topic: Option<String> = "defaultTopic",
        pub read_queue_nums: i32 = "readQueueNums",
        pub write_queue_nums: i32 = "writeQueueNums",
        pub perm: i32 = "perm",
        pub topic_filter_type: Option<String> = "topicFilterType",
        pub topic_sys_flag: Option<i32> = "topicSysFlag",
        pub order: Option<bool> = "order",
        pub attributes: Option<String> = "attributes",
    }
}

command_header! {
    /// Requests naming one topic (215, 202, 300).
    pub struct TopicHeader {
        pub topic: String = "topic",
    }
}

command_header! {
    /// GET_CONSUME_STATS (208) request.
    pub struct GetConsumeStatsRequestHeader {
        pub consumer_group: String = "consumerGroup",
        pub topic: Option<String> = "topic",
    }
}

command_header! {
    /// GET_BROKER_CONSUME_STATS (317) request.
    pub struct GetBrokerConsumeStatsRequestHeader {
        pub is_order: Option<bool> = "isOrder",
    }
}

command_header! {
    /// VIEW_MESSAGE_BY_ID (33) request.
    pub struct ViewMessageRequestHeader {
        pub offset: i64 = "offset",
    }
}

command_header! {
    /// QUERY_MESSAGE (12) request: records of a topic by key, within a store-time range.
    pub struct QueryMessageRequestHeader {
        pub topic: String = "topic",
        pub key: String = "key",
        pub max_num: i32 = "maxNum",
        pub begin_timestamp: i64 = "beginTimestamp",
        pub end_timestamp: i64 = "endTimestamp",
    }
}

command_header! {
    /// QUERY_MESSAGE (12) response (sent with SUCCESS and QUERY_NOT_FOUND alike).
    pub struct QueryMessageResponseHeader {
        pub index_last_update_timestamp: i64 = "indexLastUpdateTimestamp",
        pub index_last_update_phyoffset: i64 = "indexLastUpdatePhyoffset",
    }
}

/// Ext field of a QUERY_MESSAGE whose key is a unique key (RocketMQ's MixAll.UNIQUE_MSG_QUERY_FLAG).
pub const UNIQUE_MSG_QUERY_FLAG: &str = "_UNIQUE_KEY_QUERY";

command_header! {
    /// DELETE_SUBSCRIPTIONGROUP (207) request.
    pub struct DeleteSubscriptionGroupRequestHeader {
        pub group_name: String = "groupName",
        pub remove_offset: Option<bool> = "removeOffset",
    }
}

command_header! {
    /// END_TRANSACTION (37) request, oneway: the producer's decision on a half message.
    pub struct EndTransactionRequestHeader {
        pub producer_group: String = "producerGroup",
        pub tran_state_table_offset: i64 = "tranStateTableOffset",
        pub commit_log_offset: i64 = "commitLogOffset",
        pub commit_or_rollback: i32 = "commitOrRollback",
        pub from_transaction_check: Option<bool> = "fromTransactionCheck",
        pub msg_id: String = "msgId",
        pub transaction_id: Option<String> = "transactionId",
    }
}

command_header! {
    /// CHECK_TRANSACTION_STATE (39), broker to producer, oneway: "what became of this
    /// half message?" (the record is the body). `topic` is the message's real topic.
    pub struct CheckTransactionStateRequestHeader {
        pub topic: Option<String> = "topic",
        pub tran_state_table_offset: i64 = "tranStateTableOffset",
        pub commit_log_offset: i64 = "commitLogOffset",
        pub msg_id: Option<String> = "msgId",
        pub transaction_id: Option<String> = "transactionId",
        pub offset_msg_id: Option<String> = "offsetMsgId",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_header_reads_both_namings() {
        let mut v2 = ExtFields::new();
        for (k, val) in [
            ("a", "pg"),
            ("b", "T"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "-1"),
            ("f", "0"),
            ("g", "17"),
            ("h", "0"),
            ("i", "TAGS\u{1}a"),
            ("m", "true"),
        ] {
            v2.insert(k, val);
        }
        let h = SendMessageRequestHeader::from_request(310, &v2).unwrap();
        assert_eq!(
            (h.topic.as_str(), h.queue_id, h.batch),
            ("T", -1, Some(true))
        );
        let long = h.to_ext();
        assert_eq!(
            SendMessageRequestHeader::from_request(10, &long).unwrap(),
            h
        );
        assert_eq!(
            SendMessageRequestHeader::from_request(310, &long).unwrap(),
            h
        );
        let mut bad = v2.clone();
        bad.insert("e", "x");
        let err = SendMessageRequestHeader::from_request(310, &bad).unwrap_err();
        assert!(err.to_string().contains('e'), "{err}");
    }
}
