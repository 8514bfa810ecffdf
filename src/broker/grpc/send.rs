//! SendMessage and EndTransaction.
//!
//! A gRPC message becomes the same stored record a 4.x send makes: the client's
//! `message_id` is kept as `UNIQ_KEY` (what 4.x consumers see as the msgId), tag and keys
//! become `TAGS`/`KEYS`, `message_group` becomes `__SHARDINGKEY`. The broker picks the
//! queue, as RocketMQ's proxy: a FIFO message by the hash of its group (Java's
//! `String.hashCode`, so a group keeps its queue under either), others at random. A GZIP
//! body is stored inflated, so 4.x consumers read it as sent.

use std::io::Read;
use std::rc::Rc;

use crate::broker::shard::Shard;

use bytes::Bytes;

use super::route::accepted_types;
use super::server::Call;
use super::{name_of, ok, status};
use crate::broker::handlers::send::v4_peer;
use crate::broker::handlers::topic_check::{self, create_if_absent};
use crate::broker::metadata::is_not_allowed_send;
use crate::broker::transaction::{self, end_on_owner, EndOutcome, EndRequest};
use crate::protocol::body::TopicConfig;
use crate::protocol::codes::perm;
use crate::protocol::grpc::v2;
use crate::protocol::properties::{keys, Properties};
use crate::protocol::topics::{TIMER_TOPIC, TRANS_HALF_TOPIC};
use crate::store::commitlog::split_physical;
use crate::store::NewMessage;

/// Property holding a FIFO message's group (RocketMQ's `__SHARDINGKEY`).
pub const SHARDING_KEY: &str = "__SHARDINGKEY";
/// The topic new topics copy when auto-created.
const TEMPLATE_TOPIC: &str = "TBW102";
/// Queues an auto-created topic asks for (the proxy's `defaultTopicQueueNums`).
const AUTO_CREATE_QUEUES: i32 = 4;

/// Java's `String.hashCode` over UTF-16 units.
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

type Refusal = v2::Status;

fn refuse(code: v2::Code, message: String) -> Refusal {
    v2::Status {
        code: code as i32,
        message,
    }
}

/// SendMessage: one entry per message.
pub async fn send_message(call: Rc<Call>, req: v2::SendMessageRequest) -> v2::SendMessageResponse {
    if req.messages.is_empty() {
        return v2::SendMessageResponse {
            status: status(v2::Code::BadRequest, "SendMessage carried no message"),
            entries: Vec::new(),
        };
    }
    let mut entries = Vec::with_capacity(req.messages.len());
    let mut first_failure = None;
    for m in req.messages {
        let id = m
            .system_properties
            .as_ref()
            .map(|p| p.message_id.clone())
            .unwrap_or_default();
        let entry = match send_one(&call, m).await {
            Ok(e) => e,
            Err(s) => {
                first_failure.get_or_insert_with(|| s.clone());
                v2::SendResultEntry {
                    status: Some(s),
                    message_id: id,
                    ..Default::default()
                }
            }
        };
        entries.push(entry);
    }
    v2::SendMessageResponse {
        status: first_failure.map_or_else(ok, Some),
        entries,
    }
}

fn inflate_gzip(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .map_err(|e| format!("body_encoding is GZIP but the body does not inflate: {e}"))?;
    Ok(out)
}

