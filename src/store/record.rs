//! The stored message record: RocketMQ's V1 layout (spec §4.1), byte for byte what a PULL
//! response carries, followed on disk by coremq's CRC32C of the whole record.
//!
//! ```text
//! TOTALSIZE i32 | MAGIC i32 (0xDAA320A7) | BODYCRC i32 | QUEUEID i32 | FLAG i32 |
//! QUEUEOFFSET i64 | PHYSICALOFFSET i64 | SYSFLAG i32 | BORNTIMESTAMP i64 |
//! BORNHOST 4+4 or 16+4 | STORETIMESTAMP i64 | STOREHOST 4+4 or 16+4 | RECONSUMETIMES i32 |
//! PREPAREDTXOFFSET i64 | BODYLEN i32 + BODY | TOPICLEN u8 + TOPIC | PROPLEN i16 + PROPS
//! ```
//! then, on disk only, `CRC32C u32` over the `TOTALSIZE` bytes above. `BODYCRC` stays the
//! IEEE CRC32 clients expect (trap 8); the trailer is what recovery trusts. A PULL body is
//! built by copying each record without its trailer, the one copy the design allows.

use std::net::{IpAddr, SocketAddr};

/// V1 message magic.
pub const MESSAGE_MAGIC: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic of the filler that pads a segment's end.
pub const FILLER_MAGIC: i32 = 0xCBD4_3194_u32 as i32;
/// Bytes of the CRC32C trailer after each record on disk.
pub const TRAILER_BYTES: usize = 4;
/// Smallest filler: TOTALSIZE and MAGIC.
pub const MIN_FILLER_BYTES: usize = 8;
/// Longest topic name (one length byte, and ali-ons reads V1 only).
pub const MAX_TOPIC_BYTES: usize = 127;
/// Longest properties string (signed 16-bit length).
pub const MAX_PROPERTIES_BYTES: usize = i16::MAX as usize;

/// sysFlag: born host is IPv6.
pub const SYSFLAG_BORNHOST_V6: i32 = 0x10;
/// sysFlag: store host is IPv6.
pub const SYSFLAG_STOREHOST_V6: i32 = 0x20;

/// Property separators.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Separates properties.
pub const PROPERTY_SEPARATOR: char = '\u{2}';

// Offsets of the fixed fields.
const OFF_TOTAL: usize = 0;
const OFF_MAGIC: usize = 4;
const OFF_BODYCRC: usize = 8;
const OFF_QUEUEID: usize = 12;
const OFF_FLAG: usize = 16;
const OFF_QUEUEOFFSET: usize = 20;
const OFF_PHYSICAL: usize = 28;
const OFF_SYSFLAG: usize = 36;
const OFF_BORNTS: usize = 40;
const OFF_BORNHOST: usize = 48;

/// A message as the broker hands it to the store; the store adds offsets and store time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Topic (≤ 127 bytes).
    pub topic: String,
    /// Queue id.
    pub queue_id: i32,
    /// User flag.
    pub flag: i32,
    /// Producer sysFlag (host V6 bits are set by the encoder).
    pub sys_flag: i32,
    /// Producer's send time, ms.
    pub born_timestamp: i64,
    /// Producer's address.
    pub born_host: SocketAddr,
    /// Broker's client-facing address.
    pub store_host: SocketAddr,
    /// Retry count.
    pub reconsume_times: i32,
    /// Half-message offset for committed transactions, else 0.
    pub prepared_tx_offset: i64,
    /// Body as sent.
    pub body: bytes::Bytes,
    /// Encoded properties string.
    pub properties: String,
}

/// Why bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Fewer bytes than the header or the declared size.
    #[error("record truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// Neither a message nor a filler.
    #[error("bad magic {0:#x}")]
    BadMagic(i32),
    /// Inner lengths disagree with TOTALSIZE.
    #[error("inconsistent record lengths")]
    Inconsistent,
    /// The CRC32C trailer does not match.
    #[error("CRC32C mismatch: stored {stored:#x}, computed {computed:#x}")]
    Crc {
        /// Trailer value.
        stored: u32,
        /// Recomputed value.
        computed: u32,
    },
}

/// Why a message cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Topic longer than 127 bytes or empty.
    #[error("topic length {0} is outside 1..=127 bytes")]
    Topic(usize),
    /// Properties longer than 32767 bytes.
    #[error("properties of {0} bytes exceed 32767")]
    Properties(usize),
}

