//! Offsets — spec §2.5: consumer offsets (14, 15) and queue offsets (29, 30, 31, 32), each
//! answered by the queue's owner.

use std::rc::Rc;

use super::Reply;
use crate::broker::hot_window;
use crate::broker::shard::Shard;
use crate::protocol::header::broker::{
    OffsetResponseHeader, QueryConsumerOffsetRequestHeader, QueueRequestHeader,
    SearchOffsetRequestHeader, TimestampResponseHeader, UpdateConsumerOffsetRequestHeader,
};
use crate::protocol::{CommandHeader, RemotingCommand, ResponseCode};

fn offset_reply(req: &RemotingCommand, offset: i64) -> RemotingCommand {
    req.success()
        .with_ext(OffsetResponseHeader { offset }.to_ext())
}

/// 14: the committed offset; for a group without one, RocketMQ 4.9's young-queue rule
/// (spec trap 9): 0 while the queue still starts at 0 and its first record is hot (or it
/// has none yet), so a new group, even with CONSUME_FROM_LAST_OFFSET, reads a young
/// queue from its first message; otherwise QUERY_NOT_FOUND (exactly 22, trap 6).
pub async fn query(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: QueryConsumerOffsetRequestHeader = req.header()?;
    let owner = shard.queue_owner(&h.topic, h.queue_id);
    let (g, t, q) = (h.consumer_group.clone(), h.topic.clone(), h.queue_id);
    let found = shard
        .run_on(owner, move |s| async move {
            if let Some(o) = s.offsets.borrow().get(&g, &t, q) {
                return Ok(Some(o));
            }
            young_queue_start(&s, &t, q).await
        })
        .await??;
    Ok(match found {
        Some(o) => offset_reply(req, o),
        None => req.error(
            ResponseCode::QUERY_NOT_FOUND,
            "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
        ),
    })
}

/// Owner side of the young-queue rule: `Some(0)` when a new group starts at the queue's
/// first message, `None` when it is "not found" (the client decides where to start).
async fn young_queue_start(
    s: &Shard,
    topic: &str,
    qid: i32,
) -> Result<Option<i64>, crate::store::StoreError> {
    let (min, _) = s.store.queue_offsets(topic, qid);
    if min > 0 {
        return Ok(None);
    }
    let Some(first) = s.store.first_record_physical(topic, qid).await? else {
        // Nothing stored yet (RocketMQ: no index entry at 0 is "not on disk").
        return Ok(Some(0));
    };
    let end = s.store.physical_of(s.store.log_positions().end);
    let hot = hot_window::is_hot(end, first, s.cfg().access_message_in_memory_max_ratio);
    Ok(hot.then_some(0))
}

/// 15: stores a commit (usually oneway).
pub async fn update(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: UpdateConsumerOffsetRequestHeader = req.header()?;
    if !shard.meta.borrow().topics.contains_key(&h.topic) {
        // Offsets are kept only for topics this broker has (the table must not grow
        // with whatever names a client sends).
        return Ok(req.error(
            ResponseCode::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist", h.topic),
        ));
    }
    let owner = shard.queue_owner(&h.topic, h.queue_id);
    shard
        .run_on(owner, move |s| async move {
            s.offsets
                .borrow_mut()
                .set(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset)
        })
        .await?;
    Ok(req.success())
}

async fn queue_offsets(
    shard: &Rc<Shard>,
    topic: String,
    qid: i32,
) -> Result<(u64, u64), super::HandlerError> {
    let owner = shard.queue_owner(&topic, qid);
    Ok(shard
        .run_on(
            owner,
            move |s| async move { s.store.queue_offsets(&topic, qid) },
        )
        .await?)
}

/// 30: the next offset to be written (0 for an unknown queue).
pub async fn max(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: QueueRequestHeader = req.header()?;
    let (_, max) = queue_offsets(shard, h.topic, h.queue_id).await?;
    Ok(offset_reply(req, max as i64))
}

/// 31: the first readable offset.
pub async fn min(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: QueueRequestHeader = req.header()?;
    let (min, _) = queue_offsets(shard, h.topic, h.queue_id).await?;
    Ok(offset_reply(req, min as i64))
}

/// 29: first offset stored at or after the timestamp (max offset when none).
pub async fn by_time(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: SearchOffsetRequestHeader = req.header()?;
    let owner = shard.queue_owner(&h.topic, h.queue_id);
    let offset = shard
        .run_on(owner, move |s| async move {
            s.store
                .offset_by_time(&h.topic, h.queue_id, h.timestamp)
                .await
        })
        .await??;
    Ok(offset_reply(req, offset as i64))
}

/// 32: store time of the first readable message.
pub async fn earliest_time(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: QueueRequestHeader = req.header()?;
    let owner = shard.queue_owner(&h.topic, h.queue_id);
    let timestamp = shard
        .run_on(owner, move |s| async move {
            let (min, _) = s.store.queue_offsets(&h.topic, h.queue_id);
            s.store.store_time_at(&h.topic, h.queue_id, min).await
        })
        .await?;
    Ok(req
        .success()
        .with_ext(TimestampResponseHeader { timestamp }.to_ext()))
}
