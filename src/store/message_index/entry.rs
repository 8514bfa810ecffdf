//! One index entry (24 bytes) and the keys a record is indexed under.
//!
//! An entry says "a record whose topic#key hashes to `hash` sits at `physical_offset`,
//! `size` bytes long, stored at `store_timestamp`". The hash is only a filter: a query
//! reads the record and compares topic and key before answering.

use crate::protocol::properties::keys::{KEYS, UNIQ_KEY};
use crate::store::record;

/// Bytes of one encoded entry.
pub const ENTRY_BYTES: usize = 24;
/// Separator of the keys in the `KEYS` property (RocketMQ's KEY_SEPARATOR).
pub const KEY_SEPARATOR: char = ' ';
/// sysFlag bits of a transactional rollback record: never indexed (RocketMQ skips them too).
pub const TRANSACTION_ROLLBACK_FLAG: i32 = 0x3 << 2;
/// Keys per record indexed at most (a hostile `KEYS` cannot blow up the buffer).
pub const MAX_KEYS_PER_RECORD: usize = 64;

/// An index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyEntry {
    /// CRC32C of `topic#key`.
    pub hash: u32,
    /// Store time, ms.
    pub store_timestamp: i64,
    /// Physical offset (shard bits included).
    pub physical_offset: i64,
    /// Record size without the CRC trailer.
    pub size: u32,
}

impl KeyEntry {
    /// Encodes into `dst` (exactly [`ENTRY_BYTES`]): hash, size, offset, time, big-endian.
    pub fn encode(&self, dst: &mut [u8]) {
        dst[0..4].copy_from_slice(&self.hash.to_be_bytes());
        dst[4..8].copy_from_slice(&self.size.to_be_bytes());
        dst[8..16].copy_from_slice(&self.physical_offset.to_be_bytes());
        dst[16..24].copy_from_slice(&self.store_timestamp.to_be_bytes());
    }

    /// Decodes [`ENTRY_BYTES`] bytes; `None` when `src` is shorter.
    pub fn decode(src: &[u8]) -> Option<Self> {
        let b = src.get(..ENTRY_BYTES)?;
        Some(KeyEntry {
            hash: u32::from_be_bytes(b[0..4].try_into().ok()?),
            size: u32::from_be_bytes(b[4..8].try_into().ok()?),
            physical_offset: i64::from_be_bytes(b[8..16].try_into().ok()?),
            store_timestamp: i64::from_be_bytes(b[16..24].try_into().ok()?),
        })
    }
}

/// The hash an entry of `key` on `topic` carries.
pub fn key_hash(topic: &str, key: &str) -> u32 {
    let c = crc32c::crc32c_append(crc32c::crc32c(topic.as_bytes()), b"#");
    crc32c::crc32c_append(c, key.as_bytes())
}

/// The keys a record is indexed under: its `UNIQ_KEY` and each space-separated `KEYS`
/// item (empty items skipped), at most [`MAX_KEYS_PER_RECORD`].
pub fn index_keys(properties: &str) -> impl Iterator<Item = &str> {
    let uniq = record::property(properties, UNIQ_KEY).filter(|k| !k.is_empty());
    let keys = record::property(properties, KEYS)
        .into_iter()
        .flat_map(|k| k.split(KEY_SEPARATOR))
        .filter(|k| !k.is_empty());
    uniq.into_iter().chain(keys).take(MAX_KEYS_PER_RECORD)
}

/// True when a record with these properties answers a query for `key` (by its unique key,
/// or by one of its keys).
pub fn record_has_key(properties: &str, key: &str, unique: bool) -> bool {
    if unique {
        record::property(properties, UNIQ_KEY) == Some(key)
    } else {
        record::property(properties, KEYS)
            .is_some_and(|k| k.split(KEY_SEPARATOR).any(|item| item == key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trip_and_keys() {
        let e = KeyEntry {
            hash: 0xDEAD_BEEF,
            store_timestamp: 1_700_000_000_123,
            physical_offset: (3 << 52) | 4096,
            size: 321,
        };
        let mut b = [0u8; ENTRY_BYTES];
        e.encode(&mut b);
        assert_eq!(KeyEntry::decode(&b), Some(e));
        assert_eq!(KeyEntry::decode(&b[..23]), None);
        let props = "TAGS\u{1}A\u{2}KEYS\u{1}k1  k2\u{2}UNIQ_KEY\u{1}U1\u{2}";
        assert_eq!(index_keys(props).collect::<Vec<_>>(), ["U1", "k1", "k2"]);
        assert!(record_has_key(props, "k2", false));
        assert!(!record_has_key(props, "k", false));
        assert!(!record_has_key(props, "U1", false));
        assert!(record_has_key(props, "U1", true));
        assert_eq!(key_hash("T", "k"), crc32c::crc32c(b"T#k"));
    }
}
