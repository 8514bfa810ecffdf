//! END_TRANSACTION (37), usually oneway: a producer commits or rolls back a half message
//! (after its local transaction, or answering a check-back). The decision runs on the
//! shard holding the half record, named by the high bits of `commitLogOffset`.

use std::rc::Rc;

use super::Reply;
use crate::broker::shard::Shard;
use crate::broker::transaction::{end_on_owner, EndOutcome, EndRequest};
use crate::protocol::header::broker::EndTransactionRequestHeader;
use crate::protocol::sys_flag::{
    TRANSACTION_COMMIT_TYPE, TRANSACTION_NOT_TYPE, TRANSACTION_ROLLBACK_TYPE,
};
use crate::protocol::{RemotingCommand, ResponseCode};
use crate::remoting::Connection;
use crate::store::commitlog::split_physical;

/// 37.
pub async fn end(shard: &Rc<Shard>, conn: &Connection, req: &RemotingCommand) -> Reply {
    let h: EndTransactionRequestHeader = req.header()?;
    let from_check = h.from_transaction_check.unwrap_or(false);
    let commit = match h.commit_or_rollback {
        TRANSACTION_COMMIT_TYPE => true,
        TRANSACTION_ROLLBACK_TYPE => false,
        TRANSACTION_NOT_TYPE => {
            // "Unknown": the producer will be asked again once the message is overdue.
            tracing::debug!(
                group = h.producer_group,
                msg_id = h.msg_id,
                from_check,
                "transaction state unknown; it will be checked back"
            );
            return Ok(req.success());
        }
        other => {
            return Ok(req.error(
                ResponseCode::SYSTEM_ERROR,
                format!("commitOrRollback={other} is none of 0, 8 (commit), 12 (rollback)"),
            ))
        }
    };
    let owner = split_physical(h.commit_log_offset)
        .map(|(s, _)| s as usize)
        .filter(|s| *s < shard.shards);
    let Some(owner) = owner else {
        return Ok(req.error(
            ResponseCode::SYSTEM_ERROR,
            "Find prepared transaction message failed",
        ));
    };
    let d = EndRequest {
        phys: h.commit_log_offset,
        queue_offset: h.tran_state_table_offset,
        group: h.producer_group.clone(),
        commit,
    };
    let outcome = shard
        .run_on(owner, move |s| async move { end_on_owner(s, d).await })
        .await?;
    Ok(match outcome {
        Ok(EndOutcome::Done) => req.success(),
        Ok(EndOutcome::AlreadyDecided) => {
            tracing::debug!(
                group = h.producer_group,
                msg_id = h.msg_id,
                from_check,
                "transaction already decided; END_TRANSACTION ignored"
            );
            req.success()
        }
        Err(e) => {
            // Oneway: the producer never sees this, so it is logged.
            tracing::warn!(
                group = h.producer_group,
                msg_id = h.msg_id,
                peer = %conn.peer(),
                commit,
                "END_TRANSACTION refused: {e}"
            );
            req.error(ResponseCode::SYSTEM_ERROR, e.to_string())
        }
    })
}
