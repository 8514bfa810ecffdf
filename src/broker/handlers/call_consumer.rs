//! Admin requests the broker relays to one live consumer (GET_CONSUMER_RUNNING_INFO, 307):
//! the group's keeper finds the client's connection, the core holding that connection asks
//! the client, and the client's answer goes back to the admin unchanged. This is how
//! `consumerProgress -s true` learns which client holds which queue.

use std::rc::Rc;
use std::time::Duration;

use super::Reply;
use crate::broker::shard::Shard;
use crate::protocol::header::broker::ConsumerRunningInfoRequestHeader;
use crate::protocol::{RemotingCommand, ResponseCode};

/// How long the client gets to answer (RocketMQ's broker-to-client call timeout).
pub const CALL_CONSUMER_TIMEOUT_MS: u64 = 10_000;

/// 307: relays the request to the consumer `clientId` of `consumerGroup`.
pub async fn running_info(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: ConsumerRunningInfoRequestHeader = req.header()?;
    let owner = shard.group_owner(&h.consumer_group);
    let (group, client) = (h.consumer_group.clone(), h.client_id.clone());
    let member = shard
        .run_on(owner, move |s| async move {
            s.clients
                .borrow()
                .consumers_of(&group)
                .into_iter()
                .find(|m| m.client_id == client)
        })
        .await?;
    let Some(member) = member else {
        return Ok(req.error(
            ResponseCode::SYSTEM_ERROR,
            format!(
                "The Consumer <{}> <{}> not online",
                h.consumer_group, h.client_id
            ),
        ));
    };
    let forward = RemotingCommand::request(req.code, req.ext.clone()).with_body(req.body.clone());
    let conn_id = member.conn_id;
    let answer = shard
        .run_on(member.shard, move |s| async move {
            let conn = s.local.borrow().get(conn_id);
            match conn {
                Some(c) => c
                    .request(forward, Duration::from_millis(CALL_CONSUMER_TIMEOUT_MS))
                    .await
                    .map_err(|e| e.to_string()),
                None => Err("its connection closed".to_owned()),
            }
        })
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
        Err(e) => req.error(
            ResponseCode::SYSTEM_ERROR,
            format!(
                "invoke consumer <{}> <{}> failed: {e}",
                h.consumer_group, h.client_id
            ),
        ),
    })
}