async fn send_one(call: &Call, m: v2::Message) -> Result<v2::SendResultEntry, Refusal> {
    let shard = &call.shard;
    let cfg = shard.cfg();
    let topic = name_of(&m.topic, "message.topic")?;
    let sys = m.system_properties.ok_or_else(|| {
        refuse(
            v2::Code::BadRequest,
            "message.system_properties is missing".into(),
        )
    })?;
    if sys.message_id.is_empty() {
        return Err(refuse(
            v2::Code::IllegalMessageId,
            "message.system_properties.message_id is empty".into(),
        ));
    }
    if is_not_allowed_send(&topic) {
        return Err(refuse(
            v2::Code::Forbidden,
            format!("sending to topic {topic} is forbidden"),
        ));
    }
    let body = match v2::Encoding::try_from(sys.body_encoding) {
        Ok(v2::Encoding::Gzip) => {
            inflate_gzip(&m.body).map_err(|e| refuse(v2::Code::BadRequest, e))?
        }
        _ => m.body,
    };
    if body.len() > cfg.max_message_size as usize {
        return Err(refuse(
            v2::Code::MessageBodyTooLarge,
            format!(
                "message body of {} bytes is past maxMessageSize {}",
                body.len(),
                cfg.max_message_size
            ),
        ));
    }
    if cfg.broker_permission as i32 & perm::WRITE == 0 {
        return Err(refuse(
            v2::Code::Forbidden,
            format!("broker {} does not take messages now", cfg.broker_name),
        ));
    }
    let tc = topic_check::topic_for_send(shard, &topic, TEMPLATE_TOPIC, AUTO_CREATE_QUEUES)
        .await
        .map_err(|e| refuse(v2::Code::InternalServerError, e))?
        .ok_or_else(|| refuse(v2::Code::TopicNotFound, format!("topic {topic} not found")))?;
    if tc.perm & perm::WRITE == 0 || tc.write_queue_nums <= 0 {
        return Err(refuse(
            v2::Code::Forbidden,
            format!("topic {topic} is not writable"),
        ));
    }
    let kind = v2::MessageType::try_from(sys.message_type).unwrap_or(v2::MessageType::Normal);
    let kind = if kind == v2::MessageType::Unspecified {
        v2::MessageType::Normal
    } else {
        kind
    };
    if !accepted_types(&tc).contains(&kind) {
        return Err(refuse(
            v2::Code::MessagePropertyConflictWithType,
            format!(
                "topic {topic} does not take {} messages (its message.type is {})",
                kind.as_str_name(),
                tc.attributes
                    .get(super::route::MESSAGE_TYPE_ATTRIBUTE)
                    .map_or("unset", String::as_str)
            ),
        ));
    }
    let group = sys.message_group.clone().filter(|g| !g.is_empty());
    let qid = match &group {
        Some(g) => java_hash(g).rem_euclid(tc.write_queue_nums),
        None => topic_check::random_queue(tc.write_queue_nums),
    };
    let mut props = Properties::default();
    for (k, v) in &m.user_properties {
        props.set(k, v.clone());
    }
    props.set(keys::UNIQ_KEY, sys.message_id.clone());
    if let Some(tag) = sys.tag.as_ref().filter(|t| !t.is_empty()) {
        props.set(keys::TAGS, tag.clone());
    }
    if !sys.keys.is_empty() {
        props.set(keys::KEYS, sys.keys.join(" "));
    }
    if let Some(g) = &group {
        props.set(SHARDING_KEY, g.clone());
    }
    if let Some(tc) = sys.trace_context.as_ref().filter(|t| !t.is_empty()) {
        props.set("TRACE_CONTEXT", tc.clone());
    }
    props.set(keys::CLUSTER, cfg.broker_cluster_name.clone());
    let born = sys
        .born_timestamp
        .as_ref()
        .map_or_else(crate::clock::now_ms, |t| {
            t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
        });
    let mut msg = NewMessage {
        topic: tc.topic_name.clone(),
        queue_id: qid,
        flag: 0,
        sys_flag: 0,
        born_timestamp: born,
        born_host: v4_peer(call.peer),
        store_host: shard.ident.store_host,
        reconsume_times: 0,
        prepared_tx_offset: 0,
        body: Bytes::from(body),
        properties: String::new(),
    };
    let half = kind == v2::MessageType::Transaction;
    if let Some(at) = sys.delivery_timestamp.as_ref() {
        if half {
            return Err(refuse(
                v2::Code::BadRequest,
                "a transactional message cannot have a delivery_timestamp".into(),
            ));
        }
        let due = at.seconds.saturating_mul(1000) + i64::from(at.nanos) / 1_000_000;
        props.set(keys::TIMER_DELIVER_MS, due.to_string());
    }
    let now = crate::clock::now_ms();
    let timer_due = crate::broker::timer::due_ms(&props, now, cfg.timer_max_delay_sec)
        .map_err(|e| refuse(v2::Code::IllegalDeliveryTime, e))?
        .filter(|due| *due > now);
    if half {
        props.set(keys::TRAN_MSG, "true");
        props.set(keys::PRODUCER_GROUP, topic.clone());
        create_if_absent(
            shard,
            TopicConfig::new(TRANS_HALF_TOPIC, shard.shards as i32),
        )
        .await
        .map_err(|e| refuse(v2::Code::InternalServerError, e))?;
        transaction::prepare(&mut msg, &mut props, shard.shards);
    }
    if let Some(due) = timer_due {
        create_if_absent(shard, TopicConfig::new(TIMER_TOPIC, shard.shards as i32))
            .await
            .map_err(|e| refuse(v2::Code::InternalServerError, e))?;
        crate::broker::timer::park(&mut msg, &mut props, due, shard.shards);
    }
    msg.properties = props.encode();
    if msg.properties.len() > crate::store::record::MAX_PROPERTIES_BYTES {
        return Err(refuse(
            v2::Code::MessagePropertiesTooLarge,
            "message properties are too large".into(),
        ));
    }
    let (results, code) = shard.store_routed(vec![msg]).await.map_err(|r| {
        refuse(
            v2::Code::InternalServerError,
            format!("{}: {}", r.code.code(), r.remark),
        )
    })?;
    let Some(a) = results.first() else {
        return Err(refuse(
            v2::Code::InternalServerError,
            "nothing stored".into(),
        ));
    };
    if code != crate::protocol::ResponseCode::SUCCESS {
        let c = match code {
            crate::protocol::ResponseCode::FLUSH_DISK_TIMEOUT => v2::Code::MasterPersistenceTimeout,
            crate::protocol::ResponseCode::FLUSH_SLAVE_TIMEOUT => v2::Code::SlavePersistenceTimeout,
            _ => v2::Code::HaNotAvailable,
        };
        return Err(refuse(c, format!("stored, but {code:?}")));
    }
    Ok(v2::SendResultEntry {
        status: ok(),
        message_id: sys.message_id,
        transaction_id: if half {
            transaction_id(a.physical_offset, a.queue_offset as i64)
        } else {
            String::new()
        },
        // A timer message's offset on its real queue is not known until it is due.
        offset: if timer_due.is_some() {
            -1
        } else {
            a.queue_offset as i64
        },
        recall_handle: String::new(),
    })
}

