//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) — spec §2.3.
//!
//! Checks and auto-creation happen on the core holding the connection (against its copy of
//! the metadata); the messages then go to the core owning the queue, which stores them
//! (group commit) and wakes pulls parked on the queue.

use std::net::SocketAddr;
use std::rc::Rc;

use super::topic_check::{self, create_if_absent};
use super::{HandlerError, Reply};
use crate::broker::delay;
use crate::broker::metadata::{dlq_topic, is_not_allowed_send, topic_name_problem, RETRY_PREFIX};
use crate::broker::shard::Shard;
use crate::broker::{timer, transaction};
use crate::protocol::body::TopicConfig;
use crate::protocol::codes::perm;
use crate::protocol::header::broker::{SendMessageRequestHeader, SendMessageResponseHeader};
use crate::protocol::message_id::offset_msg_id;
use crate::protocol::properties::{keys, Properties};
use crate::protocol::topics::{TIMER_TOPIC, TRANS_HALF_TOPIC};
use crate::protocol::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::Connection;
use crate::store::record::MAX_PROPERTIES_BYTES;
use crate::store::shard_store::AppendResult;
use crate::store::NewMessage;

/// Serves 10 / 310 / 320.
pub async fn send(shard: &Rc<Shard>, conn: &Connection, req: &RemotingCommand) -> Reply {
    let h = SendMessageRequestHeader::from_request(req.code, &req.ext)?;
    let batch = req.code == RequestCode::SEND_BATCH_MESSAGE.code() || h.batch == Some(true);
    let cfg = shard.cfg();
    let fail = |code: ResponseCode, remark: String| Ok(req.error(code, remark));
    if let Some(p) = topic_name_problem(&h.topic) {
        return fail(ResponseCode::MESSAGE_ILLEGAL, p);
    }
    if is_not_allowed_send(&h.topic) {
        return fail(
            ResponseCode::NO_PERMISSION,
            format!("Sending message to topic[{}] is forbidden.", h.topic),
        );
    }
    if req.body.len() > cfg.max_message_size as usize {
        return fail(
            ResponseCode::MESSAGE_ILLEGAL,
            format!(
                "the message body size over max value, MAX: {}",
                cfg.max_message_size
            ),
        );
    }
    let props_text = h.properties.clone().unwrap_or_default();
    if props_text.len() > MAX_PROPERTIES_BYTES {
        return fail(
            ResponseCode::MESSAGE_ILLEGAL,
            format!("the message properties are longer than {MAX_PROPERTIES_BYTES} bytes"),
        );
    }
    if cfg.broker_permission as i32 & perm::WRITE == 0 {
        return fail(
            ResponseCode::NO_PERMISSION,
            format!(
                "the broker[{}] sending message is forbidden",
                cfg.broker_name
            ),
        );
    }
    let Some(tc) = topic_check::topic_for_send(
        shard,
        &h.topic,
        &h.default_topic,
        h.default_topic_queue_nums,
    )
    .await
    .map_err(HandlerError::Meta)?
    else {
        return fail(
            ResponseCode::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please!", h.topic),
        );
    };
    if tc.perm & perm::WRITE == 0 {
        return fail(
            ResponseCode::NO_PERMISSION,
            format!("the topic[{}] sending message is forbidden", h.topic),
        );
    }
    let queues = tc.read_queue_nums.max(tc.write_queue_nums);
    let mut qid = if h.queue_id < 0 {
        topic_check::random_queue(tc.write_queue_nums)
    } else {
        h.queue_id
    };
    if qid >= queues {
        return fail(
            ResponseCode::SYSTEM_ERROR,
            format!(
                "request queueId[{qid}] is illegal, topic[{}] has {queues} queues, Producer: {}",
                h.topic,
                conn.peer()
            ),
        );
    }
    let mut topic = h.topic.clone();
    let mut props = Properties::parse(&props_text);
    let half = transaction::is_half(&props);
    if half {
        if batch {
            return fail(
                ResponseCode::MESSAGE_ILLEGAL,
                "batch messages cannot be transactional".into(),
            );
        }
        let t = TopicConfig::new(TRANS_HALF_TOPIC, shard.shards as i32);
        create_if_absent(shard, t)
            .await
            .map_err(HandlerError::Meta)?;
    }
    let reconsume = h.reconsume_times.unwrap_or(0);
    if let Some(group) = topic.strip_prefix(RETRY_PREFIX).map(str::to_owned) {
        if batch {
            return fail(
                ResponseCode::MESSAGE_ILLEGAL,
                "batch messages cannot be sent to a retry topic".into(),
            );
        }
        let Some(g) = topic_check::group(shard, &group)
            .await
            .map_err(HandlerError::Meta)?
        else {
            return fail(
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!("subscription group not exist, {group}"),
            );
        };
        let max = h.max_reconsume_times.unwrap_or(g.retry_max_times);
        if reconsume >= max {
            let dlq = create_if_absent(shard, TopicConfig::new(&dlq_topic(&group), 1))
                .await
                .map_err(HandlerError::Meta)?;
            topic = dlq.topic_name;
            qid = 0;
            props.remove(keys::DELAY);
        }
    }
    props.remove(keys::WAIT);
    props.set(keys::CLUSTER, cfg.broker_cluster_name.clone());
    let base = NewMessage {
        topic,
        queue_id: qid,
        flag: h.flag,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        born_host: v4_peer(conn.peer()),
        store_host: shard.ident.store_host,
        reconsume_times: reconsume,
        prepared_tx_offset: 0,
        body: bytes::Bytes::new(),
        properties: String::new(),
    };
    let msgs = if batch {
        if props.get(keys::DELAY).is_some() {
            return fail(
                ResponseCode::MESSAGE_ILLEGAL,
                "batch messages cannot be delayed".into(),
            );
        }
        match decode_batch(&req.body, &base, &props) {
            Ok(m) if !m.is_empty() => m,
            Ok(_) => return fail(ResponseCode::MESSAGE_ILLEGAL, "empty batch".into()),
            Err(e) => return fail(ResponseCode::MESSAGE_ILLEGAL, e),
        }
    } else {
        let mut m = base;
        // Shares the request's buffer: the store copies the body once, into its log.
        m.body = req.body.clone();
        if half {
            transaction::prepare(&mut m, &mut props, shard.shards);
        } else if let Some(level) = props
            .get(keys::DELAY)
            .and_then(|d| d.trim().parse::<i32>().ok())
        {
            if level > 0 {
                delay::park(&mut m, &mut props, level);
            }
        } else {
            let now = crate::clock::now_ms();
            match timer::due_ms(&props, now, cfg.timer_max_delay_sec) {
                Err(e) => return fail(ResponseCode::MESSAGE_ILLEGAL, e),
                Ok(Some(due)) if due > now => {
                    create_if_absent(shard, TopicConfig::new(TIMER_TOPIC, shard.shards as i32))
                        .await
                        .map_err(HandlerError::Meta)?;
                    timer::park(&mut m, &mut props, due, shard.shards);
                }
                Ok(_) => {}
            }
        }
        m.properties = props.encode();
        vec![m]
    };
    // A delayed message reports its target queue; its offset there is not known yet. A
    // half message reports its real queue and its half-queue offset (END_TRANSACTION's
    // tranStateTableOffset).
    let reported_queue = match (
        delay::real_target(&msgs[0]).or_else(|| timer::real_target(&msgs[0])),
        transaction::real_queue(&msgs[0]),
    ) {
        (Some((_, q)), _) => (q, true),
        (None, Some(q)) => (q, false),
        (None, None) => (msgs[0].queue_id, false),
    };
    let owner = shard.queue_owner(&msgs[0].topic, msgs[0].queue_id);
    shard.note_send_owner(conn, owner);
    match shard.store_on(owner, msgs).await {
        Ok((results, status)) => Ok(response(shard, req, &results, reported_queue, status)),
        Err(r) => Ok(req.error(r.code, r.remark)),
    }
}

