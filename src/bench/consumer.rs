//! `coremq bench consumer`: RocketMQ's benchmark/consumer.sh (same options, same lines)
//! with born→consumed (B2C) and stored→consumed (S2C) percentiles and a JSON report.
//! Messages sent by `bench producer --e2e` carry their due time in µs; for those due after
//! the consumer started, it also reports end-to-end (E2E) latency, which under `--rate` counts from the
//! schedule (coordinated-omission-safe) and has µs resolution where B2C has ms.
//!
//! `--cores` executors each run one push consumer of the group (so the group's queues are
//! split between them, as between consumer.sh processes); `-w`, consumer.sh's thread
//! count, is accepted for its scripts: coremq's consumer delivers each queue in order on
//! its executor. Latencies use the message's timestamps, so producer, broker and consumer
//! clocks must agree (one host, or synchronised hosts).
//!
//! `-f SQL92 -e EXPR` subscribes with a property filter (as `MessageSelector.bySql`), and
//! `--count N` drains a backlog: it stops at the N-th message and rates from the first
//! message to the last, so filter runs compare without startup and rebalance in the figure.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::stats::{self, CpuUse, Percentiles, Tick, TickSender, Window};
use crate::client::consumer::{ConsumeStatus, Consumer, ConsumerConfig, Listener, StartFrom};
use crate::client::message::Received;

/// What `coremq bench consumer` was asked to do.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerBenchArgs {
    /// Nameservers.
    #[serde(skip)]
    pub namesrv: Vec<SocketAddr>,
    /// Topic (-t).
    pub topic: String,
    /// Group (-g, with a random suffix under -p).
    pub group: String,
    /// Tag expression, or a SQL92 condition (-e).
    pub expression: String,
    /// `expression` is SQL92 (-f SQL92).
    pub sql92: bool,
    /// consumer.sh's thread count (-w).
    pub threads: usize,
    /// Fraction of deliveries failed on purpose, sent back for retry (-r).
    pub fail_rate: f64,
    /// Where a new group starts.
    pub from_first: bool,
    /// Measured run time (None: until Ctrl-C).
    pub duration: Option<Duration>,
    /// Stop once the executors together consumed this many (--count).
    pub count: Option<u64>,
    /// Unmeasured time first.
    pub warmup: Duration,
    /// Consumer executors.
    pub cores: usize,
    /// ACL keys every request is signed with (-a true).
    #[serde(skip)]
    pub credentials: Option<crate::protocol::acl_signature::Credentials>,
}

/// The summary and what the JSON file holds.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerReport {
    /// "consumer".
    pub kind: &'static str,
    /// The options.
    pub config: ConsumerBenchArgs,
    /// Messages consumed in the measured window.
    pub messages: u64,
    /// Measured seconds.
    pub seconds: f64,
    /// Messages per second.
    pub tps: f64,
    /// Deliveries failed on purpose (-r).
    pub failed: u64,
    /// Born → consumed, ms.
    pub b2c_latency_ms: Percentiles,
    /// Stored → consumed, ms.
    pub s2c_latency_ms: Percentiles,
    /// Due → consumed (µs stamps of `bench producer --e2e`), ms; None when no message
    /// carried one.
    pub e2e_latency_ms: Option<Percentiles>,
    /// Messages that carried the stamp.
    pub e2e_messages: u64,
    /// The rate those messages were sent at (count over the span of their due times):
    /// the x of a latency-vs-throughput point, unlike `tps`, which also counts idle time.
    pub e2e_sent_per_s: Option<f64>,
    /// The consumer process's CPU time.
    pub generator_cpu: CpuUse,
}

