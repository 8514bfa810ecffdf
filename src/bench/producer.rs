//! `coremq bench producer`: RocketMQ's benchmark/producer.sh (same options, same lines)
//! with HdrHistogram percentiles, a fixed-rate mode, and a JSON report.
//!
//! The generator runs `--cores` glommio executors, each with its own producer (its own
//! connections) and its share of the `-w` sender tasks; every task keeps one sync send in
//! flight, so a connection carries many pipelined requests. With `--rate`, send times are
//! scheduled (`i / rate` after the start) and latency runs from the scheduled time, not
//! from when a sender got round to it: a stalled broker shows up as latency instead of
//! silently lowering the offered load (no coordinated omission).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::stats::{self, CpuUse, Percentiles, Tick, TickSender, Window};
use crate::client::producer::{Message, Producer};
use crate::client::transaction::{TransactionProducer, TxState};
use crate::client::ClientError;

/// A send not answered within this counts as failed (RocketMQ's sendMsgTimeout).
pub const SEND_TIMEOUT_MS: u64 = 3_000;

/// The user property `--buckets` sets (what a SQL92 filter run selects on).
pub const BUCKET_PROPERTY: &str = "bucket";

/// What `coremq bench producer` was asked to do.
#[derive(Debug, Clone, Serialize)]
pub struct ProducerBenchArgs {
    /// Nameservers.
    #[serde(skip)]
    pub namesrv: Vec<SocketAddr>,
    /// Topic.
    pub topic: String,
    /// Sender tasks in all (-w).
    pub threads: usize,
    /// Body bytes (-s).
    pub size: usize,
    /// Set a unique key per message (-k).
    pub keys: bool,
    /// Bytes of user properties per message (-p).
    pub property_size: usize,
    /// Distinct tags, `tag0..` (-l; 0: no tag).
    pub tag_count: usize,
    /// User property `bucket` = message number mod this (0: none).
    pub buckets: u64,
    /// Stop after this many messages (-q; 0: no limit).
    pub count: u64,
    /// Delay level on every message (-d/-e; None: not delayed).
    pub delay_level: Option<i32>,
    /// Async sends with this many in flight per executor (-y / --async-inflight).
    pub async_inflight: Option<usize>,
    /// Measured run time (None: until -q or Ctrl-C).
    pub duration: Option<Duration>,
    /// Unmeasured time first.
    pub warmup: Duration,
    /// Fixed total rate, messages per second.
    pub rate: Option<u64>,
    /// Messages per SEND_BATCH_MESSAGE (1: single sends; sync mode only).
    pub batch: usize,
    /// Generator executors.
    pub cores: usize,
    /// Every message to this queue (None: round-robin).
    pub queue: Option<usize>,
    /// ACL keys every request is signed with (-a true).
    #[serde(skip)]
    pub credentials: Option<crate::protocol::acl_signature::Credentials>,
    /// Transactional sends, each committed (half message, then END_TRANSACTION).
    pub transaction: bool,
    /// Stamp each message with its due time ([`super::SEND_TIME_PROPERTY`]) for
    /// `bench consumer`'s end-to-end latency.
    pub e2e: bool,
}

/// The summary and what the JSON file holds.
#[derive(Debug, Clone, Serialize)]
pub struct ProducerReport {
    /// "producer".
    pub kind: &'static str,
    /// The options.
    pub config: ProducerBenchArgs,
    /// Messages acknowledged in the measured window.
    pub messages: u64,
    /// Measured seconds.
    pub seconds: f64,
    /// Messages per second.
    pub tps: f64,
    /// Body megabytes (2^20) per second.
    pub mb_per_s: f64,
    /// Send latency, ms.
    pub latency_ms: Percentiles,
    /// Failed sends: no answer.
    pub send_failed: u64,
    /// Failed sends: the broker refused.
    pub response_failed: u64,
    /// Failures by kind.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// The generator's CPU time.
    pub generator_cpu: CpuUse,
}

