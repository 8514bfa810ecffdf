//! The owner shard's side of POP: reads the store and keeps the [`PopBook`] of the queues
//! it owns. Called through [`Shard::run_on`] from the core that holds the client's
//! connection; everything here runs on the owner.

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;

use super::book::{Lease, LeaseCheck, QueueKey};
use super::handle::ReceiptHandle;
use crate::broker::handlers::topic_check::create_if_absent;
use crate::broker::property_filter;
use crate::broker::shard::Shard;
use crate::protocol::body::TopicConfig;
use crate::protocol::properties::{keys, Properties};
use crate::protocol::topics::dlq_topic;
use crate::store::record::Record;
use crate::store::shard_store::{GetStatus, ReadLimits};
use crate::store::NewMessage;

/// Bytes of message records one pop returns at most (the first is always returned).
pub const MAX_POP_BYTES: usize = 4 * 1024 * 1024;
/// Messages one receive takes at most (RocketMQ's limit on `maxMsgNums`).
pub const MAX_POP_BATCH: usize = 32;

/// What a receive asks of one owner.
#[derive(Debug, Clone)]
pub struct PopRequest {
    /// Consumer group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// The topic's queues this shard owns, in the order to try them.
    pub queues: Vec<i32>,
    /// Messages wanted.
    pub max: usize,
    /// Lease length.
    pub invisible_ms: i64,
    /// Accepted tag hash codes; `None` takes all.
    pub tag_codes: Option<Vec<i64>>,
    /// A SQL92 condition on the properties (already checked to compile).
    pub sql: Option<String>,
    /// FIFO: a queue with a delivery still invisible gives nothing.
    pub fifo: bool,
    /// Deliveries before a message goes to `%DLQ%<group>`.
    pub max_attempts: u32,
}

/// A message handed out.
#[derive(Debug, Clone)]
pub struct Popped {
    /// The stored record.
    pub record: Bytes,
    /// Queue.
    pub queue_id: i32,
    /// Offset in the queue.
    pub offset: u64,
    /// Its lease.
    pub lease: Lease,
}

fn now_ms() -> i64 {
    crate::clock::now_ms()
}

/// Where a group that never consumed a queue starts: at the beginning of a queue that
/// never lost a message to retention (a new topic), else at its end (RocketMQ's rule).
fn initial_cursor(s: &Shard, key: &QueueKey) -> u64 {
    let (min, max) = s.store.queue_offsets(&key.1, key.2);
    match s.offsets.borrow().get(&key.0, &key.1, key.2) {
        Some(o) if o >= 0 => (o as u64).clamp(min, max.max(min)),
        _ if min == 0 => 0,
        _ => max,
    }
}

fn commit(s: &Shard, key: &QueueKey) {
    if let Some(c) = s.pop.borrow().committed(key) {
        s.offsets.borrow_mut().set(&key.0, &key.1, key.2, c as i64);
    }
}

/// Reads the record at `offset`, `None` when retention removed it.
async fn read_one(s: &Shard, topic: &str, qid: i32, offset: u64) -> Result<Option<Bytes>, String> {
    let limits = ReadLimits {
        max_msgs: 1,
        max_bytes: MAX_POP_BYTES,
    };
    let r = s
        .store
        .read(topic, qid, offset, limits, |_| true)
        .await
        .map_err(|e| e.to_string())?;
    Ok(r.records
        .into_iter()
        .next()
        .filter(|rec| Record::parse(rec).is_ok_and(|p| p.queue_offset() == offset as i64)))
}

