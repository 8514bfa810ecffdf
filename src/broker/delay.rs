//! Delayed delivery (delay levels, spec §7.6): retries and `DELAY` messages are parked in
//! `SCHEDULE_TOPIC_XXXX`, queue `level - 1`, with their real topic and queue in properties,
//! and re-stored there when due. One task per level runs on the shard owning that level's
//! queue; its progress (delayOffset.json, per shard) is saved with the consumer offsets.
//!
//! Each level's queue is in store-time order and every message in it has the same delay,
//! so the head of the queue is always the next one due: the task sleeps until then.

use std::rc::Rc;
use std::time::Duration;

use super::metadata::{DELAY_LEVELS, SCHEDULE_TOPIC};
use super::shard::Shard;
use crate::protocol::properties::{keys, Properties};
use crate::store::record::Record;
use crate::store::shard_store::{GetStatus, ReadLimits};
use crate::store::NewMessage;

/// Group name under which each level's progress is kept.
pub const SCHEDULE_GROUP: &str = "%SCHEDULE%";
/// Longest sleep before re-checking a level (new messages also wake it).
pub const DELAY_POLL_MS: u64 = 1_000;
/// Wait after a failed delivery before trying again.
pub const DELAY_RETRY_MS: u64 = 1_000;

/// Parses `messageDelayLevel` (`1s 5s 10s 30s 1m ... 2h`) into durations.
pub fn parse_levels(text: &str) -> Result<Vec<Duration>, String> {
    text.split_whitespace()
        .map(|item| {
            let (num, unit) = item.split_at(
                item.find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(item.len()),
            );
            let n: u64 = num
                .parse()
                .map_err(|_| format!("bad delay level {item:?}"))?;
            let secs = match unit {
                "s" => n,
                "m" => n * 60,
                "h" => n * 3600,
                "d" => n * 86_400,
                _ => {
                    return Err(format!(
                        "bad delay level {item:?}: unit must be s, m, h or d"
                    ))
                }
            };
            Ok(Duration::from_secs(secs))
        })
        .collect()
}

/// Rewrites a message to park it at `level` (clamped to 1..=18).
pub fn park(m: &mut NewMessage, props: &mut Properties, level: i32) {
    let level = level.clamp(1, DELAY_LEVELS);
    props.set(keys::REAL_TOPIC, m.topic.clone());
    props.set(keys::REAL_QID, m.queue_id.to_string());
    props.set(keys::DELAY, level.to_string());
    m.topic = SCHEDULE_TOPIC.to_owned();
    m.queue_id = level - 1;
}

/// The (topic, queue) a parked message is for.
pub fn real_target(m: &NewMessage) -> Option<(String, i32)> {
    parked_target(m, SCHEDULE_TOPIC)
}

/// The (topic, queue) of a message parked on `parking` (delay levels, timers).
pub fn parked_target(m: &NewMessage, parking: &str) -> Option<(String, i32)> {
    if m.topic != parking {
        return None;
    }
    let p = Properties::parse(&m.properties);
    Some((
        p.get(keys::REAL_TOPIC)?.to_owned(),
        p.get(keys::REAL_QID)?.parse().ok()?,
    ))
}

/// The message to store when a parked record is due.
fn unpark(r: &Record<'_>) -> Option<NewMessage> {
    let mut props = Properties::parse(&r.properties());
    let topic = props.remove(keys::REAL_TOPIC)?;
    let queue_id = props.remove(keys::REAL_QID)?.parse().ok()?;
    props.remove(keys::DELAY);
    Some(NewMessage {
        topic,
        queue_id,
        flag: r.flag(),
        sys_flag: r.sys_flag(),
        born_timestamp: r.born_timestamp(),
        born_host: r.born_host(),
        // Set to this broker by `deliver`.
        store_host: r.born_host(),
        reconsume_times: r.reconsume_times(),
        prepared_tx_offset: 0,
        body: bytes::Bytes::copy_from_slice(r.body()),
        properties: props.encode(),
    })
}

/// Starts the delivery task of every level whose queue this shard owns.
pub fn start(shard: &Rc<Shard>) -> Result<(), String> {
    let levels = parse_levels(&shard.cfg().message_delay_level)
        .map_err(|e| format!("messageDelayLevel: {e}"))?;
    for (i, delay) in levels.into_iter().enumerate().take(DELAY_LEVELS as usize) {
        let qid = i as i32;
        if shard.queue_owner(SCHEDULE_TOPIC, qid) == shard.id {
            glommio::spawn_local(run_level(shard.clone(), qid, delay)).detach();
        }
    }
    Ok(())
}

