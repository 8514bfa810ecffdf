//! Timer messages (RocketMQ 5): a message due at any time — `delivery_timestamp` over
//! gRPC, the `TIMER_DELIVER_MS` / `TIMER_DELAY_SEC` / `TIMER_DELAY_MS` properties over
//! remoting — is parked in `rmq_sys_wheel_timer` and stored on its real queue once, when
//! due.
//!
//! The parked message waits on the timer queue of the shard owning its real queue, so the
//! delivery is a local append. Its `(due, offset)` entry goes to the file of its due
//! minute ([`files`]); the shard's [`wheel`] holds only the minutes within a few seconds'
//! look-ahead, so a million messages due next week cost disk, not memory. One task per
//! shard sleeps until the next due entry (or a new earlier one) and stores it. The
//! recorded watermark moves only past deliveries that are on the device, so a crash never
//! skips a delivery the log lost; [`recovery`] finds the deliveries that did survive, so
//! none is made twice (RocketMQ's timer redelivers that window).

pub mod files;
pub mod recovery;
pub mod wheel;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use self::files::{Progress, TimerFiles};
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
/// Log bytes other traffic may append past the recorded scan start before a delivery
/// round records a new one: what a restart scans at most, beyond one flush interval.
pub const TIMER_SCAN_WINDOW_BYTES: u64 = 4 << 20;
/// How often deliveries not yet on the device are checked while nothing else is due.
pub const TIMER_CONFIRM_POLL_MS: u64 = 20;

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
    let progress = files.read_progress().unwrap_or(Progress {
        watermark: (i64::MIN, 0),
        scan_from: None,
    });
    let watermark = progress.watermark;
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
    glommio::spawn_local(run(shard.clone(), st, progress)).detach();
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

/// The message to store when the parked record of entry `e` is due; `None` when the
/// record is not that entry's (its message was lost in a crash and the offset reused).
fn unpark(r: &Record<'_>, e: Entry, store_host: std::net::SocketAddr) -> Option<NewMessage> {
    let mut props = Properties::parse(&r.properties());
    if props.get(keys::TIMER_DELIVER_MS) != Some(e.0.to_string().as_str()) {
        return None;
    }
    let topic = props.remove(keys::REAL_TOPIC)?;
    let queue_id = props.remove(keys::REAL_QID)?.parse().ok()?;
    props.set(keys::TIMER_OUT_MS, e.0.to_string());
    props.set(keys::TIMER_PARK_OFFSET, e.1.to_string());
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

/// Stores entry `e`'s message on its real queue; the log end past it (`None` when there
/// was nothing to store).
async fn deliver(shard: &Shard, e: Entry) -> Result<Option<u64>, String> {
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
        (rec.queue_offset() == e.1 as i64).then(|| unpark(&rec, e, shard.ident.store_host))
    });
    match rec.flatten() {
        Some(m) => shard
            .store_routed(vec![m])
            .await
            .map(|(results, _)| results.last().map(|a| a.log_end))
            .map_err(|r| r.remark),
        None => {
            tracing::warn!(
                shard = shard.id,
                "timer message at {e:?} is gone (retention, or lost in a crash)"
            );
            Ok(None)
        }
    }
}

/// A delivery not yet known to be on the device.
struct Unconfirmed {
    entry: Entry,
    /// The log end before it was stored: its record starts at or after this.
    start_bound: u64,
    /// The log end past it.
    end: u64,
}

/// The recorded progress and the deliveries it does not cover yet.
struct Confirmer {
    recorded: Progress,
    unconfirmed: VecDeque<Unconfirmed>,
    removed_before: i64,
}

impl Confirmer {
    /// Moves the recorded watermark past the deliveries now on the device.
    async fn confirm(&mut self, shard: &Shard, st: &TimerState) {
        let pos = shard.store.log_positions();
        let mut moved = None;
        while let Some(u) = self.unconfirmed.front() {
            if u.end > pos.written {
                break;
            }
            moved = Some(u.entry);
            self.unconfirmed.pop_front();
        }
        let Some(w) = moved else {
            return;
        };
        let scan_from = self.unconfirmed.front().map_or(pos.end, |u| u.start_bound);
        self.record(shard, st, w, scan_from).await;
    }

    /// Before a delivery round with nothing unconfirmed: a new scan start once other
    /// traffic has grown the window past [`TIMER_SCAN_WINDOW_BYTES`].
    async fn bound_scan(&mut self, shard: &Shard, st: &TimerState) {
        if !self.unconfirmed.is_empty() {
            return;
        }
        let end = shard.store.log_positions().end;
        let from = self.recorded.scan_from.unwrap_or(0);
        if end.saturating_sub(from) > TIMER_SCAN_WINDOW_BYTES || end < from {
            self.record(shard, st, self.recorded.watermark, end).await;
        }
    }

    async fn record(&mut self, shard: &Shard, st: &TimerState, w: Entry, scan_from: u64) {
        debug_assert!(
            w >= self.recorded.watermark,
            "the recorded watermark went back"
        );
        let p = Progress {
            watermark: w,
            scan_from: Some(scan_from),
        };
        match st.files.write_progress(p).await {
            Ok(()) => {
                self.recorded = p;
                if minute_of(w.0) > self.removed_before {
                    self.removed_before = minute_of(w.0);
                    st.files.remove_before(self.removed_before);
                }
            }
            Err(e) => tracing::warn!(shard = shard.id, "{e}"),
        }
    }
}

async fn run(shard: Rc<Shard>, st: Rc<TimerState>, recorded: Progress) {
    if let Some(from) = recorded.scan_from {
        match recovery::last_delivered_since(&shard, from).await {
            Ok(Some(e)) if e > recorded.watermark => {
                tracing::info!(
                    shard = shard.id,
                    "timer deliveries up to {e:?} were stored before the stop"
                );
                st.wheel.borrow_mut().recovered(e);
            }
            Ok(_) => {}
            // Not knowing what survived, deliver again rather than lose any.
            Err(e) => tracing::warn!(shard = shard.id, "{e}"),
        }
    }
    let mut c = Confirmer {
        recorded,
        unconfirmed: VecDeque::new(),
        removed_before: i64::MIN,
    };
    let w = st.wheel.borrow().watermark();
    let end = shard.store.log_positions().end;
    c.record(&shard, &st, w, end).await;
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
        if !due.is_empty() {
            c.bound_scan(&shard, &st).await;
        }
        let mut delivered = false;
        for e in due {
            let start_bound = shard.store.log_positions().end;
            match deliver(&shard, e).await {
                Ok(end) => {
                    st.wheel.borrow_mut().delivered(e);
                    c.unconfirmed.push_back(Unconfirmed {
                        entry: e,
                        start_bound,
                        end: end.unwrap_or(start_bound),
                    });
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
            // Not waiting for the flush interval: the watermark follows the device.
            shard.store.request_write();
        }
        c.confirm(&shard, &st).await;
        if delivered {
            continue;
        }
        // Sleep until the next entry is due, the next minute must load, or a new entry
        // earlier than both arrives (sooner while deliveries wait for the device).
        let (next_due, next_minute) = {
            let w = st.wheel.borrow();
            (w.next_due(), w.next_minute())
        };
        let load_at = next_minute * MINUTE_MS - TIMER_LOOKAHEAD_MS;
        let until = next_due.unwrap_or(i64::MAX).min(load_at);
        let idle_ms = if c.unconfirmed.is_empty() {
            TIMER_IDLE_WAKE_MS
        } else {
            TIMER_CONFIRM_POLL_MS
        };
        let ms = (until - crate::clock::now_ms()).clamp(0, idle_ms as i64) as u64;
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
