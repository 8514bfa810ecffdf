//! Timer messages (RocketMQ 5): a message due at any time — `delivery_timestamp` over
//! gRPC, the `TIMER_DELIVER_MS` / `TIMER_DELAY_SEC` / `TIMER_DELAY_MS` properties over
//! remoting — is parked in `rmq_sys_wheel_timer` and stored on its real queue once, when
//! due.
//!
//! The parked message waits on the timer queue of the shard owning its real queue, so the
//! delivery is a local append. Its `(due, offset)` entry goes to the file of its due
//! minute ([`files`]); the shard's [`wheel`] holds only the minutes within a few seconds'
//! look-ahead, so a million messages due next week cost disk, not memory. One task per
//! shard sleeps until the next due entry (or a new earlier one), stores it, and records
//! the watermark (the last entry delivered), so a restart delivers each once. A crash
//! between a delivery and its watermark write delivers that batch again (at most
//! [`TIMER_BATCH`] messages); RocketMQ's timer has the same window.

pub mod files;
pub mod wheel;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use self::files::TimerFiles;
use self::wheel::{minute_of, Entry, Wheel, MINUTE_MS};
use super::shard::Shard;
use super::shard_map::{queue_on, shard_for};
use crate::protocol::properties::{keys, Properties};
use crate::protocol::topics::TIMER_TOPIC;
use crate::remoting::oneshot;
use crate::store::record::Record;
use crate::store::shard_store::{AppendResult, ReadLimits};
use crate::store::NewMessage;

/// Minutes are loaded this long before they start.
pub const TIMER_LOOKAHEAD_MS: i64 = 5_000;
/// Longest sleep of the timer task with nothing due (it also wakes on new entries).
pub const TIMER_IDLE_WAKE_MS: u64 = 10_000;
/// Messages stored per delivery round.
pub const TIMER_BATCH: usize = 64;
/// Wait after a failed delivery.
pub const TIMER_RETRY_MS: u64 = 1_000;

/// The timer queue owned by `shard`.
pub fn timer_queue(shard: usize, shards: usize) -> i32 {
    queue_on(TIMER_TOPIC, shard as u32, shards as u32)
}

/// The due time a message's properties ask for, `None` for an ordinary message; the
/// error names the property.
pub fn due_ms(props: &Properties, now_ms: i64, max_delay_sec: u64) -> Result<Option<i64>, String> {
    let num = |key: &str| -> Result<Option<i64>, String> {
        match props.get(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| format!("property {key}={v:?} is not a number")),
        }
    };
    let due = if let Some(at) = num(keys::TIMER_DELIVER_MS)? {
        at
    } else if let Some(s) = num(keys::TIMER_DELAY_SEC)? {
        now_ms.saturating_add(s.saturating_mul(1000))
    } else if let Some(ms) = num(keys::TIMER_DELAY_MS)? {
        now_ms.saturating_add(ms)
    } else {
        return Ok(None);
    };
    let max = now_ms.saturating_add((max_delay_sec as i64).saturating_mul(1000));
    if due > max {
        return Err(format!(
            "timer message due at {due} ms is more than timerMaxDelaySec={max_delay_sec} s away"
        ));
    }
    Ok(Some(due))
}

/// Rewrites a message to wait for `due` on the timer queue of its real queue's shard.
pub fn park(m: &mut NewMessage, props: &mut Properties, due: i64, shards: usize) {
    props.set(keys::REAL_TOPIC, m.topic.clone());
    props.set(keys::REAL_QID, m.queue_id.to_string());
    props.set(keys::TIMER_DELIVER_MS, due.to_string());
    props.remove(keys::TIMER_DELAY_SEC);
    props.remove(keys::TIMER_DELAY_MS);
    let owner = shard_for(&m.topic, m.queue_id, shards as u32) as usize;
    m.topic = TIMER_TOPIC.to_owned();
    m.queue_id = timer_queue(owner, shards);
}

/// The (topic, queue) a parked message is for.
pub fn real_target(m: &NewMessage) -> Option<(String, i32)> {
    super::delay::parked_target(m, TIMER_TOPIC)
}

/// A shard's timer.
pub struct TimerState {
    wheel: RefCell<Wheel>,
    files: TimerFiles,
    wake: RefCell<Option<oneshot::Sender<()>>>,
}

impl TimerState {
    /// Messages waiting in memory (the loaded minutes).
    pub fn loaded(&self) -> usize {
        self.wheel.borrow().loaded()
    }

    fn wake(&self) {
        if let Some(tx) = self.wake.borrow_mut().take() {
            tx.send(());
        }
    }
}

/// Opens the shard's timer files and starts its delivery task (masters only).
pub fn start(shard: &Rc<Shard>) -> Result<(), String> {
    let dir = shard.store.shard_dir().join("timer");
    let files = TimerFiles::new(&dir)?;
    let now = crate::clock::now_ms();
    let watermark = files.read_progress().unwrap_or((i64::MIN, 0));
    let first = files
        .minutes()
        .first()
        .copied()
        .unwrap_or_else(|| minute_of(now))
        .min(minute_of(now));
    let st = Rc::new(TimerState {
        wheel: RefCell::new(Wheel::new(watermark, first)),
        files,
        wake: RefCell::new(None),
    });
    *shard.timer.borrow_mut() = Some(st.clone());
    glommio::spawn_local(run(shard.clone(), st)).detach();
    Ok(())
}

