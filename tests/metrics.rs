//! The broker's Prometheus endpoint scraped with a real HTTP client while messages flow:
//! the lag series grows while a group's consumer is away and returns to zero when it
//! catches up; per-shard and latency series are present.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// Sum of a family's samples whose labels contain every `want`.
fn sum(text: &str, family: &str, want: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .filter(|l| want.iter().all(|w| l.contains(w)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A histogram's buckets under `label` never decrease, and `+Inf` equals `_count`.
fn check_histogram(text: &str, family: &str, label: &str) {
    let bucket = format!("{family}_bucket{{");
    let counts: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(&bucket) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(counts.len() > 2, "{family} {label}: no buckets in {text}");
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "{family} {label}: buckets decrease: {counts:?}"
    );
    let count = sum(text, &format!("{family}_count"), &[label]);
    assert_eq!(
        counts.last().copied(),
        Some(count),
        "{family} {label}: +Inf"
    );
    assert!(count > 0.0, "{family} {label}: nothing recorded");
}

fn run(args: &[&str]) {
    let out = Command::new(coremq_bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn lag_grows_while_a_consumer_is_away_and_returns_to_zero() {
    let port = free_port();
    let s = standalone_with(&format!("metricsPort={port}"));
    let ns = s.ns.as_str();
    let group = "group=\"metrics_cg\"";
    run(&["produce", "-n", ns, "-t", "MetricsT", "--count", "40"]);
    run(&[
        "consume",
        "-n",
        ns,
        "-t",
        "MetricsT",
        "-g",
        "metrics_cg",
        "--count",
        "40",
        "--timeout",
        "60",
    ]);
    let text = scrape_metrics(port);
    assert!(text.contains("# TYPE rocketmq_group_diff gauge"), "{text}");
    assert_eq!(
        sum(&text, "rocketmq_group_diff", &[group, "topic=\"MetricsT\""]),
        0.0,
        "{text}"
    );
    assert_eq!(
        sum(&text, "rocketmq_producer_offset", &["topic=\"MetricsT\""]),
        40.0,
        "{text}"
    );

    // The consumer is gone; 25 more arrive: that is the lag.
    run(&["produce", "-n", ns, "-t", "MetricsT", "--count", "25"]);
    let text = scrape_metrics(port);
    assert_eq!(sum(&text, "rocketmq_group_diff", &[group]), 25.0, "{text}");
    assert_eq!(
        sum(&text, "rocketmq_message_accumulation", &[group]),
        25.0,
        "{text}"
    );
    assert!(
        sum(&text, "rocketmq_group_get_latency_by_storetime", &[group]) >= 0.0,
        "{text}"
    );
    assert!(
        sum(&text, "coremq_shard_put_messages_total", &[]) >= 65.0,
        "{text}"
    );
    assert!(
        sum(&text, "coremq_send_latency_ms_count", &[]) >= 65.0,
        "{text}"
    );
    // Commit-log write rounds happen every flushIntervalCommitLog under ASYNC_FLUSH.
    wait_until(
        Duration::from_secs(10),
        "a flush round on each shard",
        || {
            let text = scrape_metrics(port);
            ["shard=\"0\"", "shard=\"1\""]
                .iter()
                .all(|s| sum(&text, "coremq_shard_flush_latency_ms_count", &[s]) > 0.0)
        },
    );
    let flushed = scrape_metrics(port);
    for shard in ["shard=\"0\"", "shard=\"1\""] {
        check_histogram(&flushed, "coremq_shard_flush_latency_ms", shard);
    }
    check_histogram(&flushed, "coremq_send_latency_ms", "broker=\"broker-a\"");
    // Those rounds were device writes, counted by the shards' I/O gauges.
    assert!(
        sum(
            &flushed,
            "coremq_shard_io_operations_total",
            &["kind=\"write\""]
        ) > 0.0,
        "{flushed}"
    );
    // Each shard preallocated its first commit-log segment.
    for shard in ["shard=\"0\"", "shard=\"1\""] {
        assert!(
            sum(
                &flushed,
                "coremq_shard_io_operations_total",
                &["kind=\"allocate\"", shard]
            ) >= 1.0,
            "{flushed}"
        );
    }
    // A write is in flight for a while: the peak since the previous scrape sees it (the
    // scrapes above may have taken the earlier peaks, so write again, to another topic).
    run(&["produce", "-n", ns, "-t", "MetricsIo", "--count", "5"]);
    wait_until(Duration::from_secs(10), "a device write in flight", || {
        sum(&scrape_metrics(port), "coremq_shard_io_inflight_peak", &[]) >= 1.0
    });
    assert!(
        flushed.contains("# TYPE coremq_shard_io_inflight gauge"),
        "{flushed}"
    );
    assert!(
        sum(&text, "rocketmq_brokeruntime_msg_put_total_today_now", &[]) >= 65.0,
        "{text}"
    );
    // Two shards: the scrape itself crosses cores, as do sends that land on a shard
    // not owning their queue.
    assert!(
        sum(&text, "coremq_shard_router_messages_total", &[]) > 0.0,
        "{text}"
    );
    // Requests and their replies travel in batches: never more batches than both together.
    let batches = sum(&text, "coremq_shard_router_batches_total", &[]);
    assert!(
        batches > 0.0 && batches <= 2.0 * sum(&text, "coremq_shard_router_messages_total", &[]),
        "{text}"
    );
    assert!(
        text.contains("# TYPE coremq_shard_inflight_appends gauge"),
        "{text}"
    );
    // Memory held for clients is counted, and every send here has been answered.
    assert!(
        text.contains("# TYPE coremq_shard_unsent_response_bytes gauge"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE coremq_shard_inflight_append_bytes gauge"),
        "{text}"
    );
    assert_eq!(
        sum(&text, "coremq_shard_inflight_append_bytes", &[]),
        0.0,
        "{text}"
    );
    assert!(text.contains("coremq_shard_appends_total{cluster=\"DefaultCluster\",broker=\"broker-a\",shard=\"1\"}"), "{text}");
    // Written data stays readable from memory, within the configured cache (2 shards of
    // readCacheBytesPerShard's 64 MiB, plus a few queues' index tails).
    wait_until(
        Duration::from_secs(10),
        "written data in the read cache",
        || sum(&scrape_metrics(port), "coremq_shard_read_cache_bytes", &[]) > 0.0,
    );
    assert!(
        sum(&scrape_metrics(port), "coremq_shard_read_cache_bytes", &[]) < (129 << 20) as f64,
        "{text}"
    );

    // The same lag in mqadmin's consumerProgress, with its age.
    let progress = |want: &str| {
        let out = Command::new(coremq_bin())
            .args(["admin", "consumerProgress", "-g", "metrics_cg", "-n", ns])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains(want), "{want}: {text}");
        text.lines()
            .find_map(|l| l.strip_prefix("Store-to-Consume Lag(ms): "))
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or_else(|| panic!("no lag line: {text}"))
    };
    assert!(progress("Diff Total: 25") >= 0);

    // It comes back and catches up (its offsets are committed on stop).
    run(&[
        "consume",
        "-n",
        ns,
        "-t",
        "MetricsT",
        "-g",
        "metrics_cg",
        "--count",
        "25",
        "--timeout",
        "60",
    ]);
    let text = scrape_metrics(port);
    assert_eq!(sum(&text, "rocketmq_group_diff", &[group]), 0.0, "{text}");
    assert_eq!(progress("Diff Total: 0"), 0);
    // Per-topic and per-group counts, and their rates since the previous scrape.
    let topic = "topic=\"MetricsT\"";
    assert_eq!(
        sum(&text, "coremq_topic_put_messages_total", &[topic]),
        65.0,
        "{text}"
    );
    // Pulled, not consumed: a consumer that stops after --count may have pulled a few more.
    assert!(
        sum(&text, "coremq_group_get_messages_total", &[group, topic]) >= 65.0,
        "{text}"
    );
    assert!(
        sum(&text, "rocketmq_consumer_tps", &[group, topic]) > 0.0,
        "25 pulled since the last scrape: {text}"
    );
    assert!(
        text.contains("# TYPE rocketmq_producer_tps gauge"),
        "{text}"
    );

    let missing = ureq::get(&format!("http://127.0.0.1:{port}/nope")).call();
    assert!(matches!(missing, Err(ureq::Error::Status(404, _))));
}

#[test]
fn the_endpoint_answers_http_and_refuses_garbage_alone() {
    use std::io::{Read, Write};
    let port = free_port();
    let _s = standalone_with(&format!("metricsPort={port}"));
    match ureq::get(&format!("http://127.0.0.1:{port}/nope")).call() {
        Err(ureq::Error::Status(404, _)) => {}
        other => panic!("expected 404, got {other:?}"),
    }
    // Two scrapes on one kept-alive connection, as Prometheus scrapes.
    let agent = ureq::AgentBuilder::new().build();
    for _ in 0..2 {
        let body = agent
            .get(&format!("http://127.0.0.1:{port}/metrics"))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        assert!(body.contains("# TYPE"), "{body}");
    }
    // Garbage gets an HTTP error and a closed connection; the endpoint goes on serving.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(b"\x16\x03\x01garbage that is not http\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    assert!(scrape_metrics(port).contains("# TYPE"));
}

/// PULL_MESSAGE's sysFlag bit: the request carries its subscription (`*` when absent).
const PULL_FLAG_SUBSCRIPTION: i32 = 0x4;

/// Resident memory of process `pid`, MiB.
fn rss_mib(pid: u32) -> f64 {
    proc_status_bytes(pid, "VmRSS") as f64 / 1048576.0
}

#[test]
fn an_idle_broker_gives_its_read_cache_memory_back() {
    let port = free_port();
    let mut s = standalone_with(&format!(
        "metricsPort={port}\nreadCacheBytesPerShard=33554432\nreadCacheIdleReleaseMs=2000"
    ));
    let pid = s.guard.child.id();
    update_topic(&s.ns, &s.broker, "IdleT", 4);
    // 64 MB of 4 KiB messages: more than both shards' 32 MiB caches hold.
    let mut producer = Command::new(coremq_bin())
        .args([
            "bench", "producer", "-n", &s.ns, "-t", "IdleT", "-s", "4096",
        ])
        .args(["-w", "8", "-q", "16000"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let cached = |text: &str| sum(text, "coremq_shard_read_cache_bytes", &[]) / 1048576.0;
    // While sends go on the caches fill; nothing is dropped while the store is in use.
    let (mut cache_peak, mut rss_peak) = (0.0f64, 0.0f64);
    let sent = loop {
        cache_peak = cache_peak.max(cached(&scrape_metrics(port)));
        rss_peak = rss_peak.max(rss_mib(pid));
        if let Some(status) = producer.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(sent.success(), "bench producer: {sent}");
    assert!(
        cache_peak >= 32.0,
        "caches held {cache_peak:.1} MiB under load"
    );
    // Right after the load (the release needs 2 s of idleness): what the caches hold now
    // is what the release will drop, and RSS holds it. A peak sampled every 100 ms alone
    // can miss the top of RSS and make the comparison below a coin toss.
    let cache_full = cached(&scrape_metrics(port));
    let rss_full = rss_peak.max(rss_mib(pid));
    assert!(
        cache_full >= 16.0,
        "caches held {cache_full:.1} MiB after the load"
    );
    // Idle: the caches are dropped and their pages go back to the system.
    wait_until(Duration::from_secs(30), "caches dropped at idle", || {
        cached(&scrape_metrics(port)) == 0.0
    });
    let rss_idle = rss_mib(pid);
    assert!(
        rss_idle < rss_full - cache_full / 2.0,
        "RSS {rss_idle:.0} MiB at idle, {rss_full:.0} MiB after the load with {cache_full:.0} MiB cached"
    );
    // Nothing stored is lost: the first messages come back, now from the device.
    let mut c = RawClient::connect(s.broker.parse().unwrap());
    for qid in 0..4 {
        let got = raw_pull(
            &mut c,
            "idle_cg",
            "IdleT",
            qid,
            0,
            PULL_FLAG_SUBSCRIPTION,
            0,
        );
        assert_eq!(got.code, 0, "queue {qid}: {got:?}");
        assert!(
            got.body.len() >= 4096,
            "queue {qid}: {} bytes",
            got.body.len()
        );
    }
    assert!(
        s.guard.child.try_wait().unwrap().is_none(),
        "the broker exited"
    );
}

/// A broker restarted on its metrics port while connections it closed there linger in
/// TIME_WAIT (a minute after a stop with Prometheus connected) still starts and serves.
#[test]
fn the_endpoint_binds_a_port_left_in_time_wait() {
    use std::io::Read;
    let port = free_port();
    {
        // The server side closes first, so its end (local port `port`) enters TIME_WAIT.
        let listener = std::net::TcpListener::bind(("0.0.0.0", port)).unwrap();
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (server_end, _) = listener.accept().unwrap();
        drop(server_end);
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest);
    }
    let _s = standalone_with(&format!("metricsPort={port}"));
    assert!(scrape_metrics(port).contains("# TYPE"));
}
