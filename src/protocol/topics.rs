//! Topic names the protocol fixes, so clients, admin and broker agree on them.

/// Suffix of a cluster's reply topic (RocketMQ's `REPLY_TOPIC_POSTFIX`).
pub const REPLY_TOPIC_SUFFIX: &str = "REPLY_TOPIC";

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
