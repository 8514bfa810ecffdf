//! The shard's transaction chores: rebuilding its ledger at start from the op records
//! after the saved offsets, then, every `transactionCheckInterval`, finding half messages
//! undecided past `transactionTimeOut` (or their own `CHECK_IMMUNITY_TIME_IN_SECONDS`),
//! asking their producer group with CHECK_TRANSACTION_STATE, and dropping those asked
//! `transactionCheckMax` times.

use std::rc::Rc;
use std::time::Duration;

use super::book::TxBook;
use super::decide::{drop_half, message_from, op_target, save_progress};
use super::{half_queue, op_queue};
use crate::broker::shard::Shard;
use crate::config::broker::BrokerConfig;
use crate::protocol::header::broker::CheckTransactionStateRequestHeader;
use crate::protocol::message_id::offset_msg_id;
use crate::protocol::properties::{keys, Properties};
use crate::protocol::topics::{TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC, TRANS_SYSTEM_GROUP};
use crate::protocol::{RemotingCommand, RequestCode};
use crate::store::record::{self, Record};
use crate::store::shard_store::{GetStatus, ReadLimits};

/// Half records looked at per check round at most (the rest wait for the next round).
pub const MAX_CHECK_SCAN_RECORDS: u64 = 100_000;
/// One read of the half or op queue.
const SCAN_LIMITS: ReadLimits = ReadLimits {
    max_msgs: 256,
    max_bytes: 1 << 20,
};

/// Rebuilds this shard's ledger, then starts its check-back task (masters only).
pub async fn start(shard: &Rc<Shard>) -> Result<(), String> {
    load(shard)
        .await
        .map_err(|e| format!("shard {}: loading transactions: {e}", shard.id))?;
    glommio::spawn_local(run(shard.clone())).detach();
    Ok(())
}

async fn load(s: &Rc<Shard>) -> Result<(), String> {
    let hq = half_queue(s.id, s.shards);
    let oq = op_queue(s.id, s.shards);
    let (hmin, hmax) = s.store.queue_offsets(TRANS_HALF_TOPIC, hq);
    let (omin, omax) = s.store.queue_offsets(TRANS_OP_HALF_TOPIC, oq);
    let saved = |topic: &str, qid: i32| {
        s.offsets
            .borrow()
            .get(TRANS_SYSTEM_GROUP, topic, qid)
            .unwrap_or(0)
            .max(0) as u64
    };
    // Offsets are saved apart from the log: clamp to what the log kept (retention below,
    // an ASYNC_FLUSH crash above).
    let half_from = saved(TRANS_HALF_TOPIC, hq).clamp(hmin, hmax);
    let ops_from = saved(TRANS_OP_HALF_TOPIC, oq).clamp(omin, omax);
    let mut book = TxBook::start(half_from, ops_from);
    let mut at = ops_from;
    let mut folded = 0u64;
    while at < omax {
        let got = s
            .store
            .read(TRANS_OP_HALF_TOPIC, oq, at, SCAN_LIMITS, |_| true)
            .await
            .map_err(|e| e.to_string())?;
        for bytes in &got.records {
            match Record::parse(bytes) {
                Ok(r) => match op_target(&r) {
                    Some(half) => {
                        book.note_op(r.queue_offset() as u64, half);
                        folded += 1;
                    }
                    None => tracing::warn!(shard = s.id, "op record without a half offset"),
                },
                Err(e) => tracing::warn!(shard = s.id, "unreadable op record skipped: {e:?}"),
            }
        }
        if got.next_offset <= at {
            break;
        }
        at = got.next_offset;
    }
    book.mark_loaded();
    *s.transactions.borrow_mut() = book;
    save_progress(s);
    if hmax > half_from {
        tracing::info!(
            shard = s.id,
            half_messages = hmax - half_from,
            op_records = folded,
            "transactions loaded"
        );
    }
    Ok(())
}

async fn run(s: Rc<Shard>) {
    loop {
        let cfg = s.cfg();
        glommio::timer::sleep(Duration::from_millis(cfg.transaction_check_interval)).await;
        if s.closing.get() {
            return;
        }
        if let Err(e) = check_round(&s, &cfg).await {
            tracing::warn!(shard = s.id, "transaction check round failed: {e}");
        }
    }
}

/// One round: find newly overdue half messages, then ask about (or drop) each overdue one.
async fn check_round(s: &Rc<Shard>, cfg: &BrokerConfig) -> Result<(), String> {
    scan(s, cfg).await?;
    let overdue = s.transactions.borrow().overdue();
    for (half, d) in overdue {
        if s.transactions.borrow().is_decided(half) {
            continue;
        }
        if d.checks >= cfg.transaction_check_max {
            match drop_half(s, half, d.phys).await {
                Ok(()) => tracing::warn!(
                    shard = s.id,
                    half_offset = half,
                    offset_msg_id = offset_msg_id(s.ident.store_host, d.phys),
                    checks = d.checks,
                    "half message dropped after transactionCheckMax check-backs; a copy is on TRANS_CHECK_MAX_TIME_TOPIC"
                ),
                Err(e) => tracing::warn!(shard = s.id, half_offset = half, "dropping a half message failed: {e}"),
            }
            continue;
        }
        if let Err(e) = check_back(s, half, d.phys).await {
            tracing::info!(
                shard = s.id,
                half_offset = half,
                "transaction check-back not sent: {e}"
            );
        }
        // Counted either way: a producer group with nobody online is still asked in vain.
        s.transactions.borrow_mut().checked(half);
    }
    save_progress(s);
    Ok(())
}

