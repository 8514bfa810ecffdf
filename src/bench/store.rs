//! `coremq bench store`: the shard store alone, no network, against the device's ceiling.
//!
//! One pinned glommio executor per shard, each with `writers` tasks appending messages of
//! `size` bytes to its own queues for `duration` after `warmup`. Reported: appends/s, MB/s of
//! payload and of log, HdrHistogram append latency, and in the same run the raw device
//! ceiling (direct-I/O sequential writes of the store's write size, fdatasync latency)
//! with the store/device ratio.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::Placement;
use hdrhistogram::Histogram;
use serde::Serialize;

use super::device;
use crate::store::root::StoreRoot;
use crate::store::{FlushMode, NewMessage, ShardStore, StoreConfig};

/// Parameters of one run.
#[derive(Debug, Clone)]
pub struct StoreBenchArgs {
    /// Directory for the store (a fresh subdirectory is used and removed).
    pub dir: PathBuf,
    /// Shards (one pinned executor each).
    pub shards: u32,
    /// Writer tasks per shard.
    pub writers: u32,
    /// Queues per shard the writers spread over.
    pub queues: u32,
    /// Message body size.
    pub size: usize,
    /// Flush mode.
    pub flush: FlushMode,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time before.
    pub warmup: Duration,
    /// glommio I/O memory per executor.
    pub io_memory_bytes: usize,
    /// Measure the device ceiling too.
    pub device: bool,
}

/// Results, printable and serializable.
#[derive(Debug, Clone, Serialize)]
pub struct StoreBenchReport {
    /// Echo of the parameters.
    pub shards: u32,
    /// Writers per shard.
    pub writers: u32,
    /// Body size.
    pub size: usize,
    /// "ASYNC_FLUSH" or "SYNC_FLUSH".
    pub flush: &'static str,
    /// Appends in the measured window.
    pub appends: u64,
    /// Appends per second.
    pub appends_per_sec: f64,
    /// Payload MB/s (10^6).
    pub payload_mb_per_sec: f64,
    /// Log bytes (records) MB/s.
    pub log_mb_per_sec: f64,
    /// Append latency percentiles, microseconds.
    pub latency_us: Percentiles,
    /// Commit-log fdatasyncs in the window.
    pub log_syncs: u64,
    /// Device: sequential direct-I/O write MB/s at the store's write size.
    pub device_write_mb_per_sec: Option<f64>,
    /// Device: fdatasync latency, microseconds.
    pub device_sync_us: Option<Percentiles>,
    /// log MB/s ÷ device MB/s.
    pub ratio_to_device: Option<f64>,
}

