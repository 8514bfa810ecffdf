//! Which timer deliveries reached the log before a crash.
//!
//! The recorded watermark only covers deliveries known to be on the device, so it lags
//! the last delivery by up to a flush interval. Every delivered message carries its
//! timer entry (`TIMER_OUT_MS`, `TIMER_PARK_OFFSET`); a restart reads the log from the
//! recorded scan start (a window bounded by [`super::TIMER_SCAN_WINDOW_BYTES`] plus what
//! one flush interval appends) and takes the last delivery that survived as the
//! watermark. Deliveries lost with the log's tail are above it and are made again;
//! surviving ones are not: each timer message is stored once.

use super::wheel::Entry;
use super::{timer_queue, TIMER_TOPIC};
use crate::broker::shard::Shard;
use crate::protocol::properties::{keys, Properties};
use crate::store::record::{read_entry, Entry as LogEntry, Record, RecordError};
use crate::store::shard_store::ReadLimits;

/// Log bytes read per step of the scan (a larger record is read whole).
const SCAN_READ_BYTES: usize = 1 << 20;

/// The timer entry a delivered message names, if it names one.
fn claimed_entry(r: &Record<'_>) -> Option<Entry> {
    let props = Properties::parse(&r.properties());
    let due = props.get(keys::TIMER_OUT_MS)?.parse().ok()?;
    let offset = props.get(keys::TIMER_PARK_OFFSET)?.parse().ok()?;
    Some((due, offset))
}

/// True when the parked message at `e` is the one `delivered` copies (a client could set
/// the two properties on any message; the parked record decides).
async fn is_delivery_of(shard: &Shard, e: Entry, delivered: &Record<'_>) -> bool {
    let qid = timer_queue(shard.id, shard.shards);
    let limits = ReadLimits {
        max_msgs: 1,
        max_bytes: 1,
    };
    let Ok(r) = shard
        .store
        .read(TIMER_TOPIC, qid, e.1, limits, |_| true)
        .await
    else {
        return false;
    };
    let Some(parked) = r.records.first().and_then(|b| Record::parse(b).ok()) else {
        return false;
    };
    let due = Properties::parse(&parked.properties())
        .get(keys::TIMER_DELIVER_MS)
        .and_then(|v| v.parse::<i64>().ok());
    parked.queue_offset() == e.1 as i64
        && due == Some(e.0)
        && parked.body_crc() == delivered.body_crc()
        && parked.born_timestamp() == delivered.born_timestamp()
}

/// The last timer entry whose delivery is in the log at or after local offset `from`.
pub async fn last_delivered_since(shard: &Shard, from: u64) -> Result<Option<Entry>, String> {
    let pos = shard.store.log_positions();
    let mut at = from.max(pos.first);
    let mut want = SCAN_READ_BYTES;
    let mut last: Option<Entry> = None;
    while at < pos.end {
        let buf = shard
            .store
            .read_log_bytes(at, want)
            .await
            .map_err(|e| format!("timer recovery scan at local offset {at}: {e}"))?;
        if buf.is_empty() {
            break;
        }
        let mut i = 0;
        while i < buf.len() {
            match read_entry(&buf[i..]) {
                Ok(LogEntry::Message(r)) => {
                    if let Some(e) = claimed_entry(&r) {
                        if last.is_none_or(|l| e > l) && is_delivery_of(shard, e, &r).await {
                            last = Some(e);
                        }
                    }
                    i += LogEntry::Message(r).disk_len();
                }
                Ok(LogEntry::Filler(n)) => i += n,
                // Zeroes to the segment's end: what follows is in the next read.
                Ok(LogEntry::End) => i = buf.len(),
                Err(RecordError::Truncated { need, .. }) if i == 0 && need > want => {
                    want = need;
                    break;
                }
                Err(RecordError::Truncated { .. }) if i > 0 => break,
                Err(e) => {
                    return Err(format!(
                        "timer recovery scan at local offset {}: {e}",
                        at + i as u64
                    ))
                }
            }
        }
        at += i as u64;
        if i > 0 {
            want = SCAN_READ_BYTES;
        }
    }
    Ok(last)
}
