//! LOCK_BATCH_MQ (41) / UNLOCK_BATCH_MQ (42) — spec §2.11: each queue is locked by the
//! shard owning it; a batch fans out to the owners and the granted queues are merged.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use super::{HandlerError, Reply};
use crate::broker::shard::{futures_join_all, Shard};
use crate::protocol::body::client::{LockBatchRequestBody, LockBatchResponseBody, MessageQueue};
use crate::protocol::body::{from_json_lenient, to_json};
use crate::protocol::RemotingCommand;

fn by_owner(shard: &Shard, body: &LockBatchRequestBody) -> BTreeMap<usize, Vec<MessageQueue>> {
    let mut m: BTreeMap<usize, Vec<MessageQueue>> = BTreeMap::new();
    for mq in &body.mq_set {
        m.entry(shard.queue_owner(&mq.topic, mq.queue_id))
            .or_default()
            .push(mq.clone());
    }
    m
}

/// 41: locks what it can; the body lists the queues the caller now holds.
pub async fn lock(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let body: LockBatchRequestBody = from_json_lenient(&req.body).map_err(HandlerError::Body)?;
    let calls = by_owner(shard, &body).into_iter().map(|(owner, mqs)| {
        let (g, c) = (body.consumer_group.clone(), body.client_id.clone());
        shard.run_on(owner, move |s| async move {
            let now = Instant::now();
            let mut locks = s.locks.borrow_mut();
            mqs.into_iter()
                .filter(|mq| locks.try_lock(&g, &mq.topic, mq.queue_id, &c, now))
                .collect::<Vec<_>>()
        })
    });
    let mut ok = LockBatchResponseBody::default();
    for r in futures_join_all(calls).await {
        ok.lock_ok_mq_set.extend(r?);
    }
    Ok(req.success().with_body(to_json(&ok)))
}

/// 42: releases the caller's locks.
pub async fn unlock(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let body: LockBatchRequestBody = from_json_lenient(&req.body).map_err(HandlerError::Body)?;
    let calls = by_owner(shard, &body).into_iter().map(|(owner, mqs)| {
        let (g, c) = (body.consumer_group.clone(), body.client_id.clone());
        shard.run_on(owner, move |s| async move {
            let mut locks = s.locks.borrow_mut();
            for mq in mqs {
                locks.unlock(&g, &mq.topic, mq.queue_id, &c);
            }
        })
    });
    for r in futures_join_all(calls).await {
        r?;
    }
    Ok(req.success())
}
