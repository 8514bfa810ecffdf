//! Lookups shared by handlers, with RocketMQ's auto-creation rules: topics created on first
//! send from the TBW102 template (spec §2.3 step 2, §7.7), `%RETRY%`/`%DLQ%` topics created
//! on demand, subscription groups created on first use when `autoCreateSubscriptionGroup`.

use std::cell::Cell;

use crate::broker::metadata::{MetaChange, DLQ_PREFIX, RETRY_PREFIX};
use crate::broker::shard::Shard;
use crate::protocol::body::client::SubscriptionGroupConfig;
use crate::protocol::body::TopicConfig;
use crate::protocol::codes::perm;

/// Finds `topic`, creating it when RocketMQ would: from a template with the INHERIT bit, or
/// as a retry/dead-letter topic. `None` when it does not exist and may not be created.
pub async fn topic_for_send(
    shard: &Shard,
    topic: &str,
    template: &str,
    wanted_queues: i32,
) -> Result<Option<TopicConfig>, String> {
    if let Some(t) = shard.meta.borrow().topics.get(topic) {
        return Ok(Some(t.clone()));
    }
    let created = if topic.starts_with(RETRY_PREFIX) || topic.starts_with(DLQ_PREFIX) {
        TopicConfig::new(topic, 1)
    } else {
        let tpl = shard.meta.borrow().topics.get(template).cloned();
        match tpl {
            Some(tpl) if tpl.perm & perm::INHERIT != 0 => TopicConfig {
                perm: tpl.perm & !perm::INHERIT,
                ..TopicConfig::new(topic, wanted_queues.clamp(1, tpl.write_queue_nums.max(1)))
            },
            _ => return Ok(None),
        }
    };
    tracing::info!(
        topic,
        queues = created.write_queue_nums,
        "auto-creating topic"
    );
    create_if_absent(shard, created).await.map(Some)
}

/// Creates a topic unless it exists (a concurrent creation wins); the topic as stored.
pub async fn create_if_absent(shard: &Shard, t: TopicConfig) -> Result<TopicConfig, String> {
    let name = t.topic_name.clone();
    if let Some(existing) = shard.meta.borrow().topics.get(&name) {
        return Ok(existing.clone());
    }
    shard
        .change_meta(MetaChange::CreateTopic(t.clone()))
        .await?;
    Ok(shard.meta.borrow().topics.get(&name).cloned().unwrap_or(t))
}

/// The group's config, created with defaults when allowed; `None` when unknown and
/// auto-creation is off.
pub async fn group(shard: &Shard, name: &str) -> Result<Option<SubscriptionGroupConfig>, String> {
    if let Some(g) = shard.meta.borrow().groups.get(name) {
        return Ok(Some(g.clone()));
    }
    if !shard.cfg().auto_create_subscription_group {
        return Ok(None);
    }
    let g = SubscriptionGroupConfig {
        group_name: name.to_owned(),
        ..Default::default()
    };
    shard
        .change_meta(MetaChange::CreateGroup(g.clone()))
        .await?;
    Ok(shard.meta.borrow().groups.get(name).cloned().or(Some(g)))
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
            | 1,
    );
}

/// A queue id in `0..n` (xorshift: spreads "any queue" sends; not for security).
pub fn random_queue(n: i32) -> i32 {
    let x = RNG.with(|r| {
        let mut x = r.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        x
    });
    (x % n.max(1) as u64) as i32
}
