//! Prometheus metrics, gathered at scrape time. Shard 0 asks every shard over the router
//! for its local counters and its queues' offsets — nothing is added to the hot path but
//! the counters a shard already keeps — and renders the text exposition format.
//!
//! Names and labels follow the rocketmq-exporter where it has a series (so its Grafana
//! dashboards and alert rules carry over): `rocketmq_broker_tps`, `rocketmq_broker_qps`,
//! `rocketmq_producer_offset`, `rocketmq_consumer_offset`, `rocketmq_group_diff` (lag,
//! here per queue too), `rocketmq_message_accumulation`,
//! `rocketmq_group_get_latency_by_storetime` (age of the oldest unconsumed message: the
//! store-to-consume lag), `rocketmq_producer_tps` / `rocketmq_consumer_tps` per topic and
//! group, and the runtime table as `rocketmq_brokeruntime_*`. coremq's own series are
//! `coremq_shard_*` (among them the `coremq_shard_flush_latency_ms` histogram and the
//! device I/O gauges), `coremq_topic_*`, `coremq_group_*` and `coremq_send_latency_ms`.
//! One scrape is one round over the shards: the runtime table is built from the same
//! reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

use super::handlers::{runtime_table_of, RuntimePart};
use super::shard::Shard;
use super::throughput::Breakdown;
use crate::latency_histogram::HistogramSnapshot;
use crate::store::io_inflight::IoInFlight;
use crate::store::StoreStats;

/// (group, topic, queue).
type QueueOfGroup = (String, String, i32);
/// (broker offset, consumer offset, store time of the first unconsumed message or 0).
type Progress = (i64, i64, i64);
/// A per-shard family: name, type, help, and how to read it from a shard's report.
type ShardSeries = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ShardReport) -> u64,
);

/// Replication per shard: bytes behind (a slave behind its master; a master's best slave
/// behind it, only while one is connected) and whether the slave stopped on divergence.
fn replication_series(out: &mut String, base: &str, reports: &[ShardReport]) {
    family(
        out,
        "coremq_replication_lag_bytes",
        "gauge",
        "Commit-log bytes a slave shard is behind its master (on a master: its best slave).",
    );
    for r in reports {
        if let Some(lag) = r.runtime.ha.lag_bytes() {
            let _ = writeln!(
                out,
                "coremq_replication_lag_bytes{{{base},shard=\"{}\"}} {lag}",
                r.shard
            );
        }
    }
    family(
        out,
        "coremq_replication_diverged",
        "gauge",
        "1 when a slave shard stopped following because its log diverged from the master's.",
    );
    for r in reports.iter().filter(|r| r.runtime.ha.slave) {
        let diverged = matches!(
            r.runtime.ha.follow.state,
            super::replication::FollowState::Diverged(_)
        );
        let _ = writeln!(
            out,
            "coremq_replication_diverged{{{base},shard=\"{}\"}} {}",
            r.shard,
            u8::from(diverged)
        );
    }
}

/// Connections per shard: open now, and back-pressure on peers that read no responses
/// (src/remoting/connection.rs).
fn connection_series(out: &mut String, base: &str, reports: &[ShardReport]) {
    let families = [
        (
            "coremq_shard_connections",
            "gauge",
            "Connections open on the shard's core (clients, and the broker's own to nameservers).",
        ),
        (
            "coremq_shard_connection_pauses_total",
            "counter",
            "Times a connection stopped taking requests while its unsent responses passed MAX_QUEUED_WRITE_BYTES.",
        ),
        (
            "coremq_shard_connections_closed_unsent_total",
            "counter",
            "Connections closed because their unsent responses passed MAX_UNSENT_RESPONSE_BYTES.",
        ),
        (
            "coremq_shard_connections_moved_total",
            "counter",
            "Connections handed from the shard's core to the core that owned nearly all their sends' queues (src/remoting/handover.rs).",
        ),
        (
            "coremq_shard_unsent_response_bytes",
            "gauge",
            "Response bytes queued for clients and not yet written (slow readers); a connection pauses past MAX_QUEUED_WRITE_BYTES and closes past MAX_UNSENT_RESPONSE_BYTES.",
        ),
    ];
    for (i, (name, kind, help)) in families.into_iter().enumerate() {
        family(out, name, kind, help);
        for r in reports {
            let c = &r.connections;
            let value = [
                c.open,
                c.paused,
                c.closed_unsent,
                c.moved_out,
                c.unsent_bytes,
            ][i];
            let _ = writeln!(out, "{name}{{{base},shard=\"{}\"}} {value}", r.shard);
        }
    }
}