/// Runs the benchmark: prints producer.sh's lines as it goes and returns the summary.
pub fn run(args: ProducerBenchArgs, stop: fn() -> bool) -> Result<ProducerReport, String> {
    if args.threads == 0 || args.cores == 0 {
        return Err("-w and --cores must be at least 1".into());
    }
    if args.transaction
        && (args.async_inflight.is_some() || args.batch > 1 || args.delay_level.is_some())
    {
        return Err("--transaction sends one message at a time: not with -y, --batch or -d".into());
    }
    crate::stdout::line(&format!(
        "topic: {} threadCount: {} messageSize: {} keyEnable: {} propertySize: {} tagCount: {} traceEnable: false aclEnable: {} messageQuantity: {}",
        args.topic, args.threads, args.size, args.keys, args.property_size, args.tag_count, args.credentials.is_some(), args.count
    ));
    crate::stdout::line(&format!(
        "delayEnable: {} delayLevel: {}",
        args.delay_level.is_some(),
        args.delay_level.unwrap_or(1)
    ));
    crate::stdout::line(&format!("asyncEnable: {}", args.async_inflight.is_some()));
    let cpu0 = stats::cpu_seconds();
    let wall0 = Instant::now();
    let a = args.clone();
    let (total, first_error) = stats::run_executors(
        "bench-producer",
        args.cores,
        move |e, tx| generate(a.clone(), e, tx, stop),
        |w| crate::stdout::line(&line(w)),
    )?;
    if let Some(e) = first_error.filter(|_| total.ok == 0) {
        return Err(e);
    }
    let measured = wall0.elapsed().saturating_sub(args.warmup).as_secs_f64();
    let seconds = args
        .duration
        .map_or(measured, |d| d.as_secs_f64().min(measured));
    let report = ProducerReport {
        kind: "producer",
        messages: total.ok,
        seconds,
        tps: total.ok as f64 / seconds.max(1e-9),
        mb_per_s: total.bytes as f64 / seconds.max(1e-9) / (1 << 20) as f64,
        latency_ms: Percentiles::of(&total.latency),
        send_failed: total.send_failed,
        response_failed: total.response_failed,
        errors: total.errors.clone(),
        generator_cpu: CpuUse::since(cpu0, wall0),
        config: args,
    };
    Ok(report)
}

/// One per-second line: producer.sh's fields, then percentiles.
fn line(w: &Window) -> String {
    let p = Percentiles::of(&w.latency);
    format!(
        "Current Time: {} Send TPS: {} Max RT(ms): {} Average RT(ms): {:7.3} Send Failed: {} Response Failed: {} p50(ms): {:.3} p99(ms): {:.3} p99.9(ms): {:.3}",
        stats::now_text(),
        w.ok * 1000 / stats::REPORT_INTERVAL_MS,
        p.max.ceil() as u64,
        if w.ok > 0 { p.mean } else { 0.0 },
        w.send_failed,
        w.response_failed,
        p.p50,
        p.p99,
        p.p999
    )
}

impl std::fmt::Display for ProducerReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.latency_ms;
        writeln!(
            f,
            "[Complete] Send Total: {} Send TPS: {} Max RT(ms): {} Average RT(ms): {:7.3} Send Failed: {} Response Failed: {}",
            self.messages,
            self.tps as u64,
            p.max.ceil() as u64,
            p.mean,
            self.send_failed,
            self.response_failed
        )?;
        writeln!(
            f,
            "Summary: {} messages in {:.1} s: {:.0} msgs/s, {:.2} MB/s",
            self.messages, self.seconds, self.tps, self.mb_per_s
        )?;
        writeln!(
            f,
            "Send latency (ms): p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  p99.99 {:.3}  max {:.3}",
            p.p50, p.p90, p.p99, p.p999, p.p9999, p.max
        )?;
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        writeln!(
            f,
            "Errors: {}",
            if errors.is_empty() {
                "none".to_string()
            } else {
                errors.join(", ")
            }
        )?;
        writeln!(
            f,
            "Generator CPU: user {:.2} s, system {:.2} s ({:.2} cores busy)",
            self.generator_cpu.user_s, self.generator_cpu.system_s, self.generator_cpu.cores_busy
        )
    }
}

