//! What a slave asks its master for (GET_ALL_CONSUMER_OFFSET 43, GET_ALL_DELAY_OFFSET 45),
//! the HA status table (GET_BROKER_HA_STATUS 907), and what a slave refuses.

use std::rc::Rc;

use super::Reply;
use crate::broker::delay::SCHEDULE_GROUP;
use crate::broker::metadata::SCHEDULE_TOPIC;
use crate::broker::replication::{self, ShardHa, SLAVE_ADMIN_REFUSAL};
use crate::broker::shard::Shard;
use crate::protocol::body::ha::{ConsumerOffsetSerializeWrapper, DelayOffsetSerializeWrapper};
use crate::protocol::body::to_json;
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};

/// 43: every committed consumer offset of every shard, RocketMQ's consumerOffset.json shape.
pub async fn all_consumer_offsets(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let parts = shard
        .run_on_all(|s| async move { s.offsets.borrow().entries() })
        .await?;
    let mut w = ConsumerOffsetSerializeWrapper::default();
    for (group, topic, qid, offset) in parts.into_iter().flatten() {
        w.offset_table
            .entry(format!("{topic}@{group}"))
            .or_default()
            .insert(qid, offset);
    }
    Ok(req.success().with_body(to_json(&w)))
}

/// 45: the delivery offset of every delay level (level → offset).
pub async fn all_delay_offsets(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let parts = shard
        .run_on_all(|s| async move { s.delay_offsets.borrow().entries() })
        .await?;
    let mut w = DelayOffsetSerializeWrapper::default();
    for (group, topic, qid, offset) in parts.into_iter().flatten() {
        if group == SCHEDULE_GROUP && topic == SCHEDULE_TOPIC {
            w.offset_table.insert(qid + 1, offset);
        }
    }
    Ok(req.success().with_body(to_json(&w)))
}

/// 907: the replication state of every shard.
pub async fn ha_status(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let parts = shard.run_on_all(|s| async move { ShardHa::of(&s) }).await?;
    let parts: Vec<&ShardHa> = parts.iter().collect();
    let info = replication::ha_runtime_info(&parts, shard.cfg().ha_slave_fallbehind_max);
    Ok(req.success().with_body(to_json(&info)))
}

/// A slave's answer to a request that would write (RocketMQ's codes), or `None`.
pub fn refused_on_slave(
    shard: &Shard,
    code: RequestCode,
    req: &RemotingCommand,
) -> Option<RemotingCommand> {
    use RequestCode as C;
    match code {
        C::SEND_MESSAGE
        | C::SEND_MESSAGE_V2
        | C::SEND_BATCH_MESSAGE
        | C::SEND_REPLY_MESSAGE
        | C::SEND_REPLY_MESSAGE_V2
        | C::CONSUMER_SEND_MSG_BACK => Some(req.error(
            ResponseCode::SERVICE_NOT_AVAILABLE,
            replication::slave_write_refusal(&shard.cfg(), &shard.ident.addr),
        )),
        // RocketMQ's EndTransactionProcessor refuses on a slave the same way.
        C::END_TRANSACTION => Some(req.error(
            ResponseCode::SLAVE_NOT_AVAILABLE,
            "Message store is slave mode, so end transaction is forbidden.",
        )),
        C::UPDATE_AND_CREATE_TOPIC
        | C::DELETE_TOPIC_IN_BROKER
        | C::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP
        | C::DELETE_SUBSCRIPTIONGROUP => {
            Some(req.error(ResponseCode::SYSTEM_ERROR, SLAVE_ADMIN_REFUSAL))
        }
        _ => None,
    }
}
