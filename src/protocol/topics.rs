//! Topic names the protocol fixes, so clients, admin and broker agree on them.

/// Suffix of a cluster's reply topic (RocketMQ's `REPLY_TOPIC_POSTFIX`).
pub const REPLY_TOPIC_SUFFIX: &str = "REPLY_TOPIC";

/// Where transactional half messages wait for their producer's decision.
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
/// One record per decided half message (its queue offset in the body).
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
/// Half messages dropped after `transactionCheckMax` unanswered check-backs.
pub const TRANS_CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// The system group whose offsets record how far the half and op queues are decided.
pub const TRANS_SYSTEM_GROUP: &str = "CID_RMQ_SYS_TRANS";
/// Tag of an op record that decides a half message.
pub const TRANS_OP_DONE_TAG: &str = "d";

/// The template topic of auto-creation.
pub const AUTO_CREATE_TOPIC: &str = "TBW102";
/// Topic of delayed messages, one queue per delay level.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// Where timer messages (RocketMQ 5, any delivery time) wait, one queue per shard.
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
/// Prefix of a group's retry topic.
pub const RETRY_PREFIX: &str = "%RETRY%";
/// Prefix of a group's dead-letter topic.
pub const DLQ_PREFIX: &str = "%DLQ%";
/// Longest topic name (one length byte on the wire).
pub const MAX_TOPIC_CHARS: usize = 127;
/// Where the broker tells consumers an offset was moved (RocketMQ's OFFSET_MOVED_EVENT).
pub const OFFSET_MOVED_EVENT: &str = "OFFSET_MOVED_EVENT";
/// The topic of RocketMQ's self test.
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";

/// Topics producers may not send to.
const NOT_ALLOWED_SEND: [&str; 5] = [
    SCHEDULE_TOPIC,
    TIMER_TOPIC,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANS_CHECK_MAX_TIME_TOPIC,
];

/// Why a topic name is refused, or `None` when valid.
pub fn topic_name_problem(topic: &str) -> Option<String> {
    if topic.is_empty() {
        return Some("the specified topic is blank".into());
    }
    if topic.len() > MAX_TOPIC_CHARS {
        return Some(format!(
            "the specified topic is longer than topic max length {MAX_TOPIC_CHARS}"
        ));
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
    {
        return Some(format!(
            "the specified topic[{topic}] contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
        ));
    }
    None
}

/// True for topics producers may not write to directly.
pub fn is_not_allowed_send(topic: &str) -> bool {
    NOT_ALLOWED_SEND.contains(&topic)
}

/// `%RETRY%<group>`.
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_PREFIX}{group}")
}

/// `%DLQ%<group>`.
pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_PREFIX}{group}")
}

/// What a topic is for, as consoles sort them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    /// An application's topic.
    Normal,
    /// A group's `%RETRY%` topic.
    Retry,
    /// A group's `%DLQ%` topic.
    Dlq,
    /// The brokers' own: templates, schedule, transactions, replies, and the topics named
    /// after clusters and broker groups.
    System,
}

/// The kind of `topic`; `cluster_names` holds the clusters' and broker groups' names
/// (brokers register a topic of each).
pub fn topic_kind(topic: &str, cluster_names: &[&str]) -> TopicKind {
    if topic.starts_with(RETRY_PREFIX) {
        return TopicKind::Retry;
    }
    if topic.starts_with(DLQ_PREFIX) {
        return TopicKind::Dlq;
    }
    let fixed = [
        AUTO_CREATE_TOPIC,
        SCHEDULE_TOPIC,
        TRANS_HALF_TOPIC,
        TRANS_OP_HALF_TOPIC,
        TRANS_CHECK_MAX_TIME_TOPIC,
        OFFSET_MOVED_EVENT,
        SELF_TEST_TOPIC,
    ];
    if fixed.contains(&topic)
        || topic.starts_with("rmq_sys_")
        || topic.ends_with(&format!("_{REPLY_TOPIC_SUFFIX}"))
        || cluster_names.contains(&topic)
    {
        TopicKind::System
    } else {
        TopicKind::Normal
    }
}

/// The topic request-reply replies are stored on: `<cluster>_REPLY_TOPIC`, one queue,
/// created by every broker at start (as RocketMQ 4.6+ does).
pub fn reply_topic(cluster: &str) -> String {
    format!("{cluster}_{REPLY_TOPIC_SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::{topic_kind, TopicKind};

    #[test]
    fn topics_sort_into_kinds() {
        let names = ["DefaultCluster", "broker-a"];
        assert_eq!(topic_kind("TopicTest", &names), TopicKind::Normal);
        assert_eq!(topic_kind("%RETRY%g", &names), TopicKind::Retry);
        assert_eq!(topic_kind("%DLQ%g", &names), TopicKind::Dlq);
        for t in [
            "TBW102",
            "broker-a",
            "DefaultCluster",
            "DefaultCluster_REPLY_TOPIC",
        ] {
            assert_eq!(topic_kind(t, &names), TopicKind::System, "{t}");
        }
    }

    #[test]
    fn reply_topic_is_named_after_the_cluster() {
        assert_eq!(
            super::reply_topic("DefaultCluster"),
            "DefaultCluster_REPLY_TOPIC"
        );
    }
}
