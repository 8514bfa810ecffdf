//! AckMessage, ChangeInvisibleDuration and ForwardMessageToDeadLetterQueue: each names a
//! delivery by its receipt handle and runs on the shard owning the handle's queue.

use std::rc::Rc;

use super::receive::{MAX_INVISIBLE_MS, MIN_INVISIBLE_MS};
use super::server::Call;
use super::{duration_ms, name_of, ok, status};
use crate::broker::pop::book::LeaseCheck;
use crate::broker::pop::handle::ReceiptHandle;
use crate::broker::pop::owner;
use crate::protocol::grpc::v2;

fn stale(handle: &str) -> Option<v2::Status> {
    status(
        v2::Code::InvalidReceiptHandle,
        format!(
            "receipt handle {handle} is not the current delivery: acked already, expired and \
             redelivered, or replaced by ChangeInvisibleDuration"
        ),
    )
}

/// The handle's delivery is no longer the client's to hold: stop renewing it here.
fn release(call: &Call, group: &str, topic: &str, h: &ReceiptHandle) {
    let key = (group.to_owned(), topic.to_owned(), h.queue_id, h.offset);
    call.shard.grpc_renewals.borrow_mut().release(&key, h.lease);
}

fn names(
    group: &Option<v2::Resource>,
    topic: &Option<v2::Resource>,
) -> Result<(String, String), v2::Status> {
    Ok((name_of(group, "group")?, name_of(topic, "topic")?))
}

/// AckMessage: per-entry status; the call's status is the first failure, if any.
pub async fn ack_message(call: Rc<Call>, req: v2::AckMessageRequest) -> v2::AckMessageResponse {
    let (group, topic) = match names(&req.group, &req.topic) {
        Ok(n) => n,
        Err(s) => {
            return v2::AckMessageResponse {
                status: Some(s),
                entries: Vec::new(),
            }
        }
    };
    let mut entries = Vec::with_capacity(req.entries.len());
    let mut first_failure = None;
    for e in req.entries {
        let st = match ReceiptHandle::decode(&e.receipt_handle) {
            Err(msg) => status(v2::Code::InvalidReceiptHandle, msg),
            Ok(h) => {
                release(&call, &group, &topic, &h);
                let (g, t) = (group.clone(), topic.clone());
                let o = call.shard.queue_owner(&topic, h.queue_id);
                match call
                    .shard
                    .run_on(o, move |s| async move { owner::ack(&s, &g, &t, h).await })
                    .await
                {
                    Ok(Ok(LeaseCheck::Current)) => ok(),
                    Ok(Ok(LeaseCheck::Stale)) => stale(&e.receipt_handle),
                    Ok(Err(err)) => status(v2::Code::InternalServerError, err),
                    Err(err) => status(v2::Code::InternalServerError, err.to_string()),
                }
            }
        };
        if st.as_ref().is_some_and(|s| s.code != v2::Code::Ok as i32) && first_failure.is_none() {
            first_failure = st.clone();
        }
        entries.push(v2::AckMessageResultEntry {
            message_id: e.message_id,
            receipt_handle: e.receipt_handle,
            status: st,
        });
    }
    v2::AckMessageResponse {
        status: first_failure.or_else(ok),
        entries,
    }
}

/// ChangeInvisibleDuration: a new lease and its new handle; the old handle goes stale.
pub async fn change_invisible(
    call: Rc<Call>,
    req: v2::ChangeInvisibleDurationRequest,
) -> v2::ChangeInvisibleDurationResponse {
    let fail = |s: Option<v2::Status>| v2::ChangeInvisibleDurationResponse {
        status: s,
        receipt_handle: String::new(),
    };
    let (group, topic) = match names(&req.group, &req.topic) {
        Ok(n) => n,
        Err(s) => return fail(Some(s)),
    };
    let ms = match duration_ms(&req.invisible_duration) {
        // 0 is a nack: visible again at once.
        Some(ms) if ms == 0 || (MIN_INVISIBLE_MS..=MAX_INVISIBLE_MS).contains(&ms) => ms,
        other => {
            return fail(status(
                v2::Code::IllegalInvisibleTime,
                format!(
                    "invisible_duration {other:?} ms is outside [{MIN_INVISIBLE_MS}, {MAX_INVISIBLE_MS}] ms"
                ),
            ))
        }
    };
    let h = match ReceiptHandle::decode(&req.receipt_handle) {
        Ok(h) => h,
        Err(msg) => return fail(status(v2::Code::InvalidReceiptHandle, msg)),
    };
    // The client decides this delivery's time from now on (a push consumer's nack).
    release(&call, &group, &topic, &h);
    let o = call.shard.queue_owner(&topic, h.queue_id);
    match call
        .shard
        .run_on(o, move |s| async move {
            owner::change(&s, &group, &topic, h, ms)
        })
        .await
    {
        Ok(Some(l)) => v2::ChangeInvisibleDurationResponse {
            status: ok(),
            receipt_handle: ReceiptHandle {
                lease: l.id,
                visible_at_ms: l.visible_at_ms,
                ..h
            }
            .encode(),
        },
        Ok(None) => fail(stale(&req.receipt_handle)),
        Err(e) => fail(status(v2::Code::InternalServerError, e.to_string())),
    }
}

/// ForwardMessageToDeadLetterQueue: copies the delivery to `%DLQ%<group>` and acks it.
pub async fn forward_to_dlq(
    call: Rc<Call>,
    req: v2::ForwardMessageToDeadLetterQueueRequest,
) -> v2::ForwardMessageToDeadLetterQueueResponse {
    let reply = |s| v2::ForwardMessageToDeadLetterQueueResponse { status: s };
    let (group, topic) = match names(&req.group, &req.topic) {
        Ok(n) => n,
        Err(s) => return reply(Some(s)),
    };
    let h = match ReceiptHandle::decode(&req.receipt_handle) {
        Ok(h) => h,
        Err(msg) => return reply(status(v2::Code::InvalidReceiptHandle, msg)),
    };
    release(&call, &group, &topic, &h);
    let o = call.shard.queue_owner(&topic, h.queue_id);
    match call
        .shard
        .run_on(o, move |s| owner::forward_to_dlq(s, group, topic, h))
        .await
    {
        Ok(Ok(LeaseCheck::Current)) => reply(ok()),
        Ok(Ok(LeaseCheck::Stale)) => reply(stale(&req.receipt_handle)),
        Ok(Err(e)) => reply(status(v2::Code::InternalServerError, e)),
        Err(e) => reply(status(v2::Code::InternalServerError, e.to_string())),
    }
}