/// A transaction id that names its half record (no table to lose on restart).
fn transaction_id(phys: i64, queue_offset: i64) -> String {
    format!("{phys:x}.{queue_offset:x}")
}

fn parse_transaction_id(id: &str) -> Option<(i64, i64)> {
    let (p, q) = id.split_once('.')?;
    Some((
        i64::from_str_radix(p, 16).ok()?,
        i64::from_str_radix(q, 16).ok()?,
    ))
}

/// EndTransaction: commits or rolls back the half message the id names.
pub async fn end_transaction(
    call: Rc<Call>,
    req: v2::EndTransactionRequest,
) -> v2::EndTransactionResponse {
    let reply = |code, msg: String| v2::EndTransactionResponse {
        status: status(code, msg),
    };
    let topic = match name_of(&req.topic, "topic") {
        Ok(t) => t,
        Err(s) => return v2::EndTransactionResponse { status: Some(s) },
    };
    let commit = match v2::TransactionResolution::try_from(req.resolution) {
        Ok(v2::TransactionResolution::Commit) => true,
        Ok(v2::TransactionResolution::Rollback) => false,
        _ => {
            return reply(
                v2::Code::Ok,
                "resolution unspecified: it will be checked back".into(),
            )
        }
    };
    let Some((phys, queue_offset)) = parse_transaction_id(&req.transaction_id) else {
        return reply(
            v2::Code::InvalidTransactionId,
            format!(
                "transaction id {:?} was not issued by this broker",
                req.transaction_id
            ),
        );
    };
    let Some(owner) = split_physical(phys)
        .map(|(s, _)| s as usize)
        .filter(|s| *s < call.shard.shards)
    else {
        return reply(
            v2::Code::InvalidTransactionId,
            format!("transaction id {:?} names no shard", req.transaction_id),
        );
    };
    let d = EndRequest {
        phys,
        queue_offset,
        group: topic,
        commit,
    };
    match call
        .shard
        .run_on(owner, move |s| async move { end_on_owner(s, d).await })
        .await
    {
        Ok(Ok(EndOutcome::Done | EndOutcome::AlreadyDecided)) => {
            v2::EndTransactionResponse { status: ok() }
        }
        Ok(Err(e)) => reply(v2::Code::InvalidTransactionId, e.to_string()),
        Err(e) => reply(v2::Code::InternalServerError, e.to_string()),
    }
}

/// Asks a RocketMQ 5 producer of `topic` (its own producer group) to resolve a half
/// message: `RecoverOrphanedTransactionCommand` on its Telemetry stream, on whichever core
/// holds it. False when no such producer is connected.
pub async fn check_back_over_telemetry(
    shard: &Shard,
    half: &crate::store::record::Record<'_>,
    topic: &str,
    queue_id: i32,
    half_offset: u64,
    phys: i64,
) -> Result<bool, String> {
    let d = super::convert::Delivery {
        receipt_handle: String::new(),
        attempt: 1,
        invisible_ms: 0,
    };
    let mut msg = super::convert::to_message(half, &d);
    msg.topic = Some(v2::Resource {
        resource_namespace: String::new(),
        name: topic.to_owned(),
    });
    if let Some(sp) = msg.system_properties.as_mut() {
        sp.queue_id = queue_id;
        sp.message_type = v2::MessageType::Transaction as i32;
        sp.receipt_handle = None;
    }
    let cmd = v2::TelemetryCommand {
        status: ok(),
        command: Some(
            v2::telemetry_command::Command::RecoverOrphanedTransactionCommand(
                v2::RecoverOrphanedTransactionCommand {
                    message: Some(msg),
                    transaction_id: transaction_id(phys, half_offset as i64),
                },
            ),
        ),
    };
    for i in 0..shard.shards {
        let (cmd, topic) = (cmd.clone(), topic.to_owned());
        let sent = shard
            .run_on(i, move |s| async move {
                let w = s.grpc_clients.borrow().producer_stream(&topic);
                w.is_some_and(|w| w.send(&cmd))
            })
            .await
            .map_err(|e| e.to_string())?;
        if sent {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_java() {
        // "hello".hashCode() == 99162322, "".hashCode() == 0, "polygenelubricants" < 0.
        assert_eq!(java_hash("hello"), 99_162_322);
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn transaction_ids_round_trip() {
        let id = transaction_id(0x1_0000_0042, 7);
        assert_eq!(parse_transaction_id(&id), Some((0x1_0000_0042, 7)));
        assert_eq!(parse_transaction_id("x.y"), None);
    }
}
