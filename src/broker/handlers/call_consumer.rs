//! Admin requests the broker relays to one live consumer: GET_CONSUMER_RUNNING_INFO (307)
//! and CONSUME_MESSAGE_DIRECTLY (309). The group's keeper finds the client's connection,
//! the core holding that connection asks the client, and the client's answer goes back to
//! the admin unchanged. This is how `consumerProgress -s true` learns which client holds
//! which queue, and how `queryMsgById -g -d` has one client consume one stored message.

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;

use super::view::record_at;
use super::Reply;
use crate::broker::shard::{ConnSendError, Shard};
use crate::protocol::header::broker::{
    ConsumeMessageDirectlyHeader, ConsumerRunningInfoRequestHeader,
};
use crate::protocol::message_id;
use crate::protocol::{ExtFields, RemotingCommand, ResponseCode};
use crate::remoting::RemotingError;

/// How long the client gets to answer (RocketMQ's broker-to-client call timeout).
pub const CALL_CONSUMER_TIMEOUT_MS: u64 = 10_000;

/// 307: relays the request to the consumer `clientId` of `consumerGroup`.
pub async fn running_info(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: ConsumerRunningInfoRequestHeader = req.header()?;
    relay(
        shard,
        req,
        &h.consumer_group,
        &h.client_id,
        req.ext.clone(),
        req.body.clone(),
    )
    .await
}

/// 309: reads the message `msgId` names and has the consumer `clientId` consume it.
pub async fn consume_directly(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: ConsumeMessageDirectlyHeader = req.header()?;
    let record = match message_id::decode(&h.msg_id) {
        Some((_, offset)) => record_at(shard, offset).await?,
        None => None,
    };
    let Some(record) = record else {
        return Ok(req.error(
            ResponseCode::SYSTEM_ERROR,
            format!("no message {} on this broker", h.msg_id),
        ));
    };
    let mut ext = req.ext.clone();
    ext.insert("brokerName", shard.ident.cfg.broker_name.clone());
    relay(shard, req, &h.consumer_group, &h.client_id, ext, record).await
}

/// Sends `req.code` with `ext` and `body` to the consumer's connection and answers the
/// admin with the consumer's response.
async fn relay(
    shard: &Rc<Shard>,
    req: &RemotingCommand,
    group: &str,
    client: &str,
    ext: ExtFields,
    body: Bytes,
) -> Reply {
    let owner = shard.group_owner(group);
    let (g, c) = (group.to_owned(), client.to_owned());
    let member = shard
        .run_on(owner, move |s| async move {
            s.clients
                .borrow()
                .consumers_of(&g)
                .into_iter()
                .find(|m| m.client_id == c)
        })
        .await?;
    let Some(member) = member else {
        return Ok(req.error(
            ResponseCode::SYSTEM_ERROR,
            format!("The Consumer <{group}> <{client}> not online"),
        ));
    };
    let forward = RemotingCommand::request(req.code, ext).with_body(body);
    let timeout = Duration::from_millis(CALL_CONSUMER_TIMEOUT_MS);
    let answer = shard
        .request_on_conn(member.shard, member.conn_id, forward, timeout)
        .await?;
    Ok(match answer {
        Ok(a) => {
            let mut out = req.success();
            out.code = a.code;
            out.remark = a.remark;
            out.ext = a.ext;
            out.body = a.body;
            out
        }
        // As RocketMQ: a client that does not answer in time is CONSUME_MSG_TIMEOUT.
        Err(e @ ConnSendError::Remoting(RemotingError::Timeout { .. })) => req.error(
            ResponseCode::CONSUME_MSG_TIMEOUT,
            format!("consumer <{group}> <{client}> Timeout: {e}"),
        ),
        Err(e) => req.error(
            ResponseCode::SYSTEM_ERROR,
            format!("invoke consumer <{group}> <{client}> Exception: {e}"),
        ),
    })
}