fn host_bytes(addr: &SocketAddr) -> usize {
    match addr.ip() {
        IpAddr::V4(_) => 8,
        IpAddr::V6(_) => 20,
    }
}

/// The record's TOTALSIZE for `m`.
pub fn encoded_len(m: &NewMessage) -> usize {
    OFF_BORNHOST
        + host_bytes(&m.born_host)
        + 8
        + host_bytes(&m.store_host)
        + 4
        + 8
        + 4
        + m.body.len()
        + 1
        + m.topic.len()
        + 2
        + m.properties.len()
}

impl NewMessage {
    /// Heap bytes this message holds (body, properties, topic): what an append waiting on
    /// the store keeps alive.
    pub fn held_bytes(&self) -> u64 {
        (self.body.len() + self.properties.len() + self.topic.len()) as u64
    }

    /// A plain message: no flags, no properties, born and stored at `host`.
    pub fn new(topic: &str, queue_id: i32, body: Vec<u8>, host: SocketAddr) -> Self {
        NewMessage {
            topic: topic.to_owned(),
            queue_id,
            flag: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: host,
            store_host: host,
            reconsume_times: 0,
            prepared_tx_offset: 0,
            body: body.into(),
            properties: String::new(),
        }
    }
}

/// Checks the limits the layout imposes.
pub fn validate(m: &NewMessage) -> Result<(), MessageError> {
    if m.topic.is_empty() || m.topic.len() > MAX_TOPIC_BYTES {
        return Err(MessageError::Topic(m.topic.len()));
    }
    if m.properties.len() > MAX_PROPERTIES_BYTES {
        return Err(MessageError::Properties(m.properties.len()));
    }
    Ok(())
}

/// Appends the record and its CRC32C trailer to `dst`. `m` must pass [`validate`].
pub fn encode(
    m: &NewMessage,
    queue_offset: i64,
    physical_offset: i64,
    store_timestamp: i64,
    dst: &mut Vec<u8>,
) {
    let start = dst.len();
    dst.resize(start + encoded_len(m) + TRAILER_BYTES, 0);
    encode_into(
        m,
        queue_offset,
        physical_offset,
        store_timestamp,
        &mut dst[start..],
    );
}

/// Writes the record and its trailer into `dst`, which must be exactly
/// `encoded_len(m) + TRAILER_BYTES` long (the commit log encodes straight into its write
/// buffer this way, with no intermediate copy).
pub fn encode_into(
    m: &NewMessage,
    queue_offset: i64,
    physical_offset: i64,
    store_timestamp: i64,
    dst: &mut [u8],
) {
    debug_assert!(validate(m).is_ok());
    let total = encoded_len(m);
    assert_eq!(dst.len(), total + TRAILER_BYTES, "record buffer size");
    let mut w = Cursor { buf: dst, at: 0 };
    let mut sys_flag = m.sys_flag & !(SYSFLAG_BORNHOST_V6 | SYSFLAG_STOREHOST_V6);
    if m.born_host.is_ipv6() {
        sys_flag |= SYSFLAG_BORNHOST_V6;
    }
    if m.store_host.is_ipv6() {
        sys_flag |= SYSFLAG_STOREHOST_V6;
    }
    let body_crc = (crc32fast::hash(&m.body) & 0x7FFF_FFFF) as i32;
    w.put(&(total as i32).to_be_bytes());
    w.put(&MESSAGE_MAGIC.to_be_bytes());
    w.put(&body_crc.to_be_bytes());
    w.put(&m.queue_id.to_be_bytes());
    w.put(&m.flag.to_be_bytes());
    w.put(&queue_offset.to_be_bytes());
    w.put(&physical_offset.to_be_bytes());
    w.put(&sys_flag.to_be_bytes());
    w.put(&m.born_timestamp.to_be_bytes());
    w.host(&m.born_host);
    w.put(&store_timestamp.to_be_bytes());
    w.host(&m.store_host);
    w.put(&m.reconsume_times.to_be_bytes());
    w.put(&m.prepared_tx_offset.to_be_bytes());
    w.put(&(m.body.len() as i32).to_be_bytes());
    w.put(&m.body);
    w.put(&[m.topic.len() as u8]);
    w.put(m.topic.as_bytes());
    w.put(&(m.properties.len() as i16).to_be_bytes());
    w.put(m.properties.as_bytes());
    assert_eq!(w.at, total, "encoded_len disagrees with encode");
    let crc = crc32c::crc32c(&w.buf[..total]);
    w.put(&crc.to_be_bytes());
}

