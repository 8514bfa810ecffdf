//! A load generator on RocketMQ 5's official Rust SDK (crates.io `rocketmq` 5.0.0), for
//! bench/grpc.sh: gRPC sends beside `coremq bench producer`'s remoting sends, receive +
//! ack throughput, and timer lateness. It measures what an application on the SDK gets,
//! so the SDK's own costs are in every figure. The SDK logs to stderr. Every mode is bounded by a count or a
//! duration and stops on its own.
//!
//! ```text
//! grpc_bench send    -e 127.0.0.1:8081 -t T [-w 64] [-s 128] --duration 10
//! grpc_bench receive -e ... -t T -g G [-w 8] --count 100000 [--duration 60]
//! grpc_bench timers  -e ... -t T [-w 64] --count 1000000 --due-in-s 1800 --span-s 600
//! grpc_bench probe   -e ... -t T -g G --count 200 [--lead-s 5]
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use rocketmq::conf::{ClientOption, ProducerOption, SimpleConsumerOption};
use rocketmq::model::common::{FilterExpression, FilterType};
use rocketmq::model::message::MessageBuilder;
use rocketmq::{Producer, SimpleConsumer};

/// Longest a receive waits on the broker when nothing is there.
const LONG_POLL_S: u64 = 3;
/// Invisible time given to received messages (acked long before).
const INVISIBLE_S: u64 = 60;
/// Send failures printed (to stderr) before they are only counted.
const MAX_ERRORS_SHOWN: u64 = 5;
/// Probe timers sent per second.
const PROBES_PER_S: u64 = 5;

#[derive(Parser)]
#[command(about = "gRPC load on RocketMQ 5's Rust SDK (bench/grpc.sh)")]
struct Args {
    /// The broker's gRPC endpoint, host:port.
    #[arg(short = 'e', long, default_value = "127.0.0.1:8081")]
    endpoint: String,
    /// Topic.
    #[arg(short = 't', long, default_value = "GrpcBench")]
    topic: String,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Sends from `-w` tasks (one send in flight each) over one producer.
    Send {
        #[arg(short = 'w', long, default_value_t = 64)]
        threads: usize,
        #[arg(short = 's', long, default_value_t = 128)]
        size: usize,
        /// Measured seconds (after a 1 s warm-up).
        #[arg(long)]
        duration: u64,
    },
    /// Receives (batches of 32) and acks each message, from `-w` loops over one consumer.
    Receive {
        #[arg(short = 'g', long)]
        group: String,
        #[arg(short = 'w', long, default_value_t = 8)]
        threads: usize,
        /// Stop after this many.
        #[arg(long)]
        count: u64,
        /// Stop after this many seconds anyway.
        #[arg(long, default_value_t = 120)]
        duration: u64,
    },
    /// Schedules `--count` timer messages due spread over `--span-s` seconds, starting
    /// `--due-in-s` seconds from now.
    Timers {
        #[arg(short = 'w', long, default_value_t = 64)]
        threads: usize,
        #[arg(long)]
        count: u64,
        #[arg(long)]
        due_in_s: i64,
        #[arg(long, default_value_t = 600)]
        span_s: i64,
    },
    /// Sends `--count` timer messages (5 a second, each due `--lead-s` s ahead, on a whole
    /// second as the SDK takes) and receives them: lateness past the due time.
    Probe {
        #[arg(short = 'g', long)]
        group: String,
        #[arg(long)]
        count: u64,
        #[arg(long, default_value_t = 5)]
        lead_s: i64,
    },
}

fn client_option(endpoint: &str) -> ClientOption {
    let mut o = ClientOption::default();
    o.set_access_url(endpoint);
    o.set_enable_tls(false);
    o.set_timeout(Duration::from_secs(10));
    o.set_long_polling_timeout(Duration::from_secs(LONG_POLL_S));
    o
}

