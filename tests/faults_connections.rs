//! Connection faults against a real `coremq standalone` on loopback: 10,000 connections
//! opened and held idle while a producer benchmark runs, and a consumer that sends pulls
//! for big messages and never reads its socket. The broker's memory (VmRSS from
//! /proc/PID/status) stays under a bound worked out from its per-connection buffers, and
//! other clients' sends and pulls succeed meanwhile. Figures are printed for
//! bench/results; only behaviour and memory bounds are asserted, never timings.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use coremq::protocol::{frame, ExtFields, RemotingCommand};
use coremq::remoting::connection::{MAX_QUEUED_WRITE_BYTES, MAX_UNSENT_RESPONSE_BYTES};

use common::*;

/// Connections held idle (fewer only if the hard open-file limit is lower).
const IDLE_CONNECTIONS: usize = 10_000;
/// Every this many idle connections one heartbeats first, and one sends a message.
const ACTIVE_EVERY: usize = 10;
/// Messages per benchmark run.
const LOAD_MESSAGES: u64 = 20_000;
/// Memory one idle connection may cost the broker: its 16 KiB read scratch (the only
/// buffer allocated before a connection sends anything) plus its two tasks, its state and
/// the shard's bookkeeping for it, rounded up.
const IDLE_CONNECTION_BYTES: u64 = 24 * 1024;
/// Allowance for the allocator's and the benchmark's own variation between two runs.
const SLACK_BYTES: u64 = 32 * 1024 * 1024;
/// Body of each message the stalled consumer pulls: one per pull response (a second
/// would pass the 256 KiB pull limit).
const BIG_BODY: usize = 200 * 1024;
/// Big messages stored for the stalled consumer.
const BIG_MESSAGES: i64 = 100;
/// Pulls the stalled consumer sends: their responses would be ~800 MiB.
const STALLED_PULLS: usize = 4_000;
/// Sends (and pulls) of the well-behaved clients while the consumer stalls.
const OTHER_MESSAGES: usize = 200;

/// Raises this process's soft open-file limit to the hard one; returns the new soft limit.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the one struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_cur
}