/// What one shard reports.
struct ShardReport {
    shard: usize,
    /// The shard's part of the runtime table (totals and rates among it).
    runtime: RuntimePart,
    store: StoreStats,
    /// (group, topic, queue) → (broker offset, consumer offset, store time of the first
    /// unconsumed message, 0 when caught up).
    lag: Vec<(QueueOfGroup, Progress)>,
    /// (topic, queue) → next offset, for every queue with messages.
    queues: Vec<((String, i32), i64)>,
    /// Send latency.
    send_latency: HistogramSnapshot,
    /// Commit-log write round durations.
    flush_latency: HistogramSnapshot,
    /// Device I/O in flight on the shard's ring.
    io: IoInFlight,
    /// Per-topic and per-group counters.
    breakdown: Breakdown,
    /// Appends in flight on the store.
    inflight_appends: usize,
    /// Message bytes those appends hold.
    inflight_append_bytes: u64,
    /// Cross-shard requests sent, and waiting now.
    router: (u64, usize, u64),
    /// Request-reply replies pushed and dropped.
    replies: (u64, u64),
    /// Transaction outcomes and check-backs.
    transactions: crate::broker::transaction::book::TxCounters,
    /// Half messages undecided past their timeout now.
    overdue_half_messages: usize,
    /// Connections on the shard's executor.
    connections: crate::remoting::connection::ConnectionStats,
    /// RocketMQ 5 (gRPC) clients whose connection is on this shard.
    grpc_clients: usize,
    /// POP deliveries leased and not acked on this shard's queues.
    pop_inflight: usize,
    /// Timer messages held in memory (the loaded minutes).
    timers_loaded: usize,
}

/// Topic and (group, topic) counters as a scrape saw them.
type Seen = (
    std::time::Instant,
    BTreeMap<String, u64>,
    BTreeMap<(String, String), u64>,
);

/// What the previous scrape saw, for per-topic and per-group rates (the exporter's
/// `rocketmq_producer_tps` / `rocketmq_consumer_tps`: messages per second since then).
#[derive(Default)]
pub struct ScrapeMemory {
    last: Option<Seen>,
}

async fn report(s: Rc<Shard>) -> ShardReport {
    let entries = s.offsets.borrow().entries();
    let mut lag = Vec::with_capacity(entries.len());
    for (group, topic, q, consumer) in entries {
        let (_, max) = s.store.queue_offsets(&topic, q);
        let max = max as i64;
        let oldest = if consumer < max {
            s.store
                .store_time_at(&topic, q, consumer.max(0) as u64)
                .await
        } else {
            0
        };
        lag.push(((group, topic, q), (max, consumer, oldest)));
    }
    let grpc_clients = s.grpc_clients.borrow().all().count();
    let pop_inflight = s.pop.borrow().inflight();
    let timers_loaded = s.timer.borrow().as_ref().map_or(0, |t| t.loaded());
    ShardReport {
        grpc_clients,
        pop_inflight,
        timers_loaded,
        shard: s.id,
        runtime: RuntimePart::of(&s).await,
        store: s.store.stats(),
        lag,
        queues: s
            .store
            .queues()
            .into_iter()
            .map(|(t, q)| {
                let (_, max) = s.store.queue_offsets(&t, q);
                ((t, q), max as i64)
            })
            .filter(|(_, max)| *max > 0)
            .collect(),
        send_latency: s.send_latency.snapshot(),
        flush_latency: s.store.flush_latency(),
        io: crate::store::io_inflight::take(),
        breakdown: s.throughput.breakdown(),
        inflight_appends: s.inflight_appends(),
        inflight_append_bytes: s.inflight_append_bytes(),
        router: s.router_stats(),
        replies: s.replies(),
        transactions: s.transactions.borrow().counters(),
        overdue_half_messages: s.transactions.borrow().overdue_len(),
        connections: crate::remoting::connection::stats(),
    }
}

