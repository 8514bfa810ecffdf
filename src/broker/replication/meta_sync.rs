//! What a slave copies from its master besides the log (RocketMQ's SlaveSynchronize):
//! topics and subscription groups (replaced whole when the master's data version differs),
//! consumer offsets and delay-level offsets (merged: the master's entries win, entries only
//! the slave has are kept, so commits made while the master was down survive). First 3 s
//! after start, then every [`META_SYNC_INTERVAL_MS`], and at once when replication brings a
//! record of a topic the slave does not know yet; runs on shard 0, which keeps the
//! metadata; offsets go to the shards that own their queues.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use crate::broker::delay::SCHEDULE_GROUP;
use crate::broker::metadata::{MetaChange, SCHEDULE_TOPIC};
use crate::broker::shard::Shard;
use crate::client::rpc::{expect_success, request, Links};
use crate::protocol::body::client::SubscriptionGroupWrapper;
use crate::protocol::body::ha::{ConsumerOffsetSerializeWrapper, DelayOffsetSerializeWrapper};
use crate::protocol::body::{from_json_lenient, TopicConfigSerializeWrapper};
use crate::protocol::RequestCode;

/// Period of the copy, ms (RocketMQ's 10 s).
pub const META_SYNC_INTERVAL_MS: u64 = 10_000;
/// Delay before the first copy, ms.
pub const META_SYNC_FIRST_MS: u64 = 3_000;
/// Timeout of each request to the master, ms.
pub const META_SYNC_TIMEOUT_MS: u64 = 3_000;

/// Shard 0 of a slave: copies the master's metadata for as long as the broker runs.
pub async fn run(shard: Rc<Shard>) {
    let links = Links::with_timeout(Duration::from_millis(META_SYNC_TIMEOUT_MS));
    shard
        .replication
        .meta_sync_now
        .wait(Duration::from_millis(META_SYNC_FIRST_MS))
        .await;
    let mut failing = false;
    loop {
        if shard.closing.get() {
            return;
        }
        let master = shard
            .replication
            .follow()
            .master_addr
            .and_then(|a| a.parse::<SocketAddr>().ok());
        if let Some(addr) = master {
            match sync_all(&shard, &links, addr).await {
                Ok(()) => {
                    if failing {
                        tracing::info!(master = %addr, "metadata copy from the master works again");
                    }
                    failing = false;
                }
                Err(e) => {
                    // Expected while the master is down: say it once, not every 10 s.
                    if !failing {
                        tracing::warn!(master = %addr, "cannot copy metadata from the master: {e}");
                    }
                    failing = true;
                }
            }
        }
        shard
            .replication
            .meta_sync_now
            .wait(Duration::from_millis(META_SYNC_INTERVAL_MS))
            .await;
    }
}

/// One round of the four copies.
pub async fn sync_all(shard: &Rc<Shard>, links: &Links, master: SocketAddr) -> Result<(), String> {
    let get = |code: RequestCode| async move {
        let r = links
            .request(master, request(code, &[]))
            .await
            .map_err(|e| e.to_string())?;
        expect_success(master, r)
            .map(|r| r.body)
            .map_err(|e| e.to_string())
    };
    let topics: TopicConfigSerializeWrapper =
        from_json_lenient(&get(RequestCode::GET_ALL_TOPIC_CONFIG).await?)?;
    if topics.data_version != shard.meta.borrow().topics_version {
        shard.change_meta(MetaChange::ReplaceTopics(topics)).await?;
    }
    let offsets: ConsumerOffsetSerializeWrapper =
        from_json_lenient(&get(RequestCode::GET_ALL_CONSUMER_OFFSET).await?)?;
    merge_offsets(shard, offsets, false).await?;
    let delays: DelayOffsetSerializeWrapper =
        from_json_lenient(&get(RequestCode::GET_ALL_DELAY_OFFSET).await?)?;
    let as_table = ConsumerOffsetSerializeWrapper {
        offset_table: BTreeMap::from([(
            format!("{SCHEDULE_TOPIC}@{SCHEDULE_GROUP}"),
            delays
                .offset_table
                .into_iter()
                .map(|(level, o)| (level - 1, o))
                .collect(),
        )]),
    };
    merge_offsets(shard, as_table, true).await?;
    let groups: SubscriptionGroupWrapper =
        from_json_lenient(&get(RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG).await?)?;
    if groups.data_version != shard.meta.borrow().groups_version {
        shard.change_meta(MetaChange::ReplaceGroups(groups)).await?;
    }
    Ok(())
}

/// Sets each offset on the shard owning its queue (`delay`: the delay-level table).
async fn merge_offsets(
    shard: &Rc<Shard>,
    w: ConsumerOffsetSerializeWrapper,
    delay: bool,
) -> Result<(), String> {
    let mut by_owner: BTreeMap<usize, Vec<(String, String, i32, i64)>> = BTreeMap::new();
    for (key, queues) in w.offset_table {
        let Some((topic, group)) = key.split_once('@') else {
            continue;
        };
        for (qid, offset) in queues {
            by_owner
                .entry(shard.queue_owner(topic, qid))
                .or_default()
                .push((group.to_owned(), topic.to_owned(), qid, offset));
        }
    }
    for (owner, entries) in by_owner {
        shard
            .run_on(owner, move |s| async move {
                let table = if delay { &s.delay_offsets } else { &s.offsets };
                let mut t = table.borrow_mut();
                for (g, topic, qid, o) in entries {
                    if t.get(&g, &topic, qid) != Some(o) {
                        t.set(&g, &topic, qid, o);
                    }
                }
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