/// Reads the half queue from where the last round stopped, up to the first half message
/// that is not overdue yet (store order is time order).
async fn scan(s: &Rc<Shard>, cfg: &BrokerConfig) -> Result<(), String> {
    let hq = half_queue(s.id, s.shards);
    let now = crate::clock::now_ms();
    let mut looked = 0u64;
    while looked < MAX_CHECK_SCAN_RECORDS {
        let at = s.transactions.borrow().scanned_below();
        let got = s
            .store
            .read(TRANS_HALF_TOPIC, hq, at, SCAN_LIMITS, |_| true)
            .await
            .map_err(|e| e.to_string())?;
        match got.status {
            GetStatus::Found => {}
            GetStatus::OffsetTooSmall | GetStatus::NoMatchedMessage if got.next_offset > at => {
                // Retention removed old half messages: they are gone, so decided.
                for o in at..got.next_offset {
                    s.transactions.borrow_mut().scanned(o, None);
                }
                continue;
            }
            _ => return Ok(()),
        }
        for bytes in &got.records {
            let Ok(r) = Record::parse(bytes) else {
                return Err(format!("unreadable half record at queue offset {at}"));
            };
            let props = Properties::parse(&r.properties());
            let timeout_ms = props
                .get(keys::CHECK_IMMUNITY_TIME_IN_SECONDS)
                .and_then(|v| v.parse::<i64>().ok())
                .map_or(cfg.transaction_time_out as i64, |secs| secs * 1000);
            if now - r.store_timestamp() < timeout_ms {
                return Ok(());
            }
            let offset = r.queue_offset() as u64;
            let undecided = !s.transactions.borrow().is_decided(offset);
            s.transactions
                .borrow_mut()
                .scanned(offset, undecided.then_some(r.physical_offset()));
            looked += 1;
        }
    }
    Ok(())
}

/// Sends CHECK_TRANSACTION_STATE for one half message to a connection of its producer
/// group (any core's).
async fn check_back(s: &Rc<Shard>, half: u64, phys: i64) -> Result<(), String> {
    let bytes = s
        .store
        .read_by_physical(phys)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the half message is no longer stored")?;
    let r = Record::parse(&bytes).map_err(|e| format!("unreadable half record: {e:?}"))?;
    let props = Properties::parse(&r.properties());
    let group = props
        .get(keys::PRODUCER_GROUP)
        .ok_or("the half message names no producer group (PGROUP)")?
        .to_owned();
    // The client reads the message as it was sent: real topic and queue.
    let mut m = message_from(&r, props.clone());
    if let Some(t) = props.get(keys::REAL_TOPIC) {
        m.topic = t.to_owned();
    }
    if let Some(q) = props.get(keys::REAL_QID).and_then(|q| q.parse().ok()) {
        m.queue_id = q;
    }
    let mut body = Vec::with_capacity(bytes.len() + 64);
    record::encode(&m, half as i64, phys, r.store_timestamp(), &mut body);
    // The CRC trailer is coremq's own; clients read the record alone.
    body.truncate(body.len() - record::TRAILER_BYTES);
    let uniq = props.get(keys::UNIQ_KEY).map(str::to_owned);
    let header = CheckTransactionStateRequestHeader {
        topic: Some(m.topic.clone()),
        tran_state_table_offset: half as i64,
        commit_log_offset: phys,
        msg_id: uniq.clone(),
        transaction_id: props.get(keys::TRANSACTION_ID).map(str::to_owned).or(uniq),
        offset_msg_id: Some(offset_msg_id(s.ident.store_host, phys)),
    };
    let cmd = RemotingCommand::request_with(RequestCode::CHECK_TRANSACTION_STATE.code(), &header)
        .with_body(body);
    let g = group.clone();
    let found = s
        .find_connection(move |local| local.producer_group_connection(&g))
        .await
        .map_err(|e| e.to_string())?;
    let Some((target, conn_id)) = found else {
        // RocketMQ 5 producers: the group is the topic, asked over their Telemetry stream.
        if crate::broker::grpc::send::check_back_over_telemetry(
            s, &r, &m.topic, m.queue_id, half, phys,
        )
        .await?
        {
            return Ok(());
        }
        return Err(format!("no producer of group {group} is connected"));
    };
    s.oneway_on_conn(target, conn_id, cmd)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("producer group {group}: {e}"))
}