/// Writes sequentially into a fixed slice.
struct Cursor<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Cursor<'_> {
    fn put(&mut self, b: &[u8]) {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn host(&mut self, addr: &SocketAddr) {
        match addr.ip() {
            IpAddr::V4(ip) => self.put(&ip.octets()),
            IpAddr::V6(ip) => self.put(&ip.octets()),
        }
        self.put(&i32::from(addr.port()).to_be_bytes());
    }
}

/// Appends a filler of `len` bytes (≥ [`MIN_FILLER_BYTES`]) that pads a segment's end.
pub fn encode_filler(len: usize, dst: &mut Vec<u8>) {
    assert!(len >= MIN_FILLER_BYTES, "filler of {len} bytes");
    dst.extend_from_slice(&(len as i32).to_be_bytes());
    dst.extend_from_slice(&FILLER_MAGIC.to_be_bytes());
    dst.resize(dst.len() + len - MIN_FILLER_BYTES, 0);
}

/// What sits at a position of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A message record (without trailer) whose CRC32C checked out.
    Message(Record<'a>),
    /// A filler of this many bytes: the rest of the segment is unused.
    Filler(usize),
    /// Zeroes: nothing was ever written here (end of log).
    End,
}

impl Entry<'_> {
    /// Bytes this entry occupies on disk (record plus trailer, or the filler).
    pub fn disk_len(&self) -> usize {
        match self {
            Entry::Message(r) => r.bytes.len() + TRAILER_BYTES,
            Entry::Filler(n) => *n,
            Entry::End => 0,
        }
    }
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Reads the entry at the start of `buf` (which may hold more after it), verifying the
/// CRC32C of a message.
pub fn read_entry(buf: &[u8]) -> Result<Entry<'_>, RecordError> {
    if buf.len() < MIN_FILLER_BYTES {
        return if buf.iter().all(|b| *b == 0) {
            Ok(Entry::End)
        } else {
            Err(RecordError::Truncated {
                need: MIN_FILLER_BYTES,
                have: buf.len(),
            })
        };
    }
    let total = be_i32(buf, OFF_TOTAL);
    let magic = be_i32(buf, OFF_MAGIC);
    if total == 0 && magic == 0 {
        return Ok(Entry::End);
    }
    let total = usize::try_from(total).map_err(|_| RecordError::Inconsistent)?;
    match magic {
        FILLER_MAGIC if total >= MIN_FILLER_BYTES => Ok(Entry::Filler(total)),
        MESSAGE_MAGIC => {
            let need = total + TRAILER_BYTES;
            if buf.len() < need {
                return Err(RecordError::Truncated {
                    need,
                    have: buf.len(),
                });
            }
            let bytes = &buf[..total];
            let stored =
                u32::from_be_bytes([buf[total], buf[total + 1], buf[total + 2], buf[total + 3]]);
            let computed = crc32c::crc32c(bytes);
            if stored != computed {
                return Err(RecordError::Crc { stored, computed });
            }
            Record::parse(bytes).map(Entry::Message)
        }
        other => Err(RecordError::BadMagic(other)),
    }
}

/// The message at the start of `buf` with its size and magic checked but not its CRC:
/// what a filter scan tests before it decides to serve a record (the CRC is checked on
/// what is served, as a tag miss is decided from the index alone).
pub fn read_message_unchecked_crc(buf: &[u8]) -> Result<Record<'_>, RecordError> {
    if buf.len() < OFF_MAGIC + 4 {
        return Err(RecordError::Truncated {
            need: OFF_MAGIC + 4,
            have: buf.len(),
        });
    }
    let magic = be_i32(buf, OFF_MAGIC);
    if magic != MESSAGE_MAGIC {
        return Err(RecordError::BadMagic(magic));
    }
    let total = usize::try_from(be_i32(buf, OFF_TOTAL)).map_err(|_| RecordError::Inconsistent)?;
    if buf.len() < total {
        return Err(RecordError::Truncated {
            need: total,
            have: buf.len(),
        });
    }
    Record::parse(&buf[..total])
}

