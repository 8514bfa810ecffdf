//! What the producer and consumer benchmarks share: latency histograms (microseconds,
//! HdrHistogram, 3 significant digits), per-second snapshots that generator executors
//! send to the reporting thread, the percentile summary, and the process's CPU time.
//!
//! Each generator executor records into its own histograms — nothing is shared while
//! messages flow — and once a second hands its interval histogram to the main thread over
//! a channel; the main thread merges and prints. The percentiles of a line are therefore
//! exact over every executor, not an average of averages.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency a histogram tracks (larger values are clamped): 10 minutes in µs.
pub const MAX_TRACKED_LATENCY_US: u64 = 600_000_000;
/// How often executors report.
pub const REPORT_INTERVAL_MS: u64 = 1_000;

/// A latency histogram in microseconds.
pub fn histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts; failure would be a programming error.
    Histogram::new_with_bounds(1, MAX_TRACKED_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Records `d` into `h`, clamped to the tracked range.
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = (d.as_micros() as u64).clamp(1, MAX_TRACKED_LATENCY_US);
    h.saturating_record(us);
}

/// Counters and latencies over one interval (or a whole run).
#[derive(Debug, Clone)]
pub struct Window {
    /// Messages that succeeded.
    pub ok: u64,
    /// Failures by kind (client errors and broker codes).
    pub errors: BTreeMap<String, u64>,
    /// Send failures (no answer: timeout, connection).
    pub send_failed: u64,
    /// Broker refusals (an error code came back).
    pub response_failed: u64,
    /// Main latency (send RT, or born-to-consumed).
    pub latency: Histogram<u64>,
    /// Second latency (consumer: stored-to-consumed); empty for producers.
    pub latency2: Histogram<u64>,
    /// Consumer: due-to-consumed of messages stamped by `bench producer --e2e`.
    pub e2e: Histogram<u64>,
    /// Earliest and latest due time (µs since the epoch) among those stamped messages.
    pub e2e_due_span_us: Option<(i64, i64)>,
    /// Payload bytes that succeeded.
    pub bytes: u64,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            ok: 0,
            errors: BTreeMap::new(),
            send_failed: 0,
            response_failed: 0,
            latency: histogram(),
            latency2: histogram(),
            e2e: histogram(),
            e2e_due_span_us: None,
            bytes: 0,
        }
    }
}

impl Window {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Window) {
        self.ok += other.ok;
        self.send_failed += other.send_failed;
        self.response_failed += other.response_failed;
        self.bytes += other.bytes;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.latency2.add(&other.latency2);
        let _ = self.e2e.add(&other.e2e);
        if let Some((lo, hi)) = other.e2e_due_span_us {
            self.note_due(lo);
            self.note_due(hi);
        }
    }

    /// Widens the due-time span of stamped messages to cover `due_us`.
    pub fn note_due(&mut self, due_us: i64) {
        let (lo, hi) = self.e2e_due_span_us.unwrap_or((due_us, due_us));
        self.e2e_due_span_us = Some((lo.min(due_us), hi.max(due_us)));
    }

    /// Counts one failure of `kind`; `refused` when the broker answered with a code.
    pub fn fail(&mut self, kind: String, refused: bool) {
        if refused {
            self.response_failed += 1;
        } else {
            self.send_failed += 1;
        }
        *self.errors.entry(kind).or_default() += 1;
    }
}

/// One executor's report for one interval.
pub struct Tick {
    /// Which executor.
    pub executor: usize,
    /// What it counted since its last tick.
    pub window: Window,
    /// False during warm-up (printed, not counted in the summary).
    pub measured: bool,
}