/// Runs the benchmark until the duration passes or `stop` is set.
pub fn run(args: ConsumerBenchArgs, stop: fn() -> bool) -> Result<ConsumerReport, String> {
    if args.cores == 0 {
        return Err("--cores must be at least 1".into());
    }
    let cpu0 = stats::cpu_seconds();
    let wall0 = Instant::now();
    crate::stdout::line("Consumer Started.");
    let a = args.clone();
    let progress = Arc::new(Progress::default());
    let p = progress.clone();
    let (total, first_error) = stats::run_executors(
        "bench-consumer",
        args.cores,
        move |e, tx| consume(a.clone(), e, tx, stop, p.clone()),
        |w| crate::stdout::line(&line(w)),
    )?;
    if let Some(e) = first_error {
        return Err(e);
    }
    let measured = wall0.elapsed().saturating_sub(args.warmup).as_secs_f64();
    let seconds = match args.count {
        // First message to the last: the drain rate, without startup and rebalance.
        Some(_) => progress.span_s(),
        None => args
            .duration
            .map_or(measured, |d| d.as_secs_f64().min(measured)),
    };
    Ok(ConsumerReport {
        kind: "consumer",
        messages: total.ok,
        seconds,
        tps: total.ok as f64 / seconds.max(1e-9),
        failed: total.response_failed,
        b2c_latency_ms: Percentiles::of(&total.latency),
        s2c_latency_ms: Percentiles::of(&total.latency2),
        e2e_latency_ms: (!total.e2e.is_empty()).then(|| Percentiles::of(&total.e2e)),
        e2e_messages: total.e2e.len(),
        e2e_sent_per_s: total.e2e_due_span_us.and_then(|(lo, hi)| {
            (hi > lo).then(|| (total.e2e.len().saturating_sub(1)) as f64 * 1e6 / (hi - lo) as f64)
        }),
        generator_cpu: CpuUse::since(cpu0, wall0),
        config: args,
    })
}

/// What the executors consumed together, for `--count`.
#[derive(Debug, Default)]
struct Progress {
    consumed: AtomicU64,
    first_us: AtomicI64,
    last_us: AtomicI64,
}

impl Progress {
    /// Counts one message at `now_us`.
    fn note(&self, now_us: i64) {
        let _ = self
            .first_us
            .compare_exchange(0, now_us, Ordering::Relaxed, Ordering::Relaxed);
        self.last_us.fetch_max(now_us, Ordering::Relaxed);
        self.consumed.fetch_add(1, Ordering::Relaxed);
    }

    fn done(&self, count: u64) -> bool {
        self.consumed.load(Ordering::Relaxed) >= count
    }

    /// Seconds from the first message to the last.
    fn span_s(&self) -> f64 {
        let (a, b) = (
            self.first_us.load(Ordering::Relaxed),
            self.last_us.load(Ordering::Relaxed),
        );
        (b - a).max(1) as f64 / 1e6
    }
}

/// consumer.sh's line, then B2C percentiles (and end-to-end ones for stamped messages).
fn line(w: &Window) -> String {
    let (b, s) = (Percentiles::of(&w.latency), Percentiles::of(&w.latency2));
    let avg = |p: &Percentiles| if w.ok > 0 { p.mean } else { 0.0 };
    let e2e = if w.e2e.is_empty() {
        String::new()
    } else {
        let e = Percentiles::of(&w.e2e);
        format!(" p50(E2E,ms): {:.3} p99(E2E,ms): {:.3}", e.p50, e.p99)
    };
    format!(
        "Current Time: {} TPS: {} FAIL: {} AVG(B2C) RT(ms): {:7.3} AVG(S2C) RT(ms): {:7.3} MAX(B2C) RT(ms): {} MAX(S2C) RT(ms): {} p50(B2C,ms): {:.3} p99(B2C,ms): {:.3} p99.9(B2C,ms): {:.3}{e2e}",
        stats::now_text(),
        w.ok * 1000 / stats::REPORT_INTERVAL_MS,
        w.response_failed,
        avg(&b),
        avg(&s),
        b.max.ceil() as u64,
        s.max.ceil() as u64,
        b.p50,
        b.p99,
        b.p999
    )
}