async fn producer(endpoint: &str, topic: &str) -> Producer {
    let mut po = ProducerOption::default();
    po.set_topics(vec![topic]);
    let mut p = Producer::new(po, client_option(endpoint)).expect("producer options");
    p.start().await.expect("producer start");
    p
}

async fn consumer(endpoint: &str, topic: &str, group: &str) -> SimpleConsumer {
    let mut co = SimpleConsumerOption::default();
    co.set_topics(vec![topic]);
    co.set_consumer_group(group);
    let mut c = SimpleConsumer::new(co, client_option(endpoint)).expect("consumer options");
    c.start().await.expect("consumer start");
    c
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// This process's user + system CPU seconds so far.
fn cpu_s() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

fn percentiles_ms(h: &Histogram<u64>, unit_per_ms: f64) -> String {
    let q = |p: f64| h.value_at_quantile(p) as f64 / unit_per_ms;
    format!(
        "{{\"p50\": {:.3}, \"p99\": {:.3}, \"p99.9\": {:.3}, \"max\": {:.3}}}",
        q(0.5),
        q(0.99),
        q(0.999),
        h.max() as f64 / unit_per_ms
    )
}

async fn send(a: &Args, threads: usize, size: usize, duration: u64) {
    let p = Arc::new(producer(&a.endpoint, &a.topic).await);
    let body = vec![b'x'; size];
    let start = Instant::now();
    let warm = start + Duration::from_secs(1);
    let end = warm + Duration::from_secs(duration);
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..threads {
        let (p, body, topic, errors) = (p.clone(), body.clone(), a.topic.clone(), errors.clone());
        tasks.spawn(async move {
            let mut h = histogram();
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    return h;
                }
                let m = MessageBuilder::builder()
                    .set_topic(topic.clone())
                    .set_body(body.clone())
                    .build()
                    .expect("message");
                let r = p.send(m).await;
                if t0 >= warm {
                    match r {
                        Ok(_) => h.record(t0.elapsed().as_micros().max(1) as u64).unwrap(),
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) < MAX_ERRORS_SHOWN {
                                eprintln!("send failed: {e:?}");
                            }
                        }
                    }
                }
            }
        });
    }
    tokio::time::sleep_until(warm.into()).await;
    let cpu_warm = cpu_s();
    let mut all = histogram();
    while let Some(h) = tasks.join_next().await {
        all.add(h.expect("sender")).unwrap();
    }
    let cpu = cpu_s() - cpu_warm;
    let n = all.len();
    println!(
        "{{\"mode\": \"send\", \"threads\": {threads}, \"size\": {size}, \"sent\": {n}, \"errors\": {}, \"tps\": {:.0}, \"latency_ms\": {}, \"generator_us_per_msg\": {:.2}}}",
        errors.load(Ordering::Relaxed),
        n as f64 / duration as f64,
        percentiles_ms(&all, 1000.0),
        cpu * 1e6 / n.max(1) as f64
    );
}