/// A field of /proc/PID/status in bytes (the file gives kB).
fn rss(pid: u32) -> u64 {
    proc_status_bytes(pid, "VmRSS")
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// Sum over shards of a per-shard series.
fn metric(port: u16, family: &str) -> u64 {
    scrape_metrics(port)
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// `coremq bench producer` of `LOAD_MESSAGES` on `topic`: (TPS, messages acknowledged).
fn bench_producer(ns: &str, topic: &str) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = Command::new(coremq_bin())
        .args(["bench", "producer", "-n", ns, "-t", topic, "-s", "1024"])
        .args(["-w", "32", "-q", &LOAD_MESSAGES.to_string(), "--json"])
        .arg(&json)
        .env("HOME", dir.path())
        .env_remove("NAMESRV_ADDR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bench producer: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["send_failed"], 0, "{v}");
    assert_eq!(v["response_failed"], 0, "{v}");
    (v["tps"].as_f64().unwrap(), v["messages"].as_u64().unwrap())
}

fn heartbeat(c: &mut RawClient, client: &str) -> RemotingCommand {
    let body = format!(
        r#"{{"clientID":"{client}","producerDataSet":[{{"groupName":"idle_pg"}}],"consumerDataSet":[]}}"#
    );
    c.call_with(34, &[], body.into_bytes())
}

#[test]
fn ten_thousand_idle_connections_cost_bounded_memory_and_block_no_send() {
    let fd_limit = raise_fd_limit();
    // The test holds one descriptor per connection, and the broker (which raises its own
    // soft limit to the hard one it inherits) one more.
    let n = IDLE_CONNECTIONS.min(fd_limit.saturating_sub(500) as usize);
    let metrics_port = free_port();
    let s = standalone_with(&format!("metricsPort={metrics_port}"));
    let pid = s.guard.child.id();
    let broker: SocketAddr = s.broker.parse().unwrap();
    update_topic(&s.ns, &s.broker, "ConnLoadT", 8);

    let (tps_plain, sent) = bench_producer(&s.ns, "ConnLoadT");
    assert_eq!(sent, LOAD_MESSAGES);
    let rss_before = rss(pid);
    let hwm_plain = proc_status_bytes(pid, "VmHWM");
    let base_connections = metric(metrics_port, "coremq_shard_connections");

    let mut silent = Vec::with_capacity(n);
    let mut active = Vec::new();
    for i in 0..n {
        if i % ACTIVE_EVERY == 0 {
            let mut c = RawClient::connect(broker);
            assert_eq!(heartbeat(&mut c, &format!("idle-{i}")).code, 0);
            active.push(c);
        } else if i % ACTIVE_EVERY == 1 {
            let mut c = RawClient::connect(broker);
            assert_eq!(raw_send(&mut c, "ConnLoadT", 0, b"hello", "idle").code, 0);
            active.push(c);
        } else {
            silent.push(TcpStream::connect_timeout(&broker, Duration::from_secs(5)).unwrap());
        }
    }
    wait_until(
        Duration::from_secs(30),
        "the broker to accept them all",
        || metric(metrics_port, "coremq_shard_connections") >= base_connections + n as u64,
    );
    let rss_idle = rss(pid);

    let (tps_idle, sent) = bench_producer(&s.ns, "ConnLoadT");
    assert_eq!(
        sent, LOAD_MESSAGES,
        "every send acknowledged beside {n} idle connections"
    );
    let rss_load = rss(pid);
    let hwm_load = proc_status_bytes(pid, "VmHWM");
    // The idle ones are still served: every active one answers again.
    for (i, c) in active.iter_mut().enumerate().step_by(50) {
        assert_eq!(heartbeat(c, &format!("idle-again-{i}")).code, 0);
    }

    drop(silent);
    drop(active);
    wait_until(
        Duration::from_secs(30),
        "the broker to see them close",
        || metric(metrics_port, "coremq_shard_connections") <= base_connections,
    );
    let rss_after = rss(pid);
    eprintln!(
        "idle connections: N={n}; TPS plain {tps_plain:.0}, with N idle {tps_idle:.0}; \
         VmRSS before {:.1} MiB, N idle {:.1} MiB (+{:.1} KiB/conn), after load {:.1} MiB, \
         after closing {:.1} MiB; VmHWM plain {:.1} MiB, with N idle {:.1} MiB",
        mib(rss_before),
        mib(rss_idle),
        rss_idle.saturating_sub(rss_before) as f64 / 1024.0 / n as f64,
        mib(rss_load),
        mib(rss_after),
        mib(hwm_plain),
        mib(hwm_load),
    );
    let per_conn = n as u64 * IDLE_CONNECTION_BYTES;
    assert!(
        rss_idle <= rss_before + per_conn + SLACK_BYTES,
        "{n} idle connections took {:.1} MiB",
        mib(rss_idle - rss_before)
    );
    assert!(
        hwm_load <= hwm_plain + per_conn + SLACK_BYTES,
        "peak under load with {n} idle connections {:.1} MiB, without {:.1} MiB",
        mib(hwm_load),
        mib(hwm_plain)
    );
}

/// Pull sysFlag: the subscription rides along (no heartbeat needed).
const PULL_FLAG_SUBSCRIPTION: i32 = 0x4;

/// PULL_MESSAGE of up to 32 messages from `offset`, as one frame (opaque `opaque`).
fn pull_frame(topic: &str, offset: i64, opaque: i32) -> Vec<u8> {
    let mut e = ExtFields::new();
    for (k, v) in [
        ("consumerGroup", "stall_cg"),
        ("topic", topic),
        ("queueId", "0"),
        ("queueOffset", &offset.to_string()),
        ("maxMsgNums", "32"),
        ("sysFlag", &PULL_FLAG_SUBSCRIPTION.to_string()),
        ("subscription", "*"),
        ("commitOffset", "0"),
        ("suspendTimeoutMillis", "0"),
        ("subVersion", "0"),
    ] {
        e.insert(k, v);
    }
    let mut cmd = RemotingCommand::request(11, e);
    cmd.opaque = opaque;
    frame::encode_to_vec(&cmd)
}

#[test]
fn a_consumer_that_stops_reading_holds_bounded_memory_and_stalls_nobody_else() {
    let metrics_port = free_port();
    let s = standalone_with(&format!("metricsPort={metrics_port}"));
    let pid = s.guard.child.id();
    let broker: SocketAddr = s.broker.parse().unwrap();
    update_topic(&s.ns, &s.broker, "StallBigT", 1);
    update_topic(&s.ns, &s.broker, "StallOtherT", 1);
    let mut producer = RawClient::connect(broker);
    let big = vec![b'x'; BIG_BODY];
    for _ in 0..BIG_MESSAGES {
        assert_eq!(raw_send(&mut producer, "StallBigT", 0, &big, "big").code, 0);
    }
    let mut consumer = RawClient::connect(broker);
    let one = raw_pull(
        &mut consumer,
        "stall_cg",
        "StallBigT",
        0,
        0,
        PULL_FLAG_SUBSCRIPTION,
        0,
    );
    assert_eq!(one.code, 0, "{:?}", one.remark);
    assert!(one.body.len() >= BIG_BODY, "a pull answers one big message");
    let rss_before = rss(pid);

    // The stalled consumer: writes every pull from its own thread (the writes block once
    // the broker stops reading) and never reads an answer.
    let stalled = TcpStream::connect_timeout(&broker, Duration::from_secs(5)).unwrap();
    stalled
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stalled.try_clone().unwrap();
    let pulls = std::thread::spawn(move || {
        let mut written = 0;
        for i in 0..STALLED_PULLS {
            let f = pull_frame("StallBigT", i as i64 % BIG_MESSAGES, i as i32 + 1);
            if writer.write_all(&f).is_err() {
                break;
            }
            written += 1;
        }
        written
    });
    // Until every pull is written or the broker stops reading them (which of the two
    // depends on socket buffer sizes), then the broker holds what it will hold.
    wait_until(
        Duration::from_secs(30),
        "the pulls to be written or refused",
        || pulls.is_finished() || metric(metrics_port, "coremq_shard_connection_pauses_total") >= 1,
    );

    // Meanwhile a producer and a consumer on their own connections are served in full,
    // and the broker's memory is sampled throughout.
    let mut peak = rss(pid);
    for i in 0..OTHER_MESSAGES {
        let r = raw_send(&mut producer, "StallOtherT", 0, b"other", "o");
        assert_eq!(r.code, 0, "send {i} beside the stalled consumer");
        peak = peak.max(rss(pid));
    }
    let mut got = 0;
    while got < OTHER_MESSAGES {
        let r = raw_pull(
            &mut consumer,
            "other_cg",
            "StallOtherT",
            0,
            got as i64,
            PULL_FLAG_SUBSCRIPTION,
            0,
        );
        assert_eq!(
            r.code, 0,
            "pull at {got} beside the stalled consumer: {:?}",
            r.remark
        );
        let n: usize = r.ext.get("nextBeginOffset").unwrap().parse().unwrap();
        assert!(n > got, "pull at {got} made progress");
        got = n;
        peak = peak.max(rss(pid));
    }
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        peak = peak.max(rss(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    // The high-water mark catches any peak between samples.
    let peak = peak.max(proc_status_bytes(pid, "VmHWM"));
    let pauses = metric(metrics_port, "coremq_shard_connection_pauses_total");
    let closed_unsent = metric(metrics_port, "coremq_shard_connections_closed_unsent_total");

    // (The broker may have closed it already, at MAX_UNSENT_RESPONSE_BYTES.)
    let _ = stalled.shutdown(std::net::Shutdown::Both);
    let written = pulls.join().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let rss_after = rss(pid);
    eprintln!(
        "stalled consumer: wrote {written} of {STALLED_PULLS} pulls of {} KiB messages \
         (socket buffers take what the broker leaves unread); VmRSS before {:.1} MiB, peak while stalled {:.1} \
         MiB (+{:.1} MiB), after it left {:.1} MiB; pauses {pauses}, closed for unsent \
         responses {closed_unsent} (at {} MiB)",
        BIG_BODY / 1024,
        mib(rss_before),
        mib(peak),
        mib(peak.saturating_sub(rss_before)),
        mib(rss_after),
        MAX_UNSENT_RESPONSE_BYTES >> 20,
    );
    // A pull reserves its response's room on the connection before it reads, so the
    // stalled connection's unsent bytes stay within MAX_QUEUED_WRITE_BYTES and one pull's
    // (the queue's buffer may be twice that while it grows); the reads behind those
    // reservations hold as much again. The hard MAX_UNSENT_RESPONSE_BYTES is never needed
    // here; the well-behaved clients' traffic and the allocator fit the slack.
    let bound = 4 * MAX_QUEUED_WRITE_BYTES as u64 + SLACK_BYTES;
    assert!(
        peak <= rss_before + bound,
        "a stalled consumer grew the broker by {:.1} MiB (bound {:.1} MiB; reader pauses at \
         {} MiB unsent)",
        mib(peak - rss_before),
        mib(bound),
        MAX_QUEUED_WRITE_BYTES >> 20
    );
}
