//! `coremq bench store ...`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use crate::bench::consumer::ConsumerBenchArgs;
use crate::bench::producer::ProducerBenchArgs;
use crate::bench::store::{self, StoreBenchArgs};
use crate::config::namesrv_addr;
use crate::store::FlushMode;

/// Benchmarks.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    which: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The shard store alone (no network), with the device's raw ceiling in the same run.
    Store(StoreArgs),
    /// Sends like benchmark/producer.sh, with latency percentiles.
    Producer(ProducerArgs),
    /// Consumes like benchmark/consumer.sh, with latency percentiles.
    Consumer(ConsumerArgs),
    /// Draws a latency-vs-throughput SVG from producer/consumer JSON reports.
    Chart(ChartArgs),
}

/// `bench chart`'s options.
#[derive(Debug, Args)]
struct ChartArgs {
    /// Which latency: `send` (producer reports) or `e2e` (consumer reports of --e2e runs).
    #[arg(long, value_enum, default_value = "e2e")]
    latency: ChartLatency,
    /// Write the SVG here (default: standard output).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    /// JSON reports written by `bench producer --json` / `bench consumer --json`.
    #[arg(required = true, value_name = "JSON")]
    files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ChartLatency {
    Send,
    E2e,
}

/// benchmark/producer.sh's options, then coremq's.
#[derive(Debug, Args)]
struct ProducerArgs {
    /// Nameserver list, `a:9876;b:9876` (else NAMESRV_ADDR).
    #[arg(short = 'n', long = "namesrvAddr", value_name = "ADDRS")]
    namesrv_addr: Option<String>,
    /// Topic.
    #[arg(short = 't', long = "topic", default_value = "BenchmarkTest")]
    topic: String,
    /// Sender tasks (each keeps one send in flight).
    #[arg(short = 'w', long = "threadCount", default_value_t = 64)]
    threads: usize,
    /// Body size in bytes.
    #[arg(short = 's', long = "messageSize", default_value_t = 128)]
    size: usize,
    /// A unique key per message.
    #[arg(short = 'k', long = "keyEnable", default_value_t = false, action = clap::ArgAction::Set)]
    keys: bool,
    /// Bytes of user properties per message.
    #[arg(short = 'p', long = "propertySize", default_value_t = 0)]
    property_size: usize,
    /// Distinct tags (0: none).
    #[arg(short = 'l', long = "tagCount", default_value_t = 0)]
    tag_count: usize,
    /// Message trace (not supported: must stay false).
    #[arg(short = 'm', long = "traceEnable", default_value_t = false, action = clap::ArgAction::Set)]
    trace: bool,
    /// ACL: sign with -ak/-sk (else COREMQ_ACCESS_KEY/COREMQ_SECRET_KEY, else RocketMQ
    /// benchmark's rocketmq2/12345678).
    #[arg(short = 'a', long = "aclEnable", default_value_t = false, action = clap::ArgAction::Set)]
    acl: bool,
    /// ACL access key (`-ak` as in RocketMQ's benchmark).
    #[arg(long = "accessKey", value_name = "AK")]
    access_key: Option<String>,
    /// ACL secret key (`-sk`).
    #[arg(long = "secretKey", value_name = "SK")]
    secret_key: Option<String>,
    /// Stop after this many messages (0: no limit).
    #[arg(short = 'q', long = "messageQuantity", default_value_t = 0)]
    count: u64,
    /// Send delayed messages.
    #[arg(short = 'd', long = "delayEnable", default_value_t = false, action = clap::ArgAction::Set)]
    delay: bool,
    /// Delay level when -d true.
    #[arg(short = 'e', long = "delayLevel", default_value_t = 1)]
    delay_level: i32,
    /// Async sends (producer.sh forces one thread; here --async-inflight sends in flight).
    #[arg(short = 'y', long = "asyncEnable", default_value_t = false, action = clap::ArgAction::Set)]
    async_enable: bool,
    /// Async sends in flight per generator core (implies -y true).
    #[arg(long = "async-inflight")]
    async_inflight: Option<usize>,
    /// Measured seconds (default: until -q or Ctrl-C).
    #[arg(long)]
    duration: Option<u64>,
    /// Unmeasured seconds first.
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    /// Fixed total rate in messages per second; latency counts from the scheduled time.
    #[arg(long)]
    rate: Option<u64>,
    /// Generator executors (one thread each).
    #[arg(long, default_value_t = 1)]
    cores: usize,
    /// Messages per batch send (large-message throughput).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Every message to this queue of the topic (an ordered producer with one sharding
    /// key); default: round-robin over the queues.
    #[arg(long, value_name = "QUEUE_ID")]
    queue: Option<usize>,
    /// Transactional sends: half message, local transaction (commits), END_TRANSACTION.
    #[arg(long)]
    transaction: bool,
    /// Stamp each message with its due time so `bench consumer` reports end-to-end
    /// latency (send → consume, from the scheduled time under --rate).
    #[arg(long)]
    e2e: bool,
    /// Also set the user property `bucket` to the message's number modulo this (0: none),
    /// for SQL92 filter runs; with `-l` of the same count it agrees with the tag.
    #[arg(long, default_value_t = 0)]
    buckets: u64,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// benchmark/consumer.sh's options, then coremq's.
#[derive(Debug, Args)]
struct ConsumerArgs {
    /// Nameserver list, `a:9876;b:9876` (else NAMESRV_ADDR).
    #[arg(short = 'n', long = "namesrvAddr", value_name = "ADDRS")]
    namesrv_addr: Option<String>,
    /// Topic.
    #[arg(short = 't', long = "topic", default_value = "BenchmarkTest")]
    topic: String,
    /// consumer.sh's thread count (accepted; each queue is consumed in order).
    #[arg(short = 'w', long = "threadCount", default_value_t = 20)]
    threads: usize,
    /// Consumer group.
    #[arg(short = 'g', long = "group", default_value = "benchmark_consumer")]
    group: String,
    /// Add a random suffix to the group.
    #[arg(short = 'p', long = "group-suffix", default_value_t = false, action = clap::ArgAction::Set)]
    group_suffix: bool,
    /// Filter type: TAG, or SQL92 (the broker needs enablePropertyFilter=true).
    #[arg(short = 'f', long = "filterType", default_value = "TAG")]
    filter_type: String,
    /// Filter expression (tags, or a SQL92 condition with -f SQL92).
    #[arg(short = 'e', long = "expression", default_value = "*")]
    expression: String,
    /// Fraction of deliveries to fail on purpose (sent back for retry).
    #[arg(short = 'r', long = "fail-rate", default_value_t = 0.0)]
    fail_rate: f64,
    /// Message trace (not supported: must stay false).
    #[arg(short = 'm', long = "msgTraceEnable", default_value_t = false, action = clap::ArgAction::Set)]
    trace: bool,
    /// ACL: sign with -ak/-sk (else COREMQ_ACCESS_KEY/COREMQ_SECRET_KEY, else RocketMQ
    /// benchmark's rocketmq2/12345678).
    #[arg(short = 'a', long = "aclEnable", default_value_t = false, action = clap::ArgAction::Set)]
    acl: bool,
    /// ACL access key (`-ak` as in RocketMQ's benchmark).
    #[arg(long = "accessKey", value_name = "AK")]
    access_key: Option<String>,
    /// ACL secret key (`-sk`).
    #[arg(long = "secretKey", value_name = "SK")]
    secret_key: Option<String>,
    /// A new group starts at the first message instead of the last.
    #[arg(long = "from-first")]
    from_first: bool,
    /// Measured seconds (default: until Ctrl-C).
    #[arg(long)]
    duration: Option<u64>,
    /// Stop once this many messages are consumed; the rate then runs from the first
    /// message to the last (a backlog's drain rate, startup left out).
    #[arg(long)]
    count: Option<u64>,
    /// Unmeasured seconds first.
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    /// Consumer executors (one thread and one group member each).
    #[arg(long, default_value_t = 1)]
    cores: usize,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

fn write_json(path: Option<PathBuf>, report: &impl serde::Serialize) -> Result<(), String> {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

fn unsupported(trace: bool) -> Result<(), String> {
    if trace {
        return Err("message trace (-m) is not supported by coremq's bench".into());
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Flush {
    /// ASYNC_FLUSH: acknowledged once buffered.
    Async,
    /// SYNC_FLUSH: acknowledged after an fdatasync covering it.
    Sync,
}

#[derive(Debug, Args)]
struct StoreArgs {
    /// Directory to put the temporary store in (removed afterwards).
    #[arg(long, default_value = ".", value_name = "DIR")]
    dir: PathBuf,
    /// Shards, one pinned core each.
    #[arg(long, default_value_t = 1)]
    shards: u32,
    /// Writer tasks per shard.
    #[arg(short = 'w', long, default_value_t = 64)]
    writers: u32,
    /// Message body size in bytes.
    #[arg(short = 's', long, default_value_t = 128)]
    size: usize,
    /// Queues per shard.
    #[arg(long, default_value_t = 8)]
    queues: u32,
    /// Flush mode.
    #[arg(long, value_enum, default_value_t = Flush::Async)]
    flush: Flush,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Unmeasured seconds before.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// glommio I/O memory per executor (io_uring registered; counts against memlock).
    #[arg(long, default_value_t = 1 << 20)]
    io_memory_bytes: usize,
    /// Skip measuring the device ceiling.
    #[arg(long)]
    no_device: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Runs a benchmark.
pub fn run(args: BenchArgs) -> Result<(), String> {
    match args.which {
        BenchCommand::Store(a) => {
            if a.shards == 0 || a.writers == 0 || a.duration == 0 {
                return Err("--shards, -w and --duration must be at least 1".into());
            }
            let report = store::run(&StoreBenchArgs {
                dir: a.dir,
                shards: a.shards,
                writers: a.writers,
                queues: a.queues,
                size: a.size,
                flush: match a.flush {
                    Flush::Async => FlushMode::Async,
                    Flush::Sync => FlushMode::Sync,
                },
                duration: Duration::from_secs(a.duration),
                warmup: Duration::from_secs(a.warmup),
                io_memory_bytes: a.io_memory_bytes,
                device: !a.no_device,
            })?;
            crate::stdout::text(&report.to_string());
            write_json(a.json, &report)
        }
        BenchCommand::Producer(a) => {
            unsupported(a.trace)?;
            if a.acl && a.transaction {
                return Err("--transaction does not sign its requests: not with -a true".into());
            }
            if a.rate == Some(0) {
                return Err("--rate must be at least 1".into());
            }
            let async_inflight = match (a.async_enable, a.async_inflight) {
                (_, Some(n)) => Some(n.max(1)),
                (true, None) => Some(a.threads.max(1)),
                (false, None) => None,
            };
            let args = ProducerBenchArgs {
                namesrv: namesrv_addr::from_flag_or_env(a.namesrv_addr.as_deref())?,
                topic: a.topic,
                threads: a.threads,
                size: a.size,
                keys: a.keys,
                property_size: a.property_size,
                tag_count: a.tag_count,
                buckets: a.buckets,
                count: a.count,
                delay_level: a.delay.then_some(a.delay_level),
                async_inflight,
                duration: a.duration.map(Duration::from_secs),
                warmup: Duration::from_secs(a.warmup),
                rate: a.rate,
                cores: a.cores,
                batch: a.batch.max(1),
                queue: a.queue,
                transaction: a.transaction,
                e2e: a.e2e,
                credentials: super::credentials::bench(a.acl, a.access_key, a.secret_key),
            };
            crate::broker::server::install_signal_handlers();
            let report = crate::bench::producer::run(args, crate::broker::server::stop_requested)?;
            crate::stdout::text(&report.to_string());
            write_json(a.json, &report)
        }
        BenchCommand::Chart(a) => {
            let latency = match a.latency {
                ChartLatency::Send => crate::bench::chart::Latency::Send,
                ChartLatency::E2e => crate::bench::chart::Latency::EndToEnd,
            };
            let svg = crate::bench::chart::draw(&a.files, latency)?;
            match a.out {
                Some(path) => std::fs::write(&path, svg)
                    .map_err(|e| format!("writing {}: {e}", path.display())),
                None => {
                    crate::stdout::text(&svg);
                    Ok(())
                }
            }
        }
        BenchCommand::Consumer(a) => {
            unsupported(a.trace)?;
            let sql92 = if a.filter_type.eq_ignore_ascii_case("SQL92") {
                true
            } else if a.filter_type.eq_ignore_ascii_case("TAG") {
                false
            } else {
                return Err(format!(
                    "-f {}: the filter type is TAG or SQL92",
                    a.filter_type
                ));
            };
            if a.count == Some(0) {
                return Err("--count must be at least 1".into());
            }
            if !(0.0..=1.0).contains(&a.fail_rate) {
                return Err("-r must be between 0 and 1".into());
            }
            let group = if a.group_suffix {
                format!("{}_{}", a.group, std::process::id() % 100)
            } else {
                a.group
            };
            let args = ConsumerBenchArgs {
                namesrv: namesrv_addr::from_flag_or_env(a.namesrv_addr.as_deref())?,
                topic: a.topic,
                group,
                expression: a.expression,
                sql92,
                threads: a.threads,
                fail_rate: a.fail_rate,
                from_first: a.from_first,
                duration: a.duration.map(Duration::from_secs),
                count: a.count,
                warmup: Duration::from_secs(a.warmup),
                cores: a.cores,
                credentials: super::credentials::bench(a.acl, a.access_key, a.secret_key),
            };
            crate::broker::server::install_signal_handlers();
            let report = crate::bench::consumer::run(args, crate::broker::server::stop_requested)?;
            crate::stdout::text(&report.to_string());
            write_json(a.json, &report)
        }
    }
}
