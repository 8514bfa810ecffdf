//! Deciding a half message on the shard that holds it: commit (store it on its real
//! queue), roll back, or drop after too many check-backs; each with its op record.

use std::rc::Rc;

use super::book::NotOpen;
use super::{half_queue, op_queue};
use crate::broker::shard::Shard;
use crate::protocol::properties::{keys, Properties};
use crate::protocol::sys_flag::{with_transaction_type, TRANSACTION_COMMIT_TYPE};
use crate::protocol::topics::{
    TRANS_HALF_TOPIC, TRANS_OP_DONE_TAG, TRANS_OP_HALF_TOPIC, TRANS_SYSTEM_GROUP,
};
use crate::store::record::Record;
use crate::store::NewMessage;

/// A producer's decision (END_TRANSACTION), as checked against the stored half message.
#[derive(Debug, Clone)]
pub struct EndRequest {
    /// Physical offset of the half record (from the send's offset msgId).
    pub phys: i64,
    /// Its half-queue offset (the send's queueOffset).
    pub queue_offset: i64,
    /// The producer group deciding.
    pub group: String,
    /// Commit (true) or roll back.
    pub commit: bool,
}

/// What became of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndOutcome {
    /// Stored: committed (delivered) or rolled back.
    Done,
    /// The half message was decided before (a repeated END, or an answer to an old
    /// check-back): nothing changed.
    AlreadyDecided,
}

/// Why a decision was refused (RocketMQ's remarks where it has one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndError {
    /// No half message at that offset.
    #[error("Find prepared transaction message failed")]
    NotFound,
    /// The record there is not a half message of this producer group, or not at that
    /// queue offset.
    #[error("{0}")]
    Mismatch(String),
    /// The shard is still rebuilding its ledger after start.
    #[error("transactions of shard {0} are still loading; the half message will be checked back")]
    Loading(usize),
    /// Storing failed.
    #[error("{0}")]
    Store(String),
}

/// Runs on the shard holding the half record.
pub async fn end_on_owner(s: Rc<Shard>, req: EndRequest) -> Result<EndOutcome, EndError> {
    if !s.transactions.borrow().loaded() {
        return Err(EndError::Loading(s.id));
    }
    let bytes = s
        .store
        .read_by_physical(req.phys)
        .await
        .map_err(|e| EndError::Store(e.to_string()))?
        .ok_or(EndError::NotFound)?;
    let r = Record::parse(&bytes).map_err(|_| EndError::NotFound)?;
    if r.topic() != TRANS_HALF_TOPIC {
        return Err(EndError::Mismatch(format!(
            "the message at commit log offset {} is not a half message",
            req.phys
        )));
    }
    if r.queue_offset() != req.queue_offset {
        return Err(EndError::Mismatch(
            "The transaction state table offset wrong".into(),
        ));
    }
    let props = Properties::parse(&r.properties());
    if props.get(keys::PRODUCER_GROUP) != Some(req.group.as_str()) {
        return Err(EndError::Mismatch("The producer group wrong".into()));
    }
    let half = r.queue_offset() as u64;
    match s.transactions.borrow_mut().begin(half) {
        Ok(()) => {}
        Err(NotOpen::Decided | NotOpen::InFlight) => return Ok(EndOutcome::AlreadyDecided),
    }
    let mut records = Vec::with_capacity(2);
    if req.commit {
        match committed(&s, &r, props) {
            Some(m) => records.push(m),
            None => {
                s.transactions.borrow_mut().abort(half);
                return Err(EndError::Mismatch(
                    "the half message has no valid REAL_TOPIC/REAL_QID".into(),
                ));
            }
        }
    }
    records.push(op_record(&s, half));
    store_decision(&s, half, records).await?;
    s.transactions.borrow_mut().count(|c| {
        if req.commit {
            c.committed += 1;
        } else {
            c.rolled_back += 1;
        }
    });
    Ok(EndOutcome::Done)
}

/// Drops an overdue half message that was checked back too often: a copy goes to
/// TRANS_CHECK_MAX_TIME_TOPIC (where an operator finds it), then its op record.
pub async fn drop_half(s: &Rc<Shard>, half: u64, phys: i64) -> Result<(), EndError> {
    let bytes = s
        .store
        .read_by_physical(phys)
        .await
        .map_err(|e| EndError::Store(e.to_string()))?
        .ok_or(EndError::NotFound)?;
    let r = Record::parse(&bytes).map_err(|_| EndError::NotFound)?;
    if s.transactions.borrow_mut().begin(half).is_err() {
        return Ok(());
    }
    let mut copy = message_from(&r, Properties::parse(&r.properties()));
    copy.store_host = s.ident.store_host;
    copy.topic = crate::protocol::topics::TRANS_CHECK_MAX_TIME_TOPIC.to_owned();
    copy.queue_id = 0;
    let kept = async {
        let t = crate::protocol::body::TopicConfig::new(&copy.topic, 1);
        crate::broker::handlers::create_if_absent(s, t)
            .await
            .map_err(EndError::Store)?;
        s.store_routed(vec![copy])
            .await
            .map_err(|r| EndError::Store(r.remark))
    }
    .await;
    if let Err(e) = kept {
        s.transactions.borrow_mut().abort(half);
        return Err(e);
    }
    store_decision(s, half, vec![op_record(s, half)]).await?;
    s.transactions.borrow_mut().count(|c| c.dropped += 1);
    Ok(())
}