/// `msgPutTotalTodayNow` → `msg_put_total_today_now`.
fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 8);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    out
}

/// Escapes a label value.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Gathers from every shard and renders the exposition text.
pub async fn scrape(
    shard: &Rc<Shard>,
    memory: &std::cell::RefCell<ScrapeMemory>,
) -> Result<String, String> {
    let reports = shard
        .run_on_all(|s| async move { report(s).await })
        .await
        .map_err(|e| e.to_string())?;
    let cfg = shard.cfg();
    let base = format!(
        "cluster=\"{}\",broker=\"{}\"",
        esc(&cfg.broker_cluster_name),
        esc(&cfg.broker_name)
    );
    let mut out = String::with_capacity(4096);

    family(
        &mut out,
        "rocketmq_broker_tps",
        "gauge",
        "Messages stored per second (10 s).",
    );
    let put: f64 = reports.iter().map(|r| r.runtime.rates.put[0]).sum();
    let _ = writeln!(out, "rocketmq_broker_tps{{{base}}} {put}");
    family(
        &mut out,
        "rocketmq_broker_qps",
        "gauge",
        "Messages delivered per second (10 s).",
    );
    let get: f64 = reports.iter().map(|r| r.runtime.rates.get[0]).sum();
    let _ = writeln!(out, "rocketmq_broker_qps{{{base}}} {get}");

    let (mut put, mut put_bytes) = (
        BTreeMap::<String, u64>::new(),
        BTreeMap::<String, u64>::new(),
    );
    let mut got = BTreeMap::<(String, String), u64>::new();
    for r in &reports {
        for (t, m, b) in &r.breakdown.put {
            *put.entry(t.clone()).or_default() += m;
            *put_bytes.entry(t.clone()).or_default() += b;
        }
        for (g, t, m) in &r.breakdown.got {
            *got.entry((g.clone(), t.clone())).or_default() += m;
        }
    }
    let now = std::time::Instant::now();
    let previous = memory
        .borrow_mut()
        .last
        .replace((now, put.clone(), got.clone()));
    let since = previous.as_ref().map(|p| p.0);
    let rate = |now_count: u64, before: Option<u64>| match (before, since) {
        (Some(b), Some(t)) if now > t => {
            now_count.saturating_sub(b) as f64 / (now - t).as_secs_f64()
        }
        _ => 0.0,
    };
    // The runtime table clusterList reads, as the exporter's brokeruntime gauges, from the
    // parts gathered in the same round as everything else.
    let parts: Vec<RuntimePart> = reports.iter().map(|r| r.runtime.clone()).collect();
    let runtime = runtime_table_of(shard, &parts);
    for (k, v) in &runtime.table {
        let Ok(n) = v.parse::<f64>() else { continue };
        let name = format!("rocketmq_brokeruntime_{}", snake(k));
        family(
            &mut out,
            &name,
            "gauge",
            &format!("The broker runtime table's {k}."),
        );
        let _ = writeln!(out, "{name}{{{base}}} {n}");
    }
    family(
        &mut out,
        "rocketmq_producer_tps",
        "gauge",
        "Messages stored per second on a topic, since the previous scrape.",
    );
    for (t, n) in &put {
        let before = previous.as_ref().map(|p| p.1.get(t).copied().unwrap_or(0));
        let _ = writeln!(
            out,
            "rocketmq_producer_tps{{{base},topic=\"{}\"}} {}",
            esc(t),
            rate(*n, before)
        );
    }
    family(
        &mut out,
        "rocketmq_consumer_tps",
        "gauge",
        "Messages a group pulled per second from a topic, since the previous scrape.",
    );
    for ((g, t), n) in &got {
        let before = previous
            .as_ref()
            .map(|p| p.2.get(&(g.clone(), t.clone())).copied().unwrap_or(0));
        let _ = writeln!(
            out,
            "rocketmq_consumer_tps{{{base},group=\"{}\",topic=\"{}\"}} {}",
            esc(g),
            esc(t),
            rate(*n, before)
        );
    }
    family(
        &mut out,
        "coremq_topic_put_messages_total",
        "counter",
        "Messages stored per topic.",
    );
    for (t, n) in &put {
        let _ = writeln!(
            out,
            "coremq_topic_put_messages_total{{{base},topic=\"{}\"}} {n}",
            esc(t)
        );
    }
    family(
        &mut out,
        "coremq_topic_put_bytes_total",
        "counter",
        "Body bytes stored per topic.",
    );
    for (t, n) in &put_bytes {
        let _ = writeln!(
            out,
            "coremq_topic_put_bytes_total{{{base},topic=\"{}\"}} {n}",
            esc(t)
        );
    }
    family(
        &mut out,
        "coremq_group_get_messages_total",
        "counter",
        "Messages pulled per group and topic.",
    );
    for ((g, t), n) in &got {
        let _ = writeln!(
            out,
            "coremq_group_get_messages_total{{{base},group=\"{}\",topic=\"{}\"}} {n}",
            esc(g),
            esc(t)
        );
    }

    family(
        &mut out,
        "rocketmq_producer_offset",
        "gauge",
        "Next offset of each queue.",
    );
    for r in &reports {
        for ((t, q), max) in &r.queues {
            let _ = writeln!(
                out,
                "rocketmq_producer_offset{{{base},topic=\"{}\",queueid=\"{q}\"}} {max}",
                esc(t)
            );
        }
    }
    family(
        &mut out,
        "rocketmq_consumer_offset",
        "gauge",
        "Committed offset per group and queue.",
    );
    for r in &reports {
        for ((g, t, q), (_, consumer, _)) in &r.lag {
            let _ = writeln!(
                out,
                "rocketmq_consumer_offset{{{base},group=\"{}\",topic=\"{}\",queueid=\"{q}\"}} {consumer}",
                esc(g),
                esc(t)
            );
        }
    }
    family(
        &mut out,
        "rocketmq_group_diff",
        "gauge",
        "Consumer lag: messages stored but not yet consumed, per queue.",
    );
    let mut accumulation: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut oldest: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in &reports {
        for ((g, t, q), (max, consumer, first_unconsumed)) in &r.lag {
            let diff = (max - consumer).max(0);
            *accumulation.entry((g.clone(), t.clone())).or_default() += diff;
            let o = oldest.entry((g.clone(), t.clone())).or_insert(0);
            if *first_unconsumed > 0 && (*o == 0 || first_unconsumed < o) {
                *o = *first_unconsumed;
            }
            let _ = writeln!(
                out,
                "rocketmq_group_diff{{{base},group=\"{}\",topic=\"{}\",queueid=\"{q}\"}} {diff}",
                esc(g),
                esc(t)
            );
        }
    }
    family(
        &mut out,
        "rocketmq_message_accumulation",
        "gauge",
        "Consumer lag summed over a topic's queues.",
    );
    for ((g, t), n) in &accumulation {
        let _ = writeln!(
            out,
            "rocketmq_message_accumulation{{{base},group=\"{}\",topic=\"{}\"}} {n}",
            esc(g),
            esc(t)
        );
    }
    family(
        &mut out,
        "rocketmq_group_get_latency_by_storetime",
        "gauge",
        "Age in ms of the oldest message a group has not consumed (0: caught up).",
    );
    let now = crate::clock::now_ms();
    for ((g, t), first) in &oldest {
        let age = if *first > 0 { (now - first).max(0) } else { 0 };
        let _ = writeln!(
            out,
            "rocketmq_group_get_latency_by_storetime{{{base},group=\"{}\",topic=\"{}\"}} {age}",
            esc(g),
            esc(t)
        );
    }

    const C: &str = "counter";
    let counters: [ShardSeries; 9] = [
        (
            "coremq_shard_put_messages_total",
            C,
            "Messages stored.",
            |r| r.runtime.totals.put_msgs,
        ),
        (
            "coremq_shard_put_bytes_total",
            C,
            "Message bytes stored.",
            |r| r.runtime.totals.put_bytes,
        ),
        (
            "coremq_shard_get_messages_total",
            C,
            "Messages delivered.",
            |r| r.runtime.totals.get_msgs,
        ),
        ("coremq_shard_appends_total", C, "Store appends.", |r| {
            r.store.appends
        }),
        (
            "coremq_shard_flushes_total",
            C,
            "Commit-log write rounds.",
            |r| r.store.flushes,
        ),
        (
            "coremq_shard_append_waits_total",
            C,
            "Appends that waited for the device (unwritten log bytes over the limit, or a key-index backlog).",
            |r| r.store.append_waits,
        ),
        (
            "coremq_shard_log_syncs_total",
            C,
            "Commit-log fdatasyncs.",
            |r| r.store.log_syncs,
        ),
        (
            "coremq_shard_reads_from_memory_total",
            C,
            "Reads served from the shard's cache.",
            |r| r.store.reads_from_memory,
        ),
        (
            "coremq_shard_reads_from_disk_total",
            C,
            "Reads that went to the device.",
            |r| r.store.reads_from_disk,
        ),
    ];
    per_shard(&mut out, &base, &reports, &counters);
    family(
        &mut out,
        "coremq_shard_flush_latency_ms",
        "histogram",
        "Duration of commit-log write rounds (write and, when due, fdatasync).",
    );
    for r in &reports {
        let labels = format!("{base},shard=\"{}\"", r.shard);
        histogram(
            &mut out,
            "coremq_shard_flush_latency_ms",
            &labels,
            &r.flush_latency,
        );
    }
    let io_gauges: [ShardSeries; 2] = [
        (
            "coremq_shard_io_inflight",
            "gauge",
            "Device reads, writes and syncs submitted to the shard's ring and not completed.",
            |r| r.io.now,
        ),
        (
            "coremq_shard_io_inflight_peak",
            "gauge",
            "Most device operations in flight at once since the previous scrape.",
            |r| r.io.peak,
        ),
    ];
    per_shard(&mut out, &base, &reports, &io_gauges);
    replication_series(&mut out, &base, &reports);
    family(
        &mut out,
        "coremq_shard_io_operations_total",
        "counter",
        "Device operations issued by the store, by kind.",
    );
    for r in &reports {
        for (kind, n) in [
            ("read", r.io.reads),
            ("write", r.io.writes),
            ("sync", r.io.syncs),
            ("allocate", r.io.allocations),
        ] {
            let _ = writeln!(
                out,
                "coremq_shard_io_operations_total{{{base},shard=\"{}\",kind=\"{kind}\"}} {n}",
                r.shard
            );
        }
    }
    let load: [ShardSeries; 17] = [
        (
            "coremq_shard_grpc_clients",
            "gauge",
            "RocketMQ 5 (gRPC) clients connected to this shard that announced their settings.",
            |r| r.grpc_clients as u64,
        ),
        (
            "coremq_shard_pop_inflight_messages",
            "gauge",
            "Messages received by gRPC consumers and not acked yet (invisible to their group).",
            |r| r.pop_inflight as u64,
        ),
        (
            "coremq_shard_timer_messages_loaded",
            "gauge",
            "Timer messages due within the loaded minutes, held in memory (the rest wait on disk).",
            |r| r.timers_loaded as u64,
        ),
        (
            "coremq_shard_router_messages_total",
            C,
            "Requests this shard sent to other shards (cross-core hops).",
            |r| r.router.0,
        ),
        (
            "coremq_shard_router_pending",
            "gauge",
            "Cross-shard requests awaiting an answer.",
            |r| r.router.1 as u64,
        ),
        (
            "coremq_shard_router_batches_total",
            C,
            "Batches this shard sent to other shards: the requests and replies one turn queued for a peer travel together (one channel slot, at most one wakeup).",
            |r| r.router.2,
        ),
        (
            "coremq_shard_inflight_appends",
            "gauge",
            "Appends waiting on the store (bounded: past the bound sends get SYSTEM_BUSY).",
            |r| r.inflight_appends as u64,
        ),
        (
            "coremq_shard_inflight_append_bytes",
            "gauge",
            "Message bytes held by appends waiting on the store (SYNC_FLUSH sync, SYNC_MASTER slave ack); past MAX_INFLIGHT_APPEND_BYTES_PER_SHARD sends get SYSTEM_BUSY.",
            |r| r.inflight_append_bytes,
        ),
        (
            "coremq_shard_replies_pushed_total",
            "counter",
            "Request-reply replies pushed to their requester's connection.",
            |r| r.replies.0,
        ),
        (
            "coremq_shard_replies_dropped_total",
            "counter",
            "Request-reply replies whose requester was gone (stored, not delivered).",
            |r| r.replies.1,
        ),
        (
            "coremq_shard_transactions_committed_total",
            "counter",
            "Transactional half messages committed (delivered on their real queue).",
            |r| r.transactions.committed,
        ),
        (
            "coremq_shard_transactions_rolled_back_total",
            "counter",
            "Transactional half messages rolled back.",
            |r| r.transactions.rolled_back,
        ),
        (
            "coremq_shard_transactions_dropped_total",
            "counter",
            "Half messages dropped after transactionCheckMax check-backs (copied to TRANS_CHECK_MAX_TIME_TOPIC).",
            |r| r.transactions.dropped,
        ),
        (
            "coremq_shard_transaction_checks_total",
            "counter",
            "CHECK_TRANSACTION_STATE check-backs sent to producers.",
            |r| r.transactions.checks,
        ),
        (
            "coremq_shard_transactions_overdue",
            "gauge",
            "Half messages undecided past transactionTimeOut, waiting for a check-back answer.",
            |r| r.overdue_half_messages as u64,
        ),
        (
            "coremq_shard_unflushed_bytes",
            "gauge",
            "Commit-log bytes appended but not yet durable.",
            |r| r.store.log_end.saturating_sub(r.store.log_durable),
        ),
        (
            "coremq_shard_read_cache_bytes",
            "gauge",
            "Memory held by the read caches of recent commit-log and consume-index data.",
            |r| r.store.read_cache_bytes,
        ),
    ];
    per_shard(&mut out, &base, &reports, &load);
    connection_series(&mut out, &base, &reports);
    family(
        &mut out,
        "coremq_send_latency_ms",
        "histogram",
        "Time from a send request's arrival to its answer, per broker.",
    );
    let mut send = HistogramSnapshot::default();
    for r in &reports {
        send.merge(&r.send_latency);
    }
    histogram(&mut out, "coremq_send_latency_ms", &base, &send);
    Ok(out)
}

/// Writes a family's HELP and TYPE lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Writes each family with one sample per shard.
fn per_shard(out: &mut String, base: &str, reports: &[ShardReport], series: &[ShardSeries]) {
    for (name, kind, help, get) in series {
        family(out, name, kind, help);
        for r in reports {
            let _ = writeln!(out, "{name}{{{base},shard=\"{}\"}} {}", r.shard, get(r));
        }
    }
}

/// Writes one histogram's `_bucket`, `_count` and `_sum` lines under `labels`.
fn histogram(out: &mut String, name: &str, labels: &str, h: &HistogramSnapshot) {
    for (le, n) in &h.buckets {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels},le=\"+Inf\"}} {}\n{name}_count{{{labels}}} {}\n{name}_sum{{{labels}}} {}",
        h.count, h.count, h.sum_ms
    );
}