impl std::fmt::Display for ConsumerReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Summary: {} messages in {:.1} s: {:.0} msgs/s, {} failed on purpose",
            self.messages, self.seconds, self.tps, self.failed
        )?;
        let e2e = self.e2e_latency_ms.as_ref().map(|p| ("E2E", p));
        for (name, p) in [("B2C", &self.b2c_latency_ms), ("S2C", &self.s2c_latency_ms)]
            .into_iter()
            .chain(e2e)
        {
            writeln!(
                f,
                "{name} latency (ms): p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  p99.99 {:.3}  max {:.3}",
                p.p50, p.p90, p.p99, p.p999, p.p9999, p.max
            )?;
        }
        writeln!(
            f,
            "Consumer CPU: user {:.2} s, system {:.2} s ({:.2} cores busy)",
            self.generator_cpu.user_s, self.generator_cpu.system_s, self.generator_cpu.cores_busy
        )
    }
}

async fn consume(
    args: ConsumerBenchArgs,
    executor: usize,
    tx: TickSender,
    stop: fn() -> bool,
    progress: Arc<Progress>,
) -> Result<(), String> {
    let client_id = crate::client::client_id(&format!("-bench-{executor}"));
    let mut cfg = ConsumerConfig::new(&args.group, &args.topic, &args.expression, &client_id);
    cfg.sql92 = args.sql92;
    if args.from_first {
        cfg.from = StartFrom::First;
    }
    cfg.credentials = args.credentials.clone();
    let consumer = Consumer::new(cfg, args.namesrv.clone()).map_err(|e| e.to_string())?;
    let window: Rc<RefCell<Window>> = Rc::default();
    let rng = Rc::new(Cell::new(0x2545_F491_4F6C_DD1D_u64 ^ executor as u64));
    // Messages due before the consumer started are a backlog (an earlier run's, or one a
    // new group is handed by the broker's young-queue rule), not live end-to-end latency.
    let started_us = crate::clock::now_us();
    let listener: Listener = {
        let (window, rng, fail_rate) = (window.clone(), rng.clone(), args.fail_rate);
        let (progress, count) = (progress.clone(), args.count);
        Rc::new(move |m: &Received| {
            let now_us = crate::clock::now_us();
            // Past --count, a shutting-down consumer's deliveries are not counted.
            if count.is_some_and(|c| progress.done(c)) {
                return ConsumeStatus::Success;
            }
            let now = now_us / 1000;
            let mut w = window.borrow_mut();
            let ms = |t: i64| Duration::from_millis((now - t).max(0) as u64);
            if fail_rate > 0.0 {
                let mut x = rng.get();
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                rng.set(x);
                if (x % 1_000_000) as f64 / 1e6 < fail_rate {
                    w.response_failed += 1;
                    return ConsumeStatus::Later;
                }
            }
            w.ok += 1;
            w.bytes += m.body.len() as u64;
            if count.is_some() {
                progress.note(now_us);
            }
            stats::record(&mut w.latency, ms(m.born_timestamp));
            stats::record(&mut w.latency2, ms(m.store_timestamp));
            if let Some(due_us) = m
                .properties
                .get(super::SEND_TIME_PROPERTY)
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|due_us| *due_us >= started_us)
            {
                let us = (now_us - due_us).max(0) as u64;
                stats::record(&mut w.e2e, Duration::from_micros(us));
                w.note_due(due_us);
            }
            ConsumeStatus::Success
        })
    };
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = args.duration.map(|d| measure_from + d);
    let reporter = glommio::spawn_local({
        let (window, tx, consumer, stop) = (window.clone(), tx.clone(), consumer.clone(), stop);
        let (progress, count) = (progress.clone(), args.count);
        async move {
            let mut interval_start = start;
            loop {
                glommio::timer::sleep(Duration::from_millis(stats::REPORT_INTERVAL_MS)).await;
                let w = std::mem::take(&mut *window.borrow_mut());
                let measured = stats::after_warmup(interval_start, measure_from);
                interval_start = Instant::now();
                let _ = tx.send(Tick {
                    executor,
                    window: w,
                    measured,
                });
                let counted = count.is_some_and(|c| progress.done(c));
                if stop() || counted || end.is_some_and(|e| Instant::now() >= e) {
                    consumer.shutdown();
                    return;
                }
            }
        }
    });
    let result = consumer.run(listener, None).await;
    drop(reporter);
    let w = std::mem::take(&mut *window.borrow_mut());
    let _ = tx.send(Tick {
        executor,
        window: w,
        measured: true,
    });
    result.map_err(|e| e.to_string())
}