/// A view of one verified message record (no trailer), with field offsets resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    bytes: &'a [u8],
    store_ts_at: usize,
    body_at: usize,
    body_len: usize,
    topic_at: usize,
    topic_len: usize,
    props_at: usize,
    props_len: usize,
}

impl<'a> Record<'a> {
    /// Parses the variable part of a record whose TOTALSIZE equals `bytes.len()`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RecordError> {
        let short = |need: usize| RecordError::Truncated {
            need,
            have: bytes.len(),
        };
        if bytes.len() < OFF_BORNHOST + 8 {
            return Err(short(OFF_BORNHOST + 8));
        }
        let sys_flag = be_i32(bytes, OFF_SYSFLAG);
        let born = if sys_flag & SYSFLAG_BORNHOST_V6 != 0 {
            20
        } else {
            8
        };
        let store = if sys_flag & SYSFLAG_STOREHOST_V6 != 0 {
            20
        } else {
            8
        };
        let store_ts_at = OFF_BORNHOST + born;
        let body_len_at = store_ts_at + 8 + store + 4 + 8;
        if bytes.len() < body_len_at + 4 {
            return Err(short(body_len_at + 4));
        }
        let body_len =
            usize::try_from(be_i32(bytes, body_len_at)).map_err(|_| RecordError::Inconsistent)?;
        let body_at = body_len_at + 4;
        let topic_len_at = body_at
            .checked_add(body_len)
            .ok_or(RecordError::Inconsistent)?;
        if bytes.len() < topic_len_at + 1 {
            return Err(RecordError::Inconsistent);
        }
        let topic_len = usize::from(bytes[topic_len_at]);
        let props_len_at = topic_len_at + 1 + topic_len;
        if bytes.len() < props_len_at + 2 {
            return Err(RecordError::Inconsistent);
        }
        let props_len = i16::from_be_bytes([bytes[props_len_at], bytes[props_len_at + 1]]);
        let props_len = usize::try_from(props_len).map_err(|_| RecordError::Inconsistent)?;
        let props_at = props_len_at + 2;
        if props_at + props_len != bytes.len() || be_i32(bytes, OFF_TOTAL) as usize != bytes.len() {
            return Err(RecordError::Inconsistent);
        }
        Ok(Record {
            bytes,
            store_ts_at,
            body_at,
            body_len,
            topic_at: topic_len_at + 1,
            topic_len,
            props_at,
            props_len,
        })
    }

    /// Producer's address as stored.
    pub fn born_host(&self) -> SocketAddr {
        let b = self.bytes;
        if self.sys_flag() & SYSFLAG_BORNHOST_V6 != 0 {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&b[OFF_BORNHOST..OFF_BORNHOST + 16]);
            SocketAddr::new(IpAddr::from(ip), be_i32(b, OFF_BORNHOST + 16) as u16)
        } else {
            let mut ip = [0u8; 4];
            ip.copy_from_slice(&b[OFF_BORNHOST..OFF_BORNHOST + 4]);
            SocketAddr::new(IpAddr::from(ip), be_i32(b, OFF_BORNHOST + 4) as u16)
        }
    }

    /// Broker's address as stored.
    pub fn store_host(&self) -> SocketAddr {
        let (b, at) = (self.bytes, self.store_ts_at + 8);
        if self.sys_flag() & SYSFLAG_STOREHOST_V6 != 0 {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&b[at..at + 16]);
            SocketAddr::new(IpAddr::from(ip), be_i32(b, at + 16) as u16)
        } else {
            let mut ip = [0u8; 4];
            ip.copy_from_slice(&b[at..at + 4]);
            SocketAddr::new(IpAddr::from(ip), be_i32(b, at + 4) as u16)
        }
    }

    /// Times the message was redelivered.
    pub fn reconsume_times(&self) -> i32 {
        let store = if self.sys_flag() & SYSFLAG_STOREHOST_V6 != 0 {
            20
        } else {
            8
        };
        be_i32(self.bytes, self.store_ts_at + 8 + store)
    }

    /// The encoded properties as stored (not checked as UTF-8).
    pub fn properties_raw(&self) -> &'a [u8] {
        &self.bytes[self.props_at..self.props_at + self.props_len]
    }
    /// The whole record as clients receive it.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Queue id.
    pub fn queue_id(&self) -> i32 {
        be_i32(self.bytes, OFF_QUEUEID)
    }
    /// Logical queue offset.
    pub fn queue_offset(&self) -> i64 {
        be_i64(self.bytes, OFF_QUEUEOFFSET)
    }
    /// Physical offset written into the record.
    pub fn physical_offset(&self) -> i64 {
        be_i64(self.bytes, OFF_PHYSICAL)
    }
    /// sysFlag.
    pub fn sys_flag(&self) -> i32 {
        be_i32(self.bytes, OFF_SYSFLAG)
    }
    /// User flag.
    pub fn flag(&self) -> i32 {
        be_i32(self.bytes, OFF_FLAG)
    }
    /// BODYCRC field.
    pub fn body_crc(&self) -> i32 {
        be_i32(self.bytes, OFF_BODYCRC)
    }
    /// Producer's send time.
    pub fn born_timestamp(&self) -> i64 {
        be_i64(self.bytes, OFF_BORNTS)
    }
    /// Broker's store time.
    pub fn store_timestamp(&self) -> i64 {
        be_i64(self.bytes, self.store_ts_at)
    }
    /// Body bytes.
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[self.body_at..self.body_at + self.body_len]
    }
    /// Topic (lossy for non-UTF-8 bytes, which coremq never writes).
    pub fn topic(&self) -> std::borrow::Cow<'a, str> {
        String::from_utf8_lossy(&self.bytes[self.topic_at..self.topic_at + self.topic_len])
    }
    /// Properties string.
    pub fn properties(&self) -> std::borrow::Cow<'a, str> {
        let raw = &self.bytes[self.props_at..self.props_at + self.props_len];
        // The checked conversion is the fast one for valid text (filter scans call this per
        // record); only invalid bytes pay for the replacing one.
        match std::str::from_utf8(raw) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(raw),
        }
    }
    /// The consume-index tag hash of this record (0 without TAGS).
    pub fn tags_code(&self) -> i64 {
        property(&self.properties(), "TAGS").map_or(0, tags_hash_code)
    }
}

