//! CONSUMER_SEND_MSG_BACK (36) — spec §2.7: a message the consumer failed goes to
//! `%RETRY%<group>` with a growing delay, or to `%DLQ%<group>` once it has been retried
//! `maxReconsumeTimes` times (or the client asks, delayLevel < 0).

use std::rc::Rc;

use super::topic_check::{self, create_if_absent};
use super::{HandlerError, Reply};
use crate::broker::delay;
use crate::broker::metadata::{dlq_topic, retry_topic};
use crate::broker::shard::Shard;
use crate::protocol::body::TopicConfig;
use crate::protocol::header::broker::ConsumerSendMsgBackRequestHeader;
use crate::protocol::message_id::offset_msg_id;
use crate::protocol::properties::{keys, Properties};
use crate::protocol::{RemotingCommand, ResponseCode};
use crate::remoting::Connection;
use crate::store::record::Record;
use crate::store::NewMessage;

/// 36.
pub async fn send_back(shard: &Rc<Shard>, _conn: &Connection, req: &RemotingCommand) -> Reply {
    let h: ConsumerSendMsgBackRequestHeader = req.header()?;
    let Some(group) = topic_check::group(shard, &h.group)
        .await
        .map_err(HandlerError::Meta)?
    else {
        return Ok(req.error(
            ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group not exist, {}", h.group),
        ));
    };
    if group.retry_queue_nums <= 0 {
        return Ok(req.success());
    }
    let Some(bytes) = super::view::record_at(shard, h.offset).await? else {
        return Ok(req.error(
            ResponseCode::SYSTEM_ERROR,
            format!("look message by offset failed, {}", h.offset),
        ));
    };
    let r =
        Record::parse(&bytes).map_err(|e| HandlerError::Body(format!("stored record: {e:?}")))?;
    let mut props = Properties::parse(&r.properties());
    props.set_if_absent(keys::RETRY_TOPIC, r.topic().into_owned());
    let origin = h
        .origin_msg_id
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| props.get(keys::UNIQ_KEY).map(str::to_owned))
        .unwrap_or_else(|| offset_msg_id(shard.ident.store_host, h.offset));
    props.set_if_absent(keys::ORIGIN_MESSAGE_ID, origin);
    props.remove(keys::DELAY);
    let times = r.reconsume_times();
    let max = h.max_reconsume_times.unwrap_or(group.retry_max_times);
    let mut m = NewMessage {
        topic: String::new(),
        queue_id: 0,
        flag: r.flag(),
        sys_flag: r.sys_flag(),
        born_timestamp: r.born_timestamp(),
        born_host: r.born_host(),
        store_host: shard.ident.store_host,
        reconsume_times: times + 1,
        prepared_tx_offset: 0,
        body: bytes::Bytes::copy_from_slice(r.body()),
        properties: String::new(),
    };
    if times >= max || h.delay_level < 0 {
        let dlq = create_if_absent(shard, TopicConfig::new(&dlq_topic(&h.group), 1))
            .await
            .map_err(HandlerError::Meta)?;
        m.topic = dlq.topic_name;
        tracing::info!(
            group = h.group,
            offset = h.offset,
            times,
            "message moved to the dead-letter queue"
        );
    } else {
        let retry = create_if_absent(
            shard,
            TopicConfig::new(&retry_topic(&h.group), group.retry_queue_nums),
        )
        .await
        .map_err(HandlerError::Meta)?;
        m.topic = retry.topic_name;
        m.queue_id = topic_check::random_queue(retry.write_queue_nums);
        let level = if h.delay_level == 0 {
            3 + times
        } else {
            h.delay_level
        };
        delay::park(&mut m, &mut props, level);
    }
    m.properties = props.encode();
    match shard.store_routed(vec![m]).await {
        Ok(_) => Ok(req.success()),
        Err(r) => Ok(req.error(r.code, r.remark)),
    }
}
