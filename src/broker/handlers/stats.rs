//! Statistics for mqadmin — spec §2.9: GET_TOPIC_STATS_INFO (202), GET_CONSUME_STATS (208),
//! GET_BROKER_CONSUME_STATS (317), QUERY_TOPIC_CONSUME_BY_WHO (300). Each queue's numbers
//! come from its owner; requests over many queues fan out and merge here.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use super::{HandlerError, Reply};
use crate::broker::shard::{futures_join_all, Shard};
use crate::protocol::body::client::{GroupList, MessageQueue};
use crate::protocol::body::stats::{
    ConsumeStats, ConsumeStatsList, OffsetWrapper, TopicOffset, TopicStatsTable,
};
use crate::protocol::body::to_json;
use crate::protocol::header::broker::{
    GetBrokerConsumeStatsRequestHeader, GetConsumeStatsRequestHeader, TopicHeader,
};
use crate::protocol::{RemotingCommand, ResponseCode};

/// A queue of this broker, as clients name it.
pub(super) fn mq(shard: &Shard, topic: &str, qid: i32) -> MessageQueue {
    MessageQueue {
        broker_name: shard.cfg().broker_name.clone(),
        queue_id: qid,
        topic: topic.to_owned(),
    }
}

/// Queue ids grouped by owning shard.
pub(super) fn by_owner(shard: &Shard, topic: &str, queues: i32) -> BTreeMap<usize, Vec<i32>> {
    let mut m: BTreeMap<usize, Vec<i32>> = BTreeMap::new();
    for q in 0..queues.max(0) {
        m.entry(shard.queue_owner(topic, q)).or_default().push(q);
    }
    m
}

/// 202: min, max and last store time of every write queue.
pub async fn topic_stats(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: TopicHeader = req.header()?;
    let Some(tc) = shard.meta.borrow().topics.get(&h.topic).cloned() else {
        return Ok(req.error(
            ResponseCode::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist", h.topic),
        ));
    };
    let calls = by_owner(shard, &h.topic, tc.write_queue_nums)
        .into_iter()
        .map(|(owner, qids)| {
            let topic = h.topic.clone();
            shard.run_on(owner, move |s| async move {
                let mut out = Vec::new();
                for q in qids {
                    let (min, max) = s.store.queue_offsets(&topic, q);
                    let last = if max > 0 {
                        s.store.store_time_at(&topic, q, max - 1).await
                    } else {
                        0
                    };
                    out.push((
                        q,
                        TopicOffset {
                            min_offset: min as i64,
                            max_offset: max as i64,
                            last_update_timestamp: last,
                        },
                    ));
                }
                out
            })
        });
    let mut table = TopicStatsTable::default();
    for r in futures_join_all(calls).await {
        for (q, o) in r? {
            table.offset_table.insert(mq(shard, &h.topic, q), o);
        }
    }
    Ok(req.success().with_body(table.to_json()))
}

/// A group's progress on one topic's first `queues` queues.
async fn progress(
    shard: &Shard,
    group: &str,
    topic: &str,
    queues: i32,
) -> Result<ConsumeStats, HandlerError> {
    let calls = by_owner(shard, topic, queues)
        .into_iter()
        .map(|(owner, qids)| {
            let (g, t) = (group.to_owned(), topic.to_owned());
            shard.run_on(owner, move |s| async move {
                let mut out = Vec::new();
                for q in qids {
                    let (_, max) = s.store.queue_offsets(&t, q);
                    let consumer = s.offsets.borrow().get(&g, &t, q).unwrap_or(0);
                    let last = if consumer > 0 {
                        s.store.store_time_at(&t, q, consumer as u64 - 1).await
                    } else {
                        0
                    };
                    out.push((
                        q,
                        OffsetWrapper {
                            broker_offset: max as i64,
                            consumer_offset: consumer,
                            last_timestamp: last,
                            pull_offset: consumer,
                        },
                    ));
                }
                out
            })
        });
    let mut stats = ConsumeStats::default();
    for r in futures_join_all(calls).await {
        for (q, w) in r? {
            stats.offset_table.insert(mq(shard, topic, q), w);
        }
    }
    Ok(stats)
}

