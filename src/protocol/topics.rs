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

/// The topic request-reply replies are stored on: `<cluster>_REPLY_TOPIC`, one queue,
/// created by every broker at start (as RocketMQ 4.6+ does).
pub fn reply_topic(cluster: &str) -> String {
    format!("{cluster}_{REPLY_TOPIC_SUFFIX}")
}
#[cfg(test)]
mod tests {
    #[test]
    fn reply_topic_is_named_after_the_cluster() {
        assert_eq!(
            super::reply_topic("DefaultCluster"),
            "DefaultCluster_REPLY_TOPIC"
        );
    }
}
