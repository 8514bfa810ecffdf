//! VIEW_MESSAGE_BY_ID (33): the record at a commit-log offset, read by the shard the offset
//! names (its high bits, see `store::commitlog`).

use std::rc::Rc;

use bytes::Bytes;

use super::Reply;
use crate::broker::shard::Shard;
use crate::protocol::header::broker::ViewMessageRequestHeader;
use crate::protocol::{RemotingCommand, ResponseCode};
use crate::store::commitlog::split_physical;

/// The stored record at `phys`, from whichever shard holds it.
pub async fn record_at(shard: &Shard, phys: i64) -> Result<Option<Bytes>, super::HandlerError> {
    let Some((owner, _)) = split_physical(phys) else {
        return Ok(None);
    };
    let owner = owner as usize;
    if owner >= shard.shards {
        return Ok(None);
    }
    Ok(shard
        .run_on(owner, move |s| async move {
            s.store.read_by_physical(phys).await
        })
        .await??)
}

/// 33.
pub async fn by_offset(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: ViewMessageRequestHeader = req.header()?;
    Ok(match record_at(shard, h.offset).await? {
        Some(r) => req.success().with_body(r),
        None => req.error(
            ResponseCode::SYSTEM_ERROR,
            format!("can not find message by the offset, {}", h.offset),
        ),
    })
}