async fn receive(a: &Args, group: &str, threads: usize, count: u64, duration: u64) {
    let c = Arc::new(consumer(&a.endpoint, &a.topic, group).await);
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let end = start + Duration::from_secs(duration);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..threads {
        let (c, done, stop, topic) = (c.clone(), done.clone(), stop.clone(), a.topic.clone());
        tasks.spawn(async move {
            let all = FilterExpression::new(FilterType::Tag, "*");
            while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                let Ok(batch) = c
                    .receive_with(topic.as_str(), &all, 32, Duration::from_secs(INVISIBLE_S))
                    .await
                else {
                    continue;
                };
                for m in batch {
                    if c.ack(&m).await.is_ok() && done.fetch_add(1, Ordering::Relaxed) + 1 >= count
                    {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    let cpu0 = cpu_s();
    while tasks.join_next().await.is_some() {}
    let secs = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "{{\"mode\": \"receive\", \"threads\": {threads}, \"acked\": {n}, \"seconds\": {secs:.2}, \"tps\": {:.0}, \"generator_us_per_msg\": {:.2}}}",
        n as f64 / secs,
        (cpu_s() - cpu0) * 1e6 / n.max(1) as f64
    );
}

async fn timers(a: &Args, threads: usize, count: u64, due_in_s: i64, span_s: i64) {
    let p = Arc::new(producer(&a.endpoint, &a.topic).await);
    let first_s = now_ms() / 1000 + due_in_s;
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..threads {
        let (p, next, topic) = (p.clone(), next.clone(), a.topic.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let due = first_s + (i as i64 % span_s.max(1));
                let m = MessageBuilder::delay_message_builder(topic.clone(), vec![b't'; 128], due)
                    .build()
                    .expect("message");
                p.send(m).await.expect("timer send");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"mode\": \"timers\", \"scheduled\": {count}, \"seconds\": {secs:.1}, \"tps\": {:.0}, \"first_due_s\": {first_s}, \"span_s\": {span_s}}}",
        count as f64 / secs
    );
}

async fn probe(a: &Args, group: &str, count: u64, lead_s: i64) {
    let p = producer(&a.endpoint, &a.topic).await;
    let c = consumer(&a.endpoint, &a.topic, group).await;
    let lateness = Arc::new(Mutex::new(histogram()));
    let early = Arc::new(AtomicU64::new(0));
    let got = Arc::new(AtomicU64::new(0));
    let receiver = {
        let (lateness, early, got, topic) = (
            lateness.clone(),
            early.clone(),
            got.clone(),
            a.topic.clone(),
        );
        let deadline = Instant::now() + Duration::from_secs(count / PROBES_PER_S + 60);
        tokio::spawn(async move {
            let all = FilterExpression::new(FilterType::Tag, "*");
            while got.load(Ordering::Relaxed) < count && Instant::now() < deadline {
                let Ok(batch) = c
                    .receive_with(topic.as_str(), &all, 32, Duration::from_secs(INVISIBLE_S))
                    .await
                else {
                    continue;
                };
                let at = now_ms();
                for m in batch {
                    let due_ms = m.delivery_timestamp().unwrap_or(0) * 1000;
                    if at < due_ms {
                        early.fetch_add(1, Ordering::Relaxed);
                    } else {
                        lateness
                            .lock()
                            .unwrap()
                            .record((at - due_ms).max(1) as u64)
                            .unwrap();
                    }
                    got.fetch_add(1, Ordering::Relaxed);
                    let _ = c.ack(&m).await;
                }
            }
        })
    };
    let gap = Duration::from_millis(1000 / PROBES_PER_S);
    for _ in 0..count {
        let due = now_ms() / 1000 + lead_s;
        let m = MessageBuilder::delay_message_builder(a.topic.clone(), b"probe".to_vec(), due)
            .build()
            .expect("message");
        p.send(m).await.expect("probe send");
        tokio::time::sleep(gap).await;
    }
    receiver.await.expect("receiver");
    let h = lateness.lock().unwrap();
    println!(
        "{{\"mode\": \"probe\", \"sent\": {count}, \"received\": {}, \"early\": {}, \"lateness_ms\": {}}}",
        got.load(Ordering::Relaxed),
        early.load(Ordering::Relaxed),
        percentiles_ms(&h, 1.0)
    );
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    match &a.mode {
        Mode::Send {
            threads,
            size,
            duration,
        } => send(&a, *threads, *size, *duration).await,
        Mode::Receive {
            group,
            threads,
            count,
            duration,
        } => receive(&a, group, *threads, *count, *duration).await,
        Mode::Timers {
            threads,
            count,
            due_in_s,
            span_s,
        } => timers(&a, *threads, *count, *due_in_s, *span_s).await,
        Mode::Probe {
            group,
            count,
            lead_s,
        } => probe(&a, group, *count, *lead_s).await,
    }
}