/// Appends a decision's records (on this shard: the real queue, the half and the op queue
/// are all its own) and settles the ledger.
async fn store_decision(s: &Shard, half: u64, records: Vec<NewMessage>) -> Result<(), EndError> {
    debug_assert!(records
        .iter()
        .all(|m| s.queue_owner(&m.topic, m.queue_id) == s.id));
    match s.append(records).await {
        Ok((results, _status)) => {
            // Stored (a sync timeout still stored it): the op record is the last one.
            let op = results.last().map_or(0, |a| a.queue_offset);
            s.transactions.borrow_mut().finish(half, op);
            save_progress(s);
            Ok(())
        }
        Err(e) => {
            s.transactions.borrow_mut().abort(half);
            Err(EndError::Store(e.to_string()))
        }
    }
}

/// Records the ledger's settled offsets with the consumer offsets (persisted with them).
pub(super) fn save_progress(s: &Shard) {
    let (half, ops) = s.transactions.borrow().progress();
    let mut offsets = s.offsets.borrow_mut();
    let hq = half_queue(s.id, s.shards);
    let oq = op_queue(s.id, s.shards);
    if offsets.get(TRANS_SYSTEM_GROUP, TRANS_HALF_TOPIC, hq) != Some(half as i64) {
        offsets.set(TRANS_SYSTEM_GROUP, TRANS_HALF_TOPIC, hq, half as i64);
    }
    if offsets.get(TRANS_SYSTEM_GROUP, TRANS_OP_HALF_TOPIC, oq) != Some(ops as i64) {
        offsets.set(TRANS_SYSTEM_GROUP, TRANS_OP_HALF_TOPIC, oq, ops as i64);
    }
}

/// The committed message: the half record on its real queue, committed.
fn committed(s: &Shard, r: &Record<'_>, mut props: Properties) -> Option<NewMessage> {
    let topic = props.remove(keys::REAL_TOPIC)?;
    let queue_id: i32 = props.remove(keys::REAL_QID)?.parse().ok()?;
    if s.queue_owner(&topic, queue_id) != s.id {
        return None;
    }
    let mut m = message_from(r, props);
    m.topic = topic;
    m.queue_id = queue_id;
    m.sys_flag = with_transaction_type(r.sys_flag(), TRANSACTION_COMMIT_TYPE);
    m.prepared_tx_offset = r.physical_offset();
    m.store_host = s.ident.store_host;
    Some(m)
}

/// The record's message with `props` (topic and queue as stored).
pub(super) fn message_from(r: &Record<'_>, props: Properties) -> NewMessage {
    NewMessage {
        topic: r.topic().into_owned(),
        queue_id: r.queue_id(),
        flag: r.flag(),
        sys_flag: r.sys_flag(),
        born_timestamp: r.born_timestamp(),
        born_host: r.born_host(),
        store_host: r.store_host(),
        reconsume_times: r.reconsume_times(),
        prepared_tx_offset: 0,
        body: bytes::Bytes::copy_from_slice(r.body()),
        properties: props.encode(),
    }
}

/// The op record deciding half offset `half` of this shard's half queue.
fn op_record(s: &Shard, half: u64) -> NewMessage {
    let mut props = Properties::default();
    props.set(keys::TAGS, TRANS_OP_DONE_TAG);
    NewMessage {
        topic: TRANS_OP_HALF_TOPIC.to_owned(),
        queue_id: op_queue(s.id, s.shards),
        flag: 0,
        sys_flag: 0,
        born_timestamp: crate::clock::now_ms(),
        born_host: s.ident.store_host,
        store_host: s.ident.store_host,
        reconsume_times: 0,
        prepared_tx_offset: 0,
        body: half.to_string().into_bytes().into(),
        properties: props.encode(),
    }
}

/// The half offset an op record decides.
pub(super) fn op_target(r: &Record<'_>) -> Option<u64> {
    std::str::from_utf8(r.body()).ok()?.trim().parse().ok()
}