/// The success response: offset msgIds, queue and first offset.
fn response(
    shard: &Shard,
    req: &RemotingCommand,
    results: &[AppendResult],
    (queue_id, delayed): (i32, bool),
    status: ResponseCode,
) -> RemotingCommand {
    let host = shard.ident.store_host;
    let ids: Vec<String> = results
        .iter()
        .map(|a| offset_msg_id(host, a.physical_offset))
        .collect();
    let queue_offset = match results.first() {
        Some(a) if !delayed => a.queue_offset as i64,
        _ => -1,
    };
    let h = SendMessageResponseHeader {
        msg_id: ids.join(","),
        queue_id,
        queue_offset,
        msg_region: Some("DefaultRegion".into()),
        trace_on: Some("true".into()),
    };
    // FLUSH_DISK_TIMEOUT is a stored message with a non-OK status: same header.
    req.response_to(status, None).with_ext(h.to_ext())
}

/// IPv4-mapped IPv6 peers as IPv4 (ali-ons reads 4-byte hosts, spec §4.1).
pub fn v4_peer(peer: SocketAddr) -> SocketAddr {
    match peer {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(ip) => SocketAddr::new(ip.into(), v6.port()),
            None => peer,
        },
        v4 => v4,
    }
}

/// Splits a batch body (spec §4.3) into messages of the same queue. Each message's body
/// is a slice of the request's buffer, not a copy.
fn decode_batch(
    body: &bytes::Bytes,
    base: &NewMessage,
    batch_props: &Properties,
) -> Result<Vec<NewMessage>, String> {
    let mut out = Vec::new();
    for e in crate::protocol::body::batch::split(body)? {
        let mut props = Properties::parse(e.properties);
        props.remove(keys::WAIT);
        if let Some(c) = batch_props.get(keys::CLUSTER) {
            props.set(keys::CLUSTER, c);
        }
        let mut m = base.clone();
        m.flag = e.flag;
        m.body = body.slice_ref(e.body);
        m.properties = props.encode();
        out.push(m);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(flag: i32, body: &[u8], props: &str) -> Vec<u8> {
        let mut v = Vec::new();
        crate::protocol::body::batch::encode_entry(flag, body, props, &mut v);
        v
    }

    #[test]
    fn batch_bodies_split_and_bad_ones_are_named() {
        let host: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let base = NewMessage::new("T", 2, Vec::new(), host);
        let mut bp = Properties::default();
        bp.set(keys::CLUSTER, "c");
        let mut body = entry(7, b"one", "TAGS\u{1}a\u{2}WAIT\u{1}true");
        body.extend(entry(8, b"two!", ""));
        let frame = bytes::Bytes::from(body.clone());
        let ms = decode_batch(&frame, &base, &bp).unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!((ms[0].flag, &ms[0].body[..]), (7, &b"one"[..]));
        // The bodies are views of the request's buffer, not copies.
        assert!(frame.as_ptr_range().contains(&ms[1].body.as_ptr()));
        assert_eq!(ms[0].properties, "TAGS\u{1}a\u{2}CLUSTER\u{1}c");
        assert_eq!((ms[1].queue_id, ms[1].body.len()), (2, 4));
        for cut in [1, 10, body.len() - 1] {
            let cut = frame.slice(..cut);
            assert!(decode_batch(&cut, &base, &bp).is_err(), "cut {}", cut.len());
        }
        let mut bad = body.clone();
        bad[19] = 200; // body length past the entry
        assert!(decode_batch(&bad.into(), &base, &bp).is_err());
    }
}
