//! INVOKE_BROKER_TO_RESET_OFFSET (222), `mqadmin resetOffsetByTime`: computes where each of
//! the topic's queues on this broker should restart for a group (the first message stored
//! at or after the timestamp; the end for -1, "now"), and tells every live consumer of the
//! group (RESET_CONSUMER_CLIENT_OFFSET, 220, oneway). As in RocketMQ the broker does not
//! write the offsets itself: each consumer drops the queues it holds and commits the new
//! offsets. With no consumer online the answer is CONSUMER_NOT_ONLINE and the admin tool
//! writes the offsets directly instead.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::Reply;
use crate::broker::shard::Shard;
use crate::protocol::body::client::MessageQueue;
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
    let mut table = BTreeMap::new();
    for q in 0..tc.write_queue_nums {
        let owner = shard.queue_owner(&h.topic, q);
        let (g, t, at) = (h.group.clone(), h.topic.clone(), h.timestamp);
        let (current, target) = shard
            .run_on(owner, move |s| async move {
                let current = s.offsets.borrow().get(&g, &t, q);
                let target = if at < 0 {
                    Ok(s.store.queue_offsets(&t, q).1)
                } else {
                    s.store.offset_by_time(&t, q, at).await
                };
                (current, target)
            })
            .await?;
        let Some(current) = current else {
            return Ok(req.error(
                ResponseCode::SYSTEM_ERROR,
                format!("THe consumer group <{}> not exist", h.group),
            ));
        };
        let target = target? as i64;
        let mq = MessageQueue {
            topic: h.topic.clone(),
            broker_name: shard.ident.cfg.broker_name.clone(),
            queue_id: q,
        };
        table.insert(
            mq,
            if force || target < current {
                target
            } else {
                current
            },
        );
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
        let conn_id = m.conn_id;
        shard
            .run_on(m.shard, move |s| async move {
                let conn = s.local.borrow().get(conn_id);
                if let Some(c) = conn {
                    if let Err(e) = c.oneway(tell) {
                        tracing::warn!(peer = %c.peer(), "reset-offset notice failed: {e}");
                    }
                }
            })
            .await?;
    }
    Ok(req.success().with_body(body))
}
