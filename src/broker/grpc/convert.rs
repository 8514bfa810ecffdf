//! A stored record as the gRPC `Message` a 5.x consumer receives.
//!
//! Whatever client sent it: a 4.x message's `UNIQ_KEY` is its id, its `TAGS`/`KEYS` are
//! tag and keys, its other non-system properties are user properties, and a
//! zlib-compressed 4.x body is inflated here (sent as IDENTITY) because the Node SDK
//! only gunzips. The body digest is MD5 in uppercase hex, the one both SDKs check alike.

use std::io::Read;

use md5::{Digest as _, Md5};

use super::send::SHARDING_KEY;
use super::{ms_duration, ms_timestamp};
use crate::protocol::grpc::v2;
use crate::protocol::message_id::offset_msg_id;
use crate::protocol::properties::{keys, Properties};
use crate::store::record::Record;

/// The 4.x sys-flag bit of a compressed body.
const SYSFLAG_COMPRESSED: i32 = 0x1;

/// Properties RocketMQ reserves (`MessageConst.STRING_HASH_SET` and 5.x's additions):
/// never shown to a gRPC client as user properties.
const SYSTEM_KEYS: &[&str] = &[
    "TRACE_ON",
    "MSG_REGION",
    "KEYS",
    "TAGS",
    "WAIT",
    "DELAY",
    "RETRY_TOPIC",
    "REAL_TOPIC",
    "REAL_QID",
    "TRAN_MSG",
    "PGROUP",
    "MIN_OFFSET",
    "MAX_OFFSET",
    "BUYER_ID",
    "ORIGIN_MESSAGE_ID",
    "TRANSFER_FLAG",
    "CORRECTION_FLAG",
    "MQ2_FLAG",
    "RECONSUME_TIME",
    "UNIQ_KEY",
    "MAX_RECONSUME_TIMES",
    "CONSUME_START_TIME",
    "__transactionId__",
    "TRAN_PREPARED_QUEUE_OFFSET",
    "CHECK_IMMUNITY_TIME_IN_SECONDS",
    "INSTANCE_ID",
    "CORRELATION_ID",
    "REPLY_TO_CLIENT",
    "TTL",
    "ARRIVE_TIME",
    "PUSH_REPLY_TIME",
    "CLUSTER",
    "MSG_TYPE",
    "__SHARDINGKEY",
    "TIMER_DELIVER_MS",
    "TIMER_DELAY_SEC",
    "TIMER_DELAY_MS",
    "TIMER_OUT_MS",
    "TIMER_ENQUEUE_MS",
    "TIMER_DEQUEUE_MS",
    "TIMER_ROLL_TIMES",
    "TRACE_CONTEXT",
    "1ST_POP_TIME",
    "POP_CK",
    "POP_CK_OFFSET",
    "INNER_NUM",
    "INNER_BASE",
    "DUP_INFO",
    "BORN_HOST",
];

/// The uppercase hex MD5 of a body.
pub fn md5_hex(body: &[u8]) -> String {
    Md5::digest(body)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// What the receive adds to a stored message.
pub struct Delivery {
    /// The receipt handle.
    pub receipt_handle: String,
    /// Deliveries so far, this one included.
    pub attempt: u32,
    /// The lease length, ms.
    pub invisible_ms: i64,
}

/// The gRPC message of a stored record.
pub fn to_message(rec: &Record<'_>, d: &Delivery) -> v2::Message {
    let props = Properties::parse(&rec.properties());
    let mut body = rec.body().to_vec();
    if rec.sys_flag() & SYSFLAG_COMPRESSED != 0 {
        let mut out = Vec::new();
        if flate2::read::ZlibDecoder::new(rec.body())
            .read_to_end(&mut out)
            .is_ok()
        {
            body = out;
        }
    }
    let message_id = props.get(keys::UNIQ_KEY).map_or_else(
        || offset_msg_id(rec.store_host(), rec.physical_offset()),
        str::to_owned,
    );
    let group = props.get(SHARDING_KEY).map(str::to_owned);
    let kind = if props.get(keys::TRAN_MSG).is_some() {
        v2::MessageType::Transaction
    } else if group.is_some() {
        v2::MessageType::Fifo
    } else if props.get(keys::TIMER_DELIVER_MS).is_some() || props.get(keys::DELAY).is_some() {
        v2::MessageType::Delay
    } else {
        v2::MessageType::Normal
    };
    let user_properties = props
        .iter()
        .filter(|(k, _)| !SYSTEM_KEYS.contains(k))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let store_host = rec.store_host();
    v2::Message {
        topic: Some(v2::Resource {
            resource_namespace: String::new(),
            name: rec.topic().into_owned(),
        }),
        user_properties,
        system_properties: Some(v2::SystemProperties {
            tag: props.get(keys::TAGS).map(str::to_owned),
            keys: props
                .get(keys::KEYS)
                .map(|k| {
                    k.split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            message_id,
            body_digest: Some(v2::Digest {
                r#type: v2::DigestType::Md5 as i32,
                checksum: md5_hex(&body),
            }),
            body_encoding: v2::Encoding::Identity as i32,
            message_type: kind as i32,
            born_timestamp: Some(ms_timestamp(rec.born_timestamp())),
            born_host: rec.born_host().ip().to_string(),
            store_timestamp: Some(ms_timestamp(rec.store_timestamp())),
            store_host: store_host.to_string(),
            delivery_timestamp: props
                .get("TIMER_DELIVER_MS")
                .and_then(|v| v.parse().ok())
                .map(ms_timestamp),
            receipt_handle: Some(d.receipt_handle.clone()),
            queue_id: rec.queue_id(),
            queue_offset: Some(rec.queue_offset()),
            invisible_duration: Some(ms_duration(d.invisible_ms)),
            delivery_attempt: Some(d.attempt as i32),
            message_group: group,
            trace_context: props.get("TRACE_CONTEXT").map(str::to_owned),
            ..Default::default()
        }),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_is_uppercase_hex() {
        assert_eq!(md5_hex(b""), "D41D8CD98F00B204E9800998ECF8427E");
        assert_eq!(md5_hex(b"abc"), "900150983CD24FB0D6963F7D28E17F72");
    }
}