/// State one generator executor shares between its tasks.
struct Gen {
    args: ProducerBenchArgs,
    producer: Rc<Producer>,
    /// Set with --transaction: every send goes through it and is committed.
    transactional: Option<TransactionProducer>,
    window: RefCell<Window>,
    /// Messages started (for -q and the rate schedule).
    started: Cell<u64>,
    /// This executor's share of -q (0: none).
    quota: u64,
    start: Instant,
    /// Wall clock at `start`, µs since the epoch (due times become stamps from it).
    start_wall_us: i64,
    measure_from: Instant,
    end: Option<Instant>,
    body: bytes::Bytes,
    stop: fn() -> bool,
}

impl Gen {
    fn done(&self) -> bool {
        (self.stop)()
            || (self.quota > 0 && self.started.get() >= self.quota)
            || self.end.is_some_and(|e| Instant::now() >= e)
    }

    /// The next message and when it is due.
    fn next(&self, executor: usize) -> (Message, Instant) {
        let i = self.started.get();
        self.started.set(i + 1);
        let due = match self.args.rate {
            Some(rate) => {
                let per_executor = (rate as f64 / self.args.cores as f64).max(1e-3);
                self.start + Duration::from_secs_f64(i as f64 / per_executor)
            }
            None => Instant::now(),
        };
        let mut m = Message {
            topic: self.args.topic.clone(),
            body: self.body.clone(),
            ..Message::default()
        };
        if self.args.tag_count > 0 {
            m.tags = Some(format!("tag{}", i % self.args.tag_count as u64));
        }
        if self.args.buckets > 0 {
            m.properties
                .push((BUCKET_PROPERTY.into(), (i % self.args.buckets).to_string()));
        }
        if self.args.keys {
            m.keys = vec![format!("{executor}-{i}")];
        }
        if self.args.property_size > 0 {
            m.properties
                .push(("bench".into(), "x".repeat(self.args.property_size)));
        }
        if let Some(level) = self.args.delay_level {
            m.properties.push(("DELAY".into(), level.to_string()));
        }
        if self.args.e2e {
            // The due time, not the send time: a backed-up sender adds to the latency.
            let due_us =
                self.start_wall_us + due.saturating_duration_since(self.start).as_micros() as i64;
            m.properties
                .push((super::SEND_TIME_PROPERTY.into(), due_us.to_string()));
        }
        (m, due)
    }

    fn record(&self, due: Instant, r: &Result<impl Sized, ClientError>) {
        self.record_n(due, r, 1)
    }

    /// Records a send of `n` messages (a batch is acknowledged as one: one latency).
    fn record_n(&self, due: Instant, r: &Result<impl Sized, ClientError>, n: u64) {
        let mut w = self.window.borrow_mut();
        match r {
            Ok(_) => {
                w.ok += n;
                w.bytes += self.args.size as u64 * n;
                stats::record(&mut w.latency, due.elapsed());
            }
            Err(ClientError::Refused { name, .. }) => w.fail(name.clone(), true),
            Err(ClientError::Unreachable { reason, .. }) if reason.contains("timed out") => {
                w.fail("TIMEOUT".into(), false)
            }
            Err(ClientError::Unreachable { .. }) => w.fail("UNREACHABLE".into(), false),
            Err(e) => w.fail(e.to_string(), false),
        }
    }
}

/// Alphanumeric body bytes, as producer.sh sends.
fn random_body(size: usize, seed: u64) -> Vec<u8> {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            CHARS[(x % CHARS.len() as u64) as usize]
        })
        .collect()
}