/// The channel executors report on.
pub type TickSender = mpsc::Sender<Tick>;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th.
    pub p90: f64,
    /// 99th.
    pub p99: f64,
    /// 99.9th.
    #[serde(rename = "p99.9")]
    pub p999: f64,
    /// 99.99th.
    #[serde(rename = "p99.99")]
    pub p9999: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// Of a µs histogram, in ms.
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            p9999: ms(h.value_at_quantile(0.9999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// CPU seconds this process has used so far (user, system).
pub fn cpu_seconds() -> (f64, f64) {
    // SAFETY: getrusage fills the zeroed struct for the calling process.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return (0.0, 0.0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(u.ru_utime), secs(u.ru_stime))
}

/// CPU used by the generator over a run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CpuUse {
    /// User seconds.
    pub user_s: f64,
    /// System seconds.
    pub system_s: f64,
    /// (user + system) / wall time: 1.0 is one core busy.
    pub cores_busy: f64,
}

impl CpuUse {
    /// Since `(start_cpu, start_wall)`.
    pub fn since(start: (f64, f64), wall: Instant) -> Self {
        let (u, s) = cpu_seconds();
        let (user_s, system_s) = (u - start.0, s - start.1);
        let elapsed = wall.elapsed().as_secs_f64().max(1e-9);
        CpuUse {
            user_s,
            system_s,
            cores_busy: (user_s + system_s) / elapsed,
        }
    }
}

/// Collects ticks from `executors` executors and calls `line` once every executor has
/// reported an interval (or the channel closes); returns the measured total.
pub fn collect(
    rx: mpsc::Receiver<Tick>,
    executors: usize,
    mut line: impl FnMut(&Window),
) -> Window {
    let mut total = Window::default();
    let mut pending: Vec<Option<(Window, bool)>> = vec![None; executors];
    let flush = |pending: &mut Vec<Option<(Window, bool)>>,
                 total: &mut Window,
                 line: &mut dyn FnMut(&Window)| {
        let mut w = Window::default();
        let mut any = false;
        for (win, measured) in pending.iter_mut().filter_map(Option::take) {
            w.merge(&win);
            if measured {
                total.merge(&win);
            }
            any = true;
        }
        if any {
            line(&w);
        }
    };
    while let Ok(t) = rx.recv() {
        if let Some(slot) = pending.get_mut(t.executor) {
            if let Some((w, _)) = slot {
                // A second tick from one executor before the others: fold it in.
                w.merge(&t.window);
            } else {
                *slot = Some((t.window, t.measured));
            }
        }
        if pending.iter().all(Option::is_some) {
            flush(&mut pending, &mut total, &mut line);
        }
    }
    flush(&mut pending, &mut total, &mut line);
    total
}

/// Runs `executors` glommio executors (`name-N`, network-only I/O memory), each running
/// `work(N, ticks)`; prints a line per interval with `line` while they run, and returns
/// the measured total and the first error any of them returned.
pub fn run_executors<F, Fut>(
    name: &str,
    executors: usize,
    work: F,
    line: impl FnMut(&Window),
) -> Result<(Window, Option<String>), String>
where
    F: Fn(usize, TickSender) -> Fut + Send + Clone + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + 'static,
{
    let (tx, rx) = mpsc::channel();
    let mut handles = Vec::new();
    for e in 0..executors {
        let (work, tx) = (work.clone(), tx.clone());
        let builder = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .name(&format!("{name}-{e}"))
            .io_memory(crate::runtime::NETWORK_ONLY_IO_MEMORY_BYTES);
        let h = builder
            .spawn(move || work(e, tx))
            .map_err(|e| format!("starting a {name} executor: {e}"))?;
        handles.push(h);
    }
    drop(tx);
    let total = collect(rx, executors, line);
    let mut first_error = None;
    for h in handles {
        let r = match h.join() {
            Ok(r) => r,
            Err(e) => Err(format!("{name} failed: {e}")),
        };
        if let Err(e) = r {
            first_error = first_error.or(Some(e));
        }
    }
    Ok((total, first_error))
}

/// Whether an interval that began at `interval_start` counts in the summary: warm-up
/// ends on a tick boundary, give or take timer slack.
pub fn after_warmup(interval_start: Instant, measure_from: Instant) -> bool {
    interval_start + Duration::from_millis(TICK_SLACK_MS) >= measure_from
}

/// Timer slack allowed when matching a tick to the end of warm-up.
const TICK_SLACK_MS: u64 = 100;

/// `yyyy-MM-dd HH:mm:ss,SSS` now, as producer.sh prints it.
pub fn now_text() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    crate::admin::table::local_time(ms, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_merge_per_interval_and_warmup_is_left_out() {
        let (tx, rx) = mpsc::channel();
        let tick = |executor, ok, measured, us| {
            let mut window = Window {
                ok,
                ..Window::default()
            };
            record(&mut window.latency, Duration::from_micros(us));
            Tick {
                executor,
                window,
                measured,
            }
        };
        tx.send(tick(0, 5, false, 100)).unwrap();
        tx.send(tick(1, 7, false, 100)).unwrap();
        tx.send(tick(0, 10, true, 1_000)).unwrap();
        tx.send(tick(1, 20, true, 3_000)).unwrap();
        drop(tx);
        let mut lines = Vec::new();
        let total = collect(rx, 2, |w| lines.push(w.ok));
        assert_eq!(lines, vec![12, 30]);
        assert_eq!(total.ok, 30);
        let p = Percentiles::of(&total.latency);
        assert!(p.max >= 2.9 && p.max <= 3.1, "{p:?}");
        assert!(p.p50 < p.max);
    }
}