/// Owner side, after an append: indexes the parked messages among `msgs`.
pub async fn index(shard: &Shard, msgs: &[NewMessage], results: &[AppendResult]) {
    let Some(st) = shard.timer.borrow().clone() else {
        return;
    };
    for (m, a) in msgs.iter().zip(results) {
        if m.topic != TIMER_TOPIC {
            continue;
        }
        let Some(due) = Properties::parse(&m.properties)
            .get(keys::TIMER_DELIVER_MS)
            .and_then(|v| v.parse::<i64>().ok())
        else {
            continue;
        };
        let e: Entry = (due, a.queue_offset);
        if let Err(err) = st.files.append(e).await {
            tracing::warn!(
                shard = shard.id,
                "timer message at {e:?} not indexed: {err}"
            );
        }
        if st.wheel.borrow_mut().schedule(e) {
            st.wake();
        }
    }
}

/// The message to store when a parked record is due.
fn unpark(r: &Record<'_>, store_host: std::net::SocketAddr) -> Option<NewMessage> {
    let mut props = Properties::parse(&r.properties());
    let topic = props.remove(keys::REAL_TOPIC)?;
    let queue_id = props.remove(keys::REAL_QID)?.parse().ok()?;
    Some(NewMessage {
        topic,
        queue_id,
        flag: r.flag(),
        sys_flag: r.sys_flag(),
        born_timestamp: r.born_timestamp(),
        born_host: r.born_host(),
        store_host,
        reconsume_times: r.reconsume_times(),
        prepared_tx_offset: 0,
        body: bytes::Bytes::copy_from_slice(r.body()),
        properties: props.encode(),
    })
}

async fn deliver(shard: &Shard, e: Entry) -> Result<(), String> {
    let qid = timer_queue(shard.id, shard.shards);
    let limits = ReadLimits {
        max_msgs: 1,
        max_bytes: 1,
    };
    let r = shard
        .store
        .read(TIMER_TOPIC, qid, e.1, limits, |_| true)
        .await
        .map_err(|err| err.to_string())?;
    let rec = r.records.first().and_then(|b| {
        let rec = Record::parse(b).ok()?;
        (rec.queue_offset() == e.1 as i64).then(|| unpark(&rec, shard.ident.store_host))
    });
    match rec.flatten() {
        Some(m) => shard
            .store_routed(vec![m])
            .await
            .map(|_| ())
            .map_err(|r| r.remark),
        None => {
            tracing::warn!(
                shard = shard.id,
                "timer message at {e:?} is gone (retention?)"
            );
            Ok(())
        }
    }
}

async fn run(shard: Rc<Shard>, st: Rc<TimerState>) {
    let mut removed_before = i64::MIN;
    while !shard.closing.get() {
        let now = crate::clock::now_ms();
        let next = st.wheel.borrow().minute_to_load(now, TIMER_LOOKAHEAD_MS);
        if let Some(minute) = next {
            st.wheel.borrow_mut().begin_load(minute);
            match st.files.load(minute).await {
                Ok(entries) => st.wheel.borrow_mut().add_loaded(minute, entries),
                Err(e) => tracing::warn!(shard = shard.id, "{e}"),
            }
            continue;
        }
        let due = st.wheel.borrow().due(now, TIMER_BATCH);
        let mut delivered = false;
        for e in due {
            match deliver(&shard, e).await {
                Ok(()) => {
                    st.wheel.borrow_mut().delivered(e);
                    delivered = true;
                }
                Err(err) => {
                    tracing::warn!(shard = shard.id, "timer delivery failed, retrying: {err}");
                    glommio::timer::sleep(Duration::from_millis(TIMER_RETRY_MS)).await;
                    break;
                }
            }
        }
        if delivered {
            let w = st.wheel.borrow().watermark();
            if let Err(e) = st.files.write_progress(w).await {
                tracing::warn!(shard = shard.id, "{e}");
            } else if minute_of(w.0) > removed_before {
                removed_before = minute_of(w.0);
                st.files.remove_before(removed_before);
            }
            continue;
        }
        // Sleep until the next entry is due, the next minute must load, or a new entry
        // earlier than both arrives.
        let (next_due, next_minute) = {
            let w = st.wheel.borrow();
            (w.next_due(), w.next_minute())
        };
        let load_at = next_minute * MINUTE_MS - TIMER_LOOKAHEAD_MS;
        let until = next_due.unwrap_or(i64::MAX).min(load_at);
        let ms = (until - crate::clock::now_ms()).clamp(0, TIMER_IDLE_WAKE_MS as i64) as u64;
        if ms == 0 {
            continue;
        }
        let (tx, rx) = oneshot::channel();
        *st.wake.borrow_mut() = Some(tx);
        futures_lite::future::or(
            async {
                let _ = rx.await;
            },
            glommio::timer::sleep(Duration::from_millis(ms)),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_come_from_the_three_properties_and_bad_ones_are_named() {
        let mut p = Properties::default();
        assert_eq!(due_ms(&p, 1_000, 60), Ok(None));
        p.set(keys::TIMER_DELAY_SEC, "5");
        assert_eq!(due_ms(&p, 1_000, 60), Ok(Some(6_000)));
        p.set(keys::TIMER_DELIVER_MS, "2500");
        assert_eq!(due_ms(&p, 1_000, 60), Ok(Some(2_500)), "absolute time wins");
        let mut q = Properties::default();
        q.set(keys::TIMER_DELAY_MS, "250");
        assert_eq!(due_ms(&q, 1_000, 60), Ok(Some(1_250)));
        q.set(keys::TIMER_DELAY_MS, "soon");
        assert!(due_ms(&q, 1_000, 60)
            .unwrap_err()
            .contains("TIMER_DELAY_MS"));
        let mut far = Properties::default();
        far.set(keys::TIMER_DELAY_SEC, "61");
        assert!(due_ms(&far, 0, 60)
            .unwrap_err()
            .contains("timerMaxDelaySec"));
    }
}