/// Looks up a property in an encoded properties string (tolerates a trailing separator and
/// malformed items).
pub fn property<'a>(props: &'a str, key: &str) -> Option<&'a str> {
    // Each item is tested by its prefix, not split at its separator: one search per item.
    props.split(PROPERTY_SEPARATOR).find_map(|item| {
        item.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(NAME_VALUE_SEPARATOR))
    })
}

/// [`property`] over the stored bytes, for scans that test many records: only the value
/// found is left to check as text.
pub fn property_raw<'a>(props: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let key = key.as_bytes();
    props
        .split(|b| *b == PROPERTY_SEPARATOR as u8)
        .find_map(|item| match item.strip_prefix(key)? {
            [sep, value @ ..] if *sep == NAME_VALUE_SEPARATOR as u8 => Some(value),
            _ => None,
        })
}

/// Java's `String.hashCode` of a tag (over UTF-16 code units), widened to i64 as the
/// consume queue stores it.
pub fn tags_hash_code(tags: &str) -> i64 {
    let mut h: i32 = 0;
    for unit in tags.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    i64::from(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(body: Vec<u8>, props: &str) -> NewMessage {
        NewMessage {
            topic: "TopicTest".into(),
            queue_id: 3,
            flag: 7,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            born_host: "10.0.0.9:53211".parse().unwrap(),
            store_host: "127.0.0.1:10911".parse().unwrap(),
            reconsume_times: 0,
            prepared_tx_offset: 0,
            body: body.into(),
            properties: props.into(),
        }
    }

    #[test]
    fn record_layout_matches_rocketmq_v1() {
        let m = msg(b"Hello".to_vec(), "TAGS\u{1}TagA\u{2}KEYS\u{1}k1");
        let mut buf = Vec::new();
        encode(&m, 5, 1234, 1_700_000_000_123, &mut buf);
        let total = encoded_len(&m);
        // Fixed part 84 bytes with IPv4 hosts.
        assert_eq!(total, 84 + 4 + 5 + 1 + 9 + 2 + m.properties.len());
        assert_eq!(buf.len(), total + TRAILER_BYTES);
        assert_eq!(&buf[4..8], &[0xDA, 0xA3, 0x20, 0xA7]);
        let Entry::Message(r) = read_entry(&buf).unwrap() else {
            panic!("not a message")
        };
        assert_eq!(r.queue_offset(), 5);
        assert_eq!(r.physical_offset(), 1234);
        assert_eq!(r.store_timestamp(), 1_700_000_000_123);
        assert_eq!(r.body(), b"Hello");
        assert_eq!(r.topic(), "TopicTest");
        assert_eq!(r.queue_id(), 3);
        assert_eq!(r.flag(), 7);
        assert_eq!(
            r.body_crc(),
            (crc32fast::hash(b"Hello") & 0x7FFF_FFFF) as i32
        );
        assert_eq!(r.tags_code(), tags_hash_code("TagA"));
        // Java: "TagA".hashCode() == 2598919
        assert_eq!(tags_hash_code("TagA"), 2_598_919);
        assert_eq!(tags_hash_code(""), 0);
    }

    #[test]
    fn corruption_is_detected() {
        let mut buf = Vec::new();
        encode(&msg(vec![1; 100], ""), 0, 0, 1, &mut buf);
        for i in [0, 4, 20, 60, 120, buf.len() - 1] {
            let mut bad = buf.clone();
            bad[i] ^= 0x40;
            assert!(read_entry(&bad).is_err(), "flip at {i} undetected");
        }
        assert!(matches!(
            read_entry(&buf[..50]),
            Err(RecordError::Truncated { .. })
        ));
        assert_eq!(read_entry(&[0u8; 64]).unwrap(), Entry::End);
        let mut f = Vec::new();
        encode_filler(100, &mut f);
        assert_eq!(read_entry(&f).unwrap(), Entry::Filler(100));
    }

    #[test]
    fn properties_parse_with_and_without_trailing_separator() {
        assert_eq!(property("A\u{1}1\u{2}B\u{1}2", "B"), Some("2"));
        assert_eq!(property("A\u{1}1\u{2}B\u{1}2\u{2}", "B"), Some("2"));
        assert_eq!(property("junk\u{2}A\u{1}1", "A"), Some("1"));
        assert_eq!(property("", "A"), None);
    }

    proptest! {
        /// The byte search scans use finds what the text search finds, for any items,
        /// including a key that prefixes another, a missing value and stray separators.
        #[test]
        fn property_raw_agrees_with_property(
            items in proptest::collection::vec(("[ab]{0,3}", "[ab\u{1}]{0,3}"), 0..6),
            junk in any::<bool>(),
            key in "[ab]{0,3}",
        ) {
            let mut props = items
                .iter()
                .map(|(k, v)| format!("{k}{NAME_VALUE_SEPARATOR}{v}"))
                .collect::<Vec<_>>()
                .join(&PROPERTY_SEPARATOR.to_string());
            if junk {
                props.insert_str(0, "ab\u{2}");
                props.push(PROPERTY_SEPARATOR);
            }
            prop_assert_eq!(
                property_raw(props.as_bytes(), &key),
                property(&props, &key).map(str::as_bytes)
            );
        }
    }

    proptest! {
        #[test]
        fn any_message_round_trips(
            body in proptest::collection::vec(any::<u8>(), 0..2000),
            topic in "[a-zA-Z0-9_%-]{1,127}",
            props in "[a-zA-Z0-9]{0,200}",
            v6 in any::<bool>(),
            qo in any::<i64>(), po in any::<i64>(), ts in any::<i64>(),
        ) {
            let mut m = msg(body, &props);
            m.topic = topic;
            if v6 {
                m.born_host = "[::1]:4000".parse().unwrap();
            }
            let mut buf = Vec::new();
            encode(&m, qo, po, ts, &mut buf);
            let Entry::Message(r) = read_entry(&buf).unwrap() else { panic!() };
            prop_assert_eq!(r.body(), &m.body[..]);
            prop_assert_eq!(r.topic(), m.topic.as_str());
            prop_assert_eq!(r.properties(), m.properties.as_str());
            prop_assert_eq!((r.queue_offset(), r.physical_offset(), r.store_timestamp()), (qo, po, ts));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = read_entry(&bytes);
            let _ = Record::parse(&bytes);
        }
    }
}