/// p50/p99/p99.9/max.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 99th.
    pub p99: u64,
    /// 99.9th.
    pub p999: u64,
    /// Maximum.
    pub max: u64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        Percentiles {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

struct ShardResult {
    appends: u64,
    payload: u64,
    log_bytes: u64,
    syncs: u64,
    hist: Histogram<u64>,
    device: Option<device::DeviceCeiling>,
}

/// Runs the benchmark.
pub fn run(args: &StoreBenchArgs) -> Result<StoreBenchReport, String> {
    let root_dir = args
        .dir
        .join(format!("coremq-bench-store-{}", std::process::id()));
    let root = StoreRoot::open(&root_dir, args.shards).map_err(|e| e.to_string())?;
    let cpus = core_affinity::get_core_ids().unwrap_or_default();
    let mut handles = Vec::new();
    for shard in 0..args.shards {
        let a = args.clone();
        let dir = root_dir.clone();
        let placement = match cpus.get(shard as usize % cpus.len().max(1)) {
            Some(c) if !cpus.is_empty() => Placement::Fixed(c.id),
            _ => Placement::Unbound,
        };
        let builder = crate::runtime::store_executor(
            &format!("bench-shard-{shard}"),
            placement,
            a.io_memory_bytes,
        )
        .preempt_timer(Duration::from_millis(BENCH_STORE_PREEMPT_MS));
        let h = builder
            .spawn(move || shard_run(a, dir, shard))
            .map_err(|e| format!("starting shard {shard}: {e}"))?;
        handles.push(h);
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(h.join().map_err(|e| e.to_string())??);
    }
    let _ = root.close_clean();
    let _ = std::fs::remove_dir_all(&root_dir);
    let mut hist = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    let (mut appends, mut payload, mut log_bytes, mut syncs) = (0, 0, 0, 0);
    let mut dev = None;
    for r in results {
        hist.add(&r.hist).map_err(|e| e.to_string())?;
        appends += r.appends;
        payload += r.payload;
        log_bytes += r.log_bytes;
        syncs += r.syncs;
        dev = dev.or(r.device);
    }
    let secs = args.duration.as_secs_f64();
    let log_mb = log_bytes as f64 / secs / 1e6;
    let device_mb = dev.as_ref().map(|d| d.write_bytes_per_sec / 1e6);
    Ok(StoreBenchReport {
        shards: args.shards,
        writers: args.writers,
        size: args.size,
        flush: match args.flush {
            FlushMode::Async => "ASYNC_FLUSH",
            FlushMode::Sync => "SYNC_FLUSH",
        },
        appends,
        appends_per_sec: appends as f64 / secs,
        payload_mb_per_sec: payload as f64 / secs / 1e6,
        log_mb_per_sec: log_mb,
        latency_us: Percentiles::of(&hist),
        log_syncs: syncs,
        device_write_mb_per_sec: device_mb,
        device_sync_us: dev.as_ref().map(|d| Percentiles::of(&d.sync_us)),
        ratio_to_device: device_mb.map(|d| log_mb / d),
    })
}

/// Preemption period of the benchmark's store executors, ms, shorter than the broker's
/// [`crate::runtime::PREEMPT_PERIOD_MS`]. The appenders never wait, and glommio reaps the
/// flushers' completions only when a round is preempted: at 100 ms, 64 KiB appends from
/// 16 writers reached 0.07 of the device's bandwidth (p99 0.1-0.4 s), at 2 ms 0.65.
const BENCH_STORE_PREEMPT_MS: u64 = 2;

async fn shard_run(a: StoreBenchArgs, dir: PathBuf, shard: u32) -> Result<ShardResult, String> {
    let mut cfg = StoreConfig::new(dir.clone(), shard);
    cfg.flush_mode = a.flush;
    cfg.retention = None;
    let store = Rc::new(ShardStore::open(cfg).await.map_err(|e| e.to_string())?);
    let start = Instant::now();
    let measure_from = start + a.warmup;
    let stop_at = measure_from + a.duration;
    let host: SocketAddr = "127.0.0.1:10911".parse().map_err(|_| "addr")?;
    let tasks: Vec<_> = (0..a.writers)
        .map(|w| {
            let store = store.clone();
            let mut m = NewMessage::new(
                &format!("BenchStore{shard}"),
                (w % a.queues.max(1)) as i32,
                vec![b'b'; a.size],
                host,
            );
            m.properties = "TAGS\u{1}bench\u{2}KEYS\u{1}k".into();
            glommio::spawn_local(async move {
                let mut hist = Histogram::<u64>::new(3).expect("sigfig 3 is valid");
                let (mut n, mut bytes) = (0u64, 0u64);
                loop {
                    let t = Instant::now();
                    if t >= stop_at {
                        break;
                    }
                    store.append(&m).await.map_err(|e| e.to_string())?;
                    if t >= measure_from {
                        let _ = hist.record(t.elapsed().as_micros() as u64);
                        n += 1;
                        bytes += m.body.len() as u64;
                    }
                    glommio::yield_if_needed().await;
                }
                Ok::<_, String>((n, bytes, hist))
            })
        })
        .collect();
    let syncs_at = |s: &ShardStore| s.stats().log_syncs;
    glommio::timer::sleep(measure_from.saturating_duration_since(Instant::now())).await;
    let (syncs0, end0) = (syncs_at(&store), store.stats().log_end);
    let mut hist = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    let (mut appends, mut payload) = (0, 0);
    for t in tasks {
        let (n, b, h) = t.await?;
        appends += n;
        payload += b;
        hist.add(&h).map_err(|e| e.to_string())?;
    }
    let (syncs1, end1) = (syncs_at(&store), store.stats().log_end);
    store.close().await.map_err(|e| e.to_string())?;
    let device = if a.device && shard == 0 {
        Some(
            device::measure(
                &dir,
                crate::store::config::DEFAULT_WRITE_CHUNK_BYTES,
                Duration::from_secs(3),
            )
            .await?,
        )
    } else {
        None
    };
    Ok(ShardResult {
        appends,
        payload,
        log_bytes: end1.saturating_sub(end0),
        syncs: syncs1 - syncs0,
        hist,
        device,
    })
}

impl std::fmt::Display for StoreBenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "store: shards={} writers/shard={} size={} {}",
            self.shards, self.writers, self.size, self.flush
        )?;
        writeln!(
            f,
            "appends: {} ({:.0}/s)  payload {:.1} MB/s  log {:.1} MB/s  log fdatasyncs {}",
            self.appends,
            self.appends_per_sec,
            self.payload_mb_per_sec,
            self.log_mb_per_sec,
            self.log_syncs
        )?;
        let l = self.latency_us;
        writeln!(
            f,
            "append latency us: p50 {} p99 {} p99.9 {} max {}",
            l.p50, l.p99, l.p999, l.max
        )?;
        if let (Some(d), Some(s), Some(r)) = (
            self.device_write_mb_per_sec,
            self.device_sync_us,
            self.ratio_to_device,
        ) {
            writeln!(
                f,
                "device: direct-I/O writes {:.1} MB/s; fdatasync us p50 {} p99 {} max {}; store log/device = {:.2}",
                d, s.p50, s.p99, s.max, r
            )?;
        }
        Ok(())
    }
}