async fn run_level(shard: Rc<Shard>, qid: i32, delay: Duration) {
    let delay_ms = delay.as_millis() as i64;
    loop {
        let offset = shard
            .delay_offsets
            .borrow()
            .get(SCHEDULE_GROUP, SCHEDULE_TOPIC, qid)
            .unwrap_or(0)
            .max(0) as u64;
        let limits = ReadLimits {
            max_msgs: 32,
            max_bytes: 256 << 10,
        };
        let got = match shard
            .store
            .read(SCHEDULE_TOPIC, qid, offset, limits, |_| true)
            .await
        {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(level = qid + 1, "delay queue read failed: {e}");
                glommio::timer::sleep(Duration::from_millis(DELAY_RETRY_MS)).await;
                continue;
            }
        };
        match got.status {
            GetStatus::Found => {}
            GetStatus::OffsetTooSmall
            | GetStatus::OffsetOverflowBadly
            | GetStatus::NoMatchedMessage => {
                // Retention removed parked messages, or entries were unreadable: skip ahead.
                shard.delay_offsets.borrow_mut().set(
                    SCHEDULE_GROUP,
                    SCHEDULE_TOPIC,
                    qid,
                    got.next_offset as i64,
                );
                continue;
            }
            _ => {
                let poll = Duration::from_millis(DELAY_POLL_MS);
                // A shard full of parked pulls refuses to park: sleep instead, never spin.
                if !shard.waiters.wait(SCHEDULE_TOPIC, qid, poll).await {
                    glommio::timer::sleep(poll).await;
                }
                continue;
            }
        }
        let mut next = offset;
        for bytes in &got.records {
            let Ok(r) = Record::parse(bytes) else {
                tracing::warn!(
                    level = qid + 1,
                    offset = next,
                    "unreadable parked record skipped"
                );
                next += 1;
                shard.delay_offsets.borrow_mut().set(
                    SCHEDULE_GROUP,
                    SCHEDULE_TOPIC,
                    qid,
                    next as i64,
                );
                continue;
            };
            let due = r.store_timestamp() + delay_ms;
            let wait = due - crate::clock::now_ms();
            if wait > 0 {
                glommio::timer::sleep(Duration::from_millis(wait.min(DELAY_POLL_MS as i64) as u64))
                    .await;
                break;
            }
            match unpark(&r) {
                Some(m) => match deliver(&shard, m).await {
                    Ok(()) => {}
                    Err(e) => {
                        tracing::warn!(level = qid + 1, "delayed delivery failed, retrying: {e}");
                        glommio::timer::sleep(Duration::from_millis(DELAY_RETRY_MS)).await;
                        break;
                    }
                },
                None => tracing::warn!(
                    level = qid + 1,
                    offset = next,
                    "parked message without its target; dropped"
                ),
            }
            next = r.queue_offset() as u64 + 1;
            shard
                .delay_offsets
                .borrow_mut()
                .set(SCHEDULE_GROUP, SCHEDULE_TOPIC, qid, next as i64);
        }
    }
}

async fn deliver(shard: &Shard, mut m: NewMessage) -> Result<(), String> {
    let exists = shard
        .meta
        .borrow()
        .topics
        .get(&m.topic)
        .map(|t| t.read_queue_nums.max(t.write_queue_nums));
    let Some(queues) = exists else {
        tracing::warn!(
            topic = m.topic,
            "delayed message for a deleted topic; dropped"
        );
        return Ok(());
    };
    if m.queue_id < 0 || m.queue_id >= queues {
        m.queue_id = 0;
    }
    m.store_host = shard.ident.store_host;
    shard
        .store_routed(vec![m])
        .await
        .map(|_| ())
        .map_err(|r| r.remark)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rocketmq_levels_parse() {
        let l = parse_levels("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h").unwrap();
        assert_eq!(l.len(), 18);
        assert_eq!(l[4], Duration::from_secs(60));
        assert_eq!(l[17], Duration::from_secs(7200));
        assert!(parse_levels("1x").unwrap_err().contains("1x"));
    }

    #[test]
    fn park_and_target() {
        let host = "127.0.0.1:1".parse().unwrap();
        let mut m = NewMessage::new("T", 3, b"x".to_vec(), host);
        let mut p = Properties::parse("TAGS\u{1}a");
        park(&mut m, &mut p, 99);
        m.properties = p.encode();
        assert_eq!((m.topic.as_str(), m.queue_id), (SCHEDULE_TOPIC, 17));
        assert_eq!(real_target(&m), Some(("T".into(), 3)));
    }
}
