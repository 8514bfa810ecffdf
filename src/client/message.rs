//! Messages as consumers receive them: a PULL_MESSAGE body split into records, bodies
//! inflated when the producer compressed them, and retry-topic messages shown under the
//! topic they were first sent to (as RocketMQ's consumers do).

use std::io::Read as _;
use std::net::SocketAddr;

use crate::protocol::message_id::offset_msg_id;
use crate::protocol::properties::{keys, Properties};
use crate::store::record::Record;

/// The sysflag bit a producer sets on a zlib-compressed body.
const SYSFLAG_COMPRESSED: i32 = 0x1;

impl Received {
    /// A message redelivered through `%RETRY%<group>` shown under the topic it was first
    /// sent to, as RocketMQ's push consumers show it.
    pub fn restore_retry_topic(&mut self) {
        if self
            .topic
            .starts_with(crate::protocol::topics::RETRY_PREFIX)
        {
            if let Some(t) = self.properties.get(keys::RETRY_TOPIC) {
                self.topic = t.to_owned();
            }
        }
    }
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    /// Topic as stored (see [`Received::restore_retry_topic`]).
    pub topic: String,
    /// Queue.
    pub queue_id: i32,
    /// Offset in the queue.
    pub queue_offset: i64,
    /// UNIQ_KEY, else the offset message id.
    pub msg_id: String,
    /// The offset message id (store host and physical offset).
    pub offset_msg_id: String,
    /// Physical offset, as CONSUMER_SEND_MSG_BACK names the message.
    pub commit_log_offset: i64,
    /// Times the broker redelivered it.
    pub reconsume_times: i32,
    /// Tag.
    pub tags: String,
    /// Keys.
    pub keys: String,
    /// All properties, user ones included.
    pub properties: Properties,
    /// Body (decompressed).
    pub body: Vec<u8>,
    /// Producer time, ms.
    pub born_timestamp: i64,
    /// Broker time, ms.
    pub store_timestamp: i64,
    /// The broker that stored it.
    pub store_host: SocketAddr,
    /// The producer's address.
    pub born_host: SocketAddr,
    /// Stored sysFlag (compression, transaction bits).
    pub sys_flag: i32,
    /// The producer's flag (user data).
    pub flag: i32,
}

/// Splits a pull body into messages; false with them when a record does not parse (the
/// list ends before it).
pub fn decode_pull_body(body: &[u8]) -> (Vec<Received>, bool) {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= body.len() {
        let size = i32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
        let Ok(size) = usize::try_from(size) else {
            return (out, false);
        };
        if size < 4 || at + size > body.len() {
            return (out, false);
        }
        match Record::parse(&body[at..at + size]) {
            Ok(r) => out.push(received(&r)),
            Err(_) => return (out, false),
        }
        at += size;
    }
    (out, at == body.len())
}

/// A stored body as the producer sent it: inflated when its sysFlag says compressed (a
/// body that does not inflate is returned as stored).
pub fn decompressed(sys_flag: i32, body: &[u8]) -> Vec<u8> {
    if sys_flag & SYSFLAG_COMPRESSED == 0 {
        return body.to_vec();
    }
    let mut out = Vec::new();
    match flate2::read::ZlibDecoder::new(body).read_to_end(&mut out) {
        Ok(_) => out,
        Err(_) => body.to_vec(),
    }
}

fn received(r: &Record<'_>) -> Received {
    let properties = Properties::parse(&r.properties());
    let body = decompressed(r.sys_flag(), r.body());
    let store_host = r.store_host();
    let offset_id = offset_msg_id(store_host, r.physical_offset());
    Received {
        topic: r.topic().into_owned(),
        queue_id: r.queue_id(),
        queue_offset: r.queue_offset(),
        msg_id: properties
            .get(keys::UNIQ_KEY)
            .map_or_else(|| offset_id.clone(), str::to_owned),
        offset_msg_id: offset_id,
        commit_log_offset: r.physical_offset(),
        reconsume_times: r.reconsume_times(),
        tags: properties.get(keys::TAGS).unwrap_or_default().to_owned(),
        keys: properties.get(keys::KEYS).unwrap_or_default().to_owned(),
        properties,
        body,
        born_timestamp: r.born_timestamp(),
        store_timestamp: r.store_timestamp(),
        store_host,
        born_host: r.born_host(),
        sys_flag: r.sys_flag(),
        flag: r.flag(),
    }
}