/// Pops up to `req.max` messages from the queues of `req` on this shard.
pub async fn pop(s: Rc<Shard>, req: PopRequest) -> Result<Vec<Popped>, String> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for &qid in &req.queues {
        if out.len() >= req.max || bytes >= MAX_POP_BYTES {
            break;
        }
        let key: QueueKey = (req.group.clone(), req.topic.clone(), qid);
        if !s.pop.borrow().knows(&key) {
            let c = initial_cursor(&s, &key);
            s.pop.borrow_mut().open(&key, c);
        }
        let now = now_ms();
        if req.fifo && s.pop.borrow().blocked(&key, now) {
            continue;
        }
        let expired =
            s.pop
                .borrow_mut()
                .take_expired(&key, now, req.invisible_ms, req.max - out.len());
        for (offset, lease) in expired {
            let rec = read_one(&s, &req.topic, qid, offset).await?;
            let Some(rec) = rec else {
                // Gone to retention: nothing left to deliver.
                s.pop.borrow_mut().ack(&key, offset, lease.id);
                continue;
            };
            if lease.attempt > req.max_attempts {
                to_dlq(&s, &req.group, &rec, lease.attempt - 1).await?;
                s.pop.borrow_mut().ack(&key, offset, lease.id);
                continue;
            }
            bytes += rec.len();
            out.push(Popped {
                record: rec,
                queue_id: qid,
                offset,
                lease,
            });
        }
        if out.len() < req.max && !(req.fifo && s.pop.borrow().blocked(&key, now)) {
            read_new(&s, &req, &key, &mut out, &mut bytes).await?;
        }
        commit(&s, &key);
    }
    if !out.is_empty() {
        s.throughput.got(out.len() as u64);
        s.throughput
            .got_group(&req.group, &req.topic, out.len() as u64);
    }
    Ok(out)
}

async fn read_new(
    s: &Shard,
    req: &PopRequest,
    key: &QueueKey,
    out: &mut Vec<Popped>,
    bytes: &mut usize,
) -> Result<(), String> {
    let Some(from) = s.pop.borrow_mut().begin_read(key) else {
        return Ok(());
    };
    let limits = ReadLimits {
        max_msgs: req.max - out.len(),
        max_bytes: MAX_POP_BYTES.saturating_sub(*bytes).max(1),
    };
    let codes = req.tag_codes.clone();
    let accept = |code: i64| codes.as_ref().is_none_or(|c| c.contains(&code));
    let test = property_filter::record_test(req.sql.as_deref());
    let read = s
        .store
        .read_filtered(&req.topic, key.2, from, limits, accept, test);
    let r = match read.await {
        Ok(r) => r,
        Err(e) => {
            s.pop.borrow_mut().abort_read(key);
            return Err(e.to_string());
        }
    };
    let next = match r.status {
        GetStatus::Found | GetStatus::NoMatchedMessage | GetStatus::OffsetTooSmall => {
            r.next_offset.max(from)
        }
        _ => from,
    };
    let mut offsets = Vec::with_capacity(r.records.len());
    for rec in &r.records {
        let o = Record::parse(rec)
            .map_err(|e| format!("stored record unreadable: {e}"))?
            .queue_offset();
        offsets.push(o as u64);
    }
    let visible_at = now_ms() + req.invisible_ms;
    let leases = s
        .pop
        .borrow_mut()
        .end_read(key, from, &offsets, next, visible_at);
    for ((rec, offset), lease) in r.records.into_iter().zip(offsets).zip(leases) {
        let Some(lease) = lease else {
            continue;
        };
        *bytes += rec.len();
        out.push(Popped {
            record: rec,
            queue_id: key.2,
            offset,
            lease,
        });
    }
    Ok(())
}

/// Copies a record to `%DLQ%<group>` (queue 0), keeping its id, properties and body.
pub async fn to_dlq(s: &Shard, group: &str, rec: &[u8], reconsume: u32) -> Result<(), String> {
    let r = Record::parse(rec).map_err(|e| format!("stored record unreadable: {e}"))?;
    let dlq = create_if_absent(s, TopicConfig::new(&dlq_topic(group), 1)).await?;
    let mut props = Properties::parse(&r.properties());
    props.set_if_absent(keys::RETRY_TOPIC, r.topic().into_owned());
    props.set(
        keys::ORIGIN_MESSAGE_ID,
        crate::protocol::message_id::offset_msg_id(r.store_host(), r.physical_offset()),
    );
    let m = NewMessage {
        topic: dlq.topic_name,
        queue_id: 0,
        flag: r.flag(),
        sys_flag: r.sys_flag() & !crate::protocol::sys_flag::TRANSACTION_ROLLBACK_TYPE,
        born_timestamp: r.born_timestamp(),
        born_host: r.born_host(),
        store_host: s.ident.store_host,
        reconsume_times: reconsume as i32,
        prepared_tx_offset: 0,
        body: Bytes::copy_from_slice(r.body()),
        properties: props.encode(),
    };
    s.store_routed(vec![m])
        .await
        .map(|_| ())
        .map_err(|r| format!("cannot store to the dead-letter queue: {}", r.remark))
}

