//! SEND_REPLY_MESSAGE (324) / SEND_REPLY_MESSAGE_V2 (325) — request-reply (RocketMQ 4.6+).
//!
//! A requester sends an ordinary message carrying `REPLY_TO_CLIENT` (its client id) and
//! `CORRELATION_ID`; a consumer answers with a reply on `<cluster>_REPLY_TOPIC` sent with
//! 324/325. The broker pushes the reply to the requester's connection at once
//! (PUSH_REPLY_MESSAGE_TO_CLIENT, 326: the requester waits on it, it does not consume the
//! reply topic) and stores it on the reply topic as an ordinary message (RocketMQ's
//! storeReplyMessageEnable, on by default). A requester that is gone gets nothing: the
//! responder is told (SYSTEM_ERROR with RocketMQ's remark) and the drop is counted.

use std::rc::Rc;
use std::time::Duration;

use super::{send, Reply};
use crate::broker::shard::Shard;
use crate::protocol::header::broker::{ReplyMessageRequestHeader, SendMessageRequestHeader};
use crate::protocol::properties::{keys, Properties};
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::Connection;

/// How long the requester's client has to take a pushed reply (RocketMQ's callClient).
pub const PUSH_REPLY_TIMEOUT_MS: u64 = 3_000;

/// Serves 324 / 325.
pub async fn reply(shard: &Rc<Shard>, conn: &Connection, req: &RemotingCommand) -> Reply {
    let h = SendMessageRequestHeader::from_request(req.code, &req.ext)?;
    let mut props = Properties::parse(h.properties.as_deref().unwrap_or_default());
    let pushed = match props.get(keys::REPLY_TO_CLIENT).map(str::to_owned) {
        None => Err(format!(
            "reply message properties[{}] is null",
            keys::REPLY_TO_CLIENT
        )),
        Some(client) => {
            props.set(keys::PUSH_REPLY_TIME, crate::clock::now_ms().to_string());
            push(shard, conn, req, &h, &props, &client).await
        }
    };
    if let Err(why) = &pushed {
        shard.count_reply(false);
        tracing::warn!(topic = h.topic, "reply not delivered: {why}");
    } else {
        shard.count_reply(true);
    }
    // Stored either way, as an ordinary send of the same message (checks, auto-creation,
    // the queue's owner); its answer supplies the reply's id and offset.
    let mut as_send = req.clone();
    as_send.code = if req.code == RequestCode::SEND_REPLY_MESSAGE_V2.code() {
        RequestCode::SEND_MESSAGE_V2.code()
    } else {
        RequestCode::SEND_MESSAGE.code()
    };
    let stored = send::send(shard, conn, &as_send).await?;
    Ok(match pushed {
        Ok(()) => stored,
        Err(why) if stored.code == ResponseCode::SUCCESS.code() => {
            req.error(ResponseCode::SYSTEM_ERROR, why)
        }
        // The store's own refusal says more (topic missing, message illegal, ...).
        Err(_) => stored,
    })
}

/// Pushes the reply to the connection of producer client `client`, wherever it is.
async fn push(
    shard: &Rc<Shard>,
    conn: &Connection,
    req: &RemotingCommand,
    h: &SendMessageRequestHeader,
    props: &Properties,
    client: &str,
) -> Result<(), String> {
    let id = client.to_owned();
    let found = shard
        .find_connection(move |local| local.producer_connection(&id))
        .await
        .map_err(|e| e.to_string())?;
    let Some((target, conn_id)) = found else {
        return Err(format!(
            "push reply message fail, channel of <{client}> not found."
        ));
    };
    let header = ReplyMessageRequestHeader {
        producer_group: h.producer_group.clone(),
        topic: h.topic.clone(),
        default_topic: h.default_topic.clone(),
        default_topic_queue_nums: h.default_topic_queue_nums,
        queue_id: h.queue_id,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        flag: h.flag,
        properties: Some(props.encode()),
        reconsume_times: h.reconsume_times,
        unit_mode: h.unit_mode,
        born_host: send::v4_peer(conn.peer()).to_string(),
        store_host: shard.ident.store_host.to_string(),
        store_timestamp: crate::clock::now_ms(),
    };
    let cmd =
        RemotingCommand::request_with(RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT.code(), &header)
            .with_body(req.body.clone());
    let answer = shard
        .request_on_conn(
            target,
            conn_id,
            cmd,
            Duration::from_millis(PUSH_REPLY_TIMEOUT_MS),
        )
        .await
        .map_err(|e| e.to_string())?;
    match answer {
        Ok(r) if r.code == ResponseCode::SUCCESS.code() => Ok(()),
        Ok(r) => Err(format!(
            "push reply message to {client} fail: {}",
            r.remark.unwrap_or_default()
        )),
        Err(e) => Err(format!("push reply message to {client} fail: {e}")),
    }
}
