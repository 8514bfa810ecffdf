//! INVOKE_BROKER_TO_RESET_OFFSET (222), `mqadmin resetOffsetByTime`: computes where each of
//! the topic's queues on this broker should restart for a group (the first message stored
//! at or after the timestamp; the end for -1, "now"), and tells every live consumer of the
//! group (RESET_CONSUMER_CLIENT_OFFSET, 220, oneway). As in RocketMQ the broker does not
//! write the offsets itself: each consumer drops the queues it holds and commits the new
//! offsets. With no consumer online the answer is CONSUMER_NOT_ONLINE and the admin tool
//! writes the offsets directly instead.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::stats::{by_owner, mq};
use super::Reply;
use crate::broker::shard::{futures_join_all, ConnSendError, Shard};
use crate::protocol::body::consumer_calls::reset_offset_body;
use crate::protocol::header::broker::ResetOffsetRequestHeader;
use crate::protocol::{ExtFields, RemotingCommand, RequestCode, ResponseCode};

/// 222.
pub async fn reset(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: ResetOffsetRequestHeader = req.header()?;
    let Some(tc) = shard.meta.borrow().topics.get(&h.topic).cloned() else {
        return Ok(req.error(
            ResponseCode::SYSTEM_ERROR,
            format!(
                "[reset-offset] reset offset failed, no topic in this broker. topic={}",
                h.topic
            ),
        ));
    };
    let force = h.is_force.unwrap_or(true);
    // One call per owning shard; answers taken in queue order, so the first queue without
    // an offset (or whose search failed) decides the error.
    let calls = by_owner(shard, &h.topic, tc.write_queue_nums)
        .into_iter()
        .map(|(owner, qids)| {
            let (g, t, at) = (h.group.clone(), h.topic.clone(), h.timestamp);
            shard.run_on(owner, move |s| async move {
                let mut out = Vec::with_capacity(qids.len());
                for q in qids {
                    let current = s.offsets.borrow().get(&g, &t, q);
                    let target = if at < 0 {
                        Ok(s.store.queue_offsets(&t, q).1)
                    } else {
                        s.store.offset_by_time(&t, q, at).await
                    };
                    out.push((q, current, target));
                }
                out
            })
        });
    let mut found = Vec::new();
    for r in futures_join_all(calls).await {
        found.extend(r?);
    }
    found.sort_by_key(|(q, _, _)| *q);
    let mut table = BTreeMap::new();
    for (q, current, target) in found {
        let Some(current) = current else {
            return Ok(req.error(
                ResponseCode::SYSTEM_ERROR,
                format!("THe consumer group <{}> not exist", h.group),
            ));
        };
        let target = target? as i64;
        let offset = if force || target < current {
            target
        } else {
            current
        };
        table.insert(mq(shard, &h.topic, q), offset);
    }
    let members = {
        let owner = shard.group_owner(&h.group);
        let g = h.group.clone();
        shard
            .run_on(owner, move |s| async move {
                s.clients.borrow().consumers_of(&g)
            })
            .await?
    };
    if members.is_empty() {
        return Ok(req.error(
            ResponseCode::CONSUMER_NOT_ONLINE,
            format!(
                "Consumer not online, so can not reset offset, Group: {} Topic: {} Timestamp: {}",
                h.group, h.topic, h.timestamp
            ),
        ));
    }
    let body = reset_offset_body(&table);
    let mut ext = ExtFields::new();
    ext.insert("topic", h.topic.clone());
    ext.insert("group", h.group.clone());
    ext.insert("timestamp", h.timestamp.to_string());
    // Required by clients' header decoders (Java's primitive boolean is always sent).
    ext.insert("isForce", force.to_string());
    for m in members {
        let tell = RemotingCommand::request(
            RequestCode::RESET_CONSUMER_CLIENT_OFFSET.code(),
            ext.clone(),
        )
        .with_body(body.clone())
        .oneway();
        match shard.oneway_on_conn(m.shard, m.conn_id, tell).await? {
            Ok(()) | Err(ConnSendError::Gone) => {}
            Err(e) => tracing::warn!(client = %m.client_id, "reset-offset notice failed: {e}"),
        }
    }
    Ok(req.success().with_body(body))
}