/// Acks one delivery on its owner; answered once the ack is in the journal.
pub async fn ack(
    s: &Shard,
    group: &str,
    topic: &str,
    h: ReceiptHandle,
) -> Result<LeaseCheck, String> {
    let key: QueueKey = (group.to_owned(), topic.to_owned(), h.queue_id);
    let r = s.pop.borrow_mut().ack(&key, h.offset, h.lease);
    if r == LeaseCheck::Current {
        // The write starts before any other await, so a rotation of the journal either
        // sees this ack in the book's snapshot or gets the record in its new log.
        let journal = s.pop_journal.borrow().clone();
        let written = match journal {
            Some(j) => j.append(&key, h.offset).await,
            None => Ok(()),
        };
        commit(s, &key);
        // A FIFO queue may be unblocked now.
        s.waiters.notify(topic, h.queue_id);
        written?;
    }
    Ok(r)
}

/// Gives a delivery a new invisible time; the new lease, `None` for a stale handle.
pub fn change(
    s: &Shard,
    group: &str,
    topic: &str,
    h: ReceiptHandle,
    invisible_ms: i64,
) -> Option<Lease> {
    let key: QueueKey = (group.to_owned(), topic.to_owned(), h.queue_id);
    let l = s
        .pop
        .borrow_mut()
        .change(&key, h.offset, h.lease, now_ms() + invisible_ms);
    if invisible_ms == 0 {
        s.waiters.notify(topic, h.queue_id);
    }
    l
}

/// Moves a delivery's lease to `invisible_ms` from now, keeping its handle valid; `None`
/// when the handle is no longer the current delivery (acked, changed or redelivered).
pub fn extend(
    s: &Shard,
    group: &str,
    topic: &str,
    h: ReceiptHandle,
    invisible_ms: i64,
) -> Option<Lease> {
    let key: QueueKey = (group.to_owned(), topic.to_owned(), h.queue_id);
    let was = s.pop.borrow().lease(&key, h.offset)?.visible_at_ms;
    let at = now_ms() + invisible_ms;
    let l = s.pop.borrow_mut().extend(&key, h.offset, h.lease, at);
    if at < was {
        // A receive parked on this group computed its wake-up from the old time.
        s.waiters.notify(topic, h.queue_id);
    }
    l
}

/// Forwards a delivery to the group's DLQ and acks it.
pub async fn forward_to_dlq(
    s: Rc<Shard>,
    group: String,
    topic: String,
    h: ReceiptHandle,
) -> Result<LeaseCheck, String> {
    let key: QueueKey = (group.clone(), topic.clone(), h.queue_id);
    let Some(lease) = s
        .pop
        .borrow()
        .lease(&key, h.offset)
        .filter(|l| l.id == h.lease)
    else {
        return Ok(LeaseCheck::Stale);
    };
    if let Some(rec) = read_one(&s, &topic, h.queue_id, h.offset).await? {
        to_dlq(&s, &group, &rec, lease.attempt).await?;
    }
    ack(&s, &group, &topic, h).await
}

/// Parks until a message arrives on one of the topic's queues here, a lease of the group
/// runs out, or `timeout` passes.
pub async fn wait(s: Rc<Shard>, group: String, topic: String, timeout: Duration) {
    let mut t = timeout;
    if let Some(at) = s.pop.borrow().next_expiry(&group, &topic) {
        let left = (at - now_ms()).max(0) as u64;
        t = t.min(Duration::from_millis(left));
    }
    if !t.is_zero() {
        s.waiters.wait_topic(&topic, t).await;
    }
}