async fn generate(
    args: ProducerBenchArgs,
    executor: usize,
    tx: TickSender,
    stop: fn() -> bool,
) -> Result<(), String> {
    let mut producer = Producer::new(
        "benchmark_producer",
        args.namesrv.clone(),
        Duration::from_millis(SEND_TIMEOUT_MS),
    )
    .map_err(|e| e.to_string())?
    .with_credentials(args.credentials.clone());
    if let Some(n) = args.async_inflight {
        producer.set_max_async_in_flight(n);
    }
    let producer = Rc::new(producer);
    let transactional = if args.transaction {
        let tp = TransactionProducer::new(
            "benchmark_transaction_producer",
            args.namesrv.clone(),
            Duration::from_millis(SEND_TIMEOUT_MS),
            // Every transaction commits at once; a check-back (none expected) says so too.
            Rc::new(|_| TxState::Commit),
        )
        .map_err(|e| e.to_string())?;
        Some(tp)
    } else {
        None
    };
    // The route first (creates the topic from TBW102 when it is new).
    let route = producer
        .route(&args.topic)
        .await
        .map_err(|e| format!("route of {}: {e}", args.topic))?;
    if let Some(q) = args.queue {
        // `send_ordered` would wrap a queue past the last one; a bench run that silently
        // measures another queue than asked is worse than no run.
        let writable = Producer::publish_queues(&args.topic, &route).len();
        if q >= writable {
            return Err(format!(
                "--queue {q}: topic {} has {writable} writable queues (0..={})",
                args.topic,
                writable.saturating_sub(1)
            ));
        }
    }
    let start = Instant::now();
    let start_wall_us = crate::clock::now_us();
    let share =
        |n: u64| n / args.cores as u64 + u64::from((executor as u64) < n % args.cores as u64);
    let g = Rc::new(Gen {
        quota: share(args.count),
        body: random_body(args.size, 0x9E37_79B9 + executor as u64).into(),
        producer,
        transactional,
        window: RefCell::default(),
        started: Cell::new(0),
        start,
        start_wall_us,
        measure_from: start + args.warmup,
        end: args.duration.map(|d| start + args.warmup + d),
        stop,
        args,
    });
    let reporter = glommio::spawn_local({
        let (g, tx) = (g.clone(), tx.clone());
        async move {
            let mut interval_start = g.start;
            loop {
                glommio::timer::sleep(Duration::from_millis(stats::REPORT_INTERVAL_MS)).await;
                let window = std::mem::take(&mut *g.window.borrow_mut());
                let measured = stats::after_warmup(interval_start, g.measure_from);
                interval_start = Instant::now();
                if tx
                    .send(Tick {
                        executor,
                        window,
                        measured,
                    })
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    match g.args.async_inflight {
        Some(_) => {
            while !g.done() {
                let (m, due) = g.next(executor);
                wait_until(due).await;
                let g2 = g.clone();
                g.producer.send_async(m, move |r| g2.record(due, &r)).await;
            }
            g.producer.flush_async().await;
        }
        None => {
            let tasks = g.args.threads / g.args.cores
                + usize::from(executor < g.args.threads % g.args.cores);
            let workers: Vec<_> = (0..tasks.max(1))
                .map(|_| {
                    let g = g.clone();
                    glommio::spawn_local(async move {
                        while !g.done() {
                            let (m, due) = g.next(executor);
                            wait_until(due).await;
                            if g.args.batch > 1 {
                                let mut msgs = vec![m];
                                while msgs.len() < g.args.batch && !g.done() {
                                    msgs.push(g.next(executor).0);
                                }
                                let r = g.producer.send_batch(&msgs).await;
                                g.record_n(due, &r, msgs.len() as u64);
                            } else if let Some(tp) = &g.transactional {
                                let r = tp.send(&m, |_, _| TxState::Commit).await;
                                g.record(due, &r);
                            } else if let Some(q) = g.args.queue {
                                let r = g.producer.send_ordered(&m, |_| q).await;
                                g.record(due, &r);
                            } else {
                                let r = g.producer.send(&m).await;
                                g.record(due, &r);
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await;
            }
        }
    }
    drop(reporter);
    let window = std::mem::take(&mut *g.window.borrow_mut());
    let _ = tx.send(Tick {
        executor,
        window,
        measured: true,
    });
    Ok(())
}

async fn wait_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        glommio::timer::sleep(t - now).await;
    }
}