/// Topics a group has offsets for, on any shard.
async fn topics_of_group(shard: &Shard, group: &str) -> Result<BTreeSet<String>, HandlerError> {
    let g = group.to_owned();
    let per_shard = shard
        .run_on_all(move |s| {
            let g = g.clone();
            async move {
                s.offsets
                    .borrow()
                    .of_group(&g)
                    .into_iter()
                    .map(|(t, _, _)| t)
                    .collect::<BTreeSet<_>>()
            }
        })
        .await?;
    Ok(per_shard.into_iter().flatten().collect())
}

/// Topics the live group subscribes, `None` when it is offline.
async fn subscribed(shard: &Shard, group: &str) -> Result<Option<Vec<String>>, HandlerError> {
    let g = group.to_owned();
    Ok(shard
        .run_on(shard.group_owner(group), move |s| async move {
            s.clients.borrow().subscribed_topics(&g)
        })
        .await?)
}

/// 208: a group's progress on one topic, or on every topic it consumed that its live
/// consumers still subscribe.
pub async fn consume_stats(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: GetConsumeStatsRequestHeader = req.header()?;
    let topics: BTreeSet<String> = match &h.topic {
        Some(t) if !t.is_empty() => [t.clone()].into(),
        _ => {
            let mut ts = topics_of_group(shard, &h.consumer_group).await?;
            if let Some(live) = subscribed(shard, &h.consumer_group).await? {
                ts.retain(|t| live.contains(t));
            }
            ts
        }
    };
    let mut all = ConsumeStats::default();
    for t in topics {
        let Some(tc) = shard.meta.borrow().topics.get(&t).cloned() else {
            continue;
        };
        let s = progress(shard, &h.consumer_group, &t, tc.read_queue_nums).await?;
        all.offset_table.extend(s.offset_table);
    }
    Ok(req.success().with_body(all.to_json_string().into_bytes()))
}

/// 317: every group's progress on every topic it consumed (per write queue).
pub async fn broker_consume_stats(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: GetBrokerConsumeStatsRequestHeader = req.header()?;
    let only_order = h.is_order.unwrap_or(false);
    let groups: BTreeSet<String> = {
        let mut g: BTreeSet<String> = shard.meta.borrow().groups.keys().cloned().collect();
        let per_shard = shard
            .run_on_all(|s| async move { s.offsets.borrow().groups() })
            .await?;
        g.extend(per_shard.into_iter().flatten());
        g
    };
    let mut list = ConsumeStatsList {
        broker_addr: shard.ident.addr.clone(),
        ..Default::default()
    };
    for group in groups {
        let live = subscribed(shard, &group).await?;
        let mut per_topic = Vec::new();
        for t in topics_of_group(shard, &group).await? {
            if live.as_ref().is_some_and(|l| !l.contains(&t)) {
                continue;
            }
            let Some(tc) = shard.meta.borrow().topics.get(&t).cloned() else {
                continue;
            };
            if only_order && !tc.order {
                continue;
            }
            let s = progress(shard, &group, &t, tc.write_queue_nums).await?;
            list.total_diff += s.total_diff();
            per_topic.push(s);
        }
        if !per_topic.is_empty() {
            list.consume_stats_list.push((group, per_topic));
        }
    }
    Ok(req.success().with_body(list.to_json()))
}

/// 300: groups that consumed or subscribe a topic.
pub async fn consumed_by(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: TopicHeader = req.header()?;
    let topic = h.topic.clone();
    let per_shard = shard
        .run_on_all(move |s| {
            let topic = topic.clone();
            async move {
                let mut g = s.offsets.borrow().groups_of_topic(&topic);
                g.extend(s.clients.borrow().groups_subscribing(&topic));
                g
            }
        })
        .await?;
    let body = GroupList {
        group_list: per_shard.into_iter().flatten().collect(),
    };
    Ok(req.success().with_body(to_json(&body)))
}
