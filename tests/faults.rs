//! Faults against real processes on loopback: a nameserver killed under load while a
//! broker, producers and a push consumer use two nameservers. (Hostile frames are in
//! fuzz_codec.rs; the store's crash images in store_crash.rs; disk full and a slow disk
//! under a running broker in faults_disk.rs, the store alone in store_disk_full.rs.)

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Messages sent before the kill, and by a producer started after it.
const MESSAGES_PER_PHASE: usize = 200;
/// Messages of the producer sending while the nameserver is killed.
const MESSAGES_DURING: usize = 1_000;
/// Longest wait for the consumer to receive everything.
const CONSUME_WAIT: Duration = Duration::from_secs(150);

fn produce(list: &str, topic: &str, keys: &str, count: usize) {
    let out = Command::new(coremq_bin())
        .args(["produce", "-n", list, "-t", topic, "--keys", keys])
        .args(["--count", &count.to_string()])
        .env_remove("NAMESRV_ADDR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "produce {keys}: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = stdout
        .lines()
        .filter(|l| l.contains("sendStatus=SEND_OK"))
        .count();
    assert_eq!(ok, count, "every send of {keys} acknowledged");
}

#[test]
fn a_nameserver_killed_under_load_stops_no_send_or_consume() {
    let mut ns1 = start_namesrv("");
    let ns2 = start_namesrv("");
    let list = format!("{};{}", ns1.addr, ns2.addr);
    let dir = tempfile::tempdir().unwrap();
    let port = free_broker_port();
    let conf = broker_conf(dir.path(), port, "");
    let _broker = spawn_until_line(
        Command::new(coremq_bin())
            .args(["broker", "-c"])
            .arg(&conf)
            .args(["-n", &list])
            .env_remove("NAMESRV_ADDR"),
        dir.path(),
        "boot success",
    );
    let broker = format!("127.0.0.1:{port}");
    let (code, _, err) = admin(
        &list,
        &[
            "updateTopic",
            "-b",
            &broker,
            "-t",
            "FaultT",
            "-r",
            "4",
            "-w",
            "4",
        ],
    );
    assert_eq!(code, 0, "{err}");

    let total = 2 * MESSAGES_PER_PHASE + MESSAGES_DURING;
    let home = tempfile::tempdir().unwrap();
    let (mut consumer, rx) = start_consume(
        &list,
        "FaultT",
        "FaultG",
        &["--count", &total.to_string(), "--timeout", "140"],
        home.path(),
    );

    produce(&list, "FaultT", "before", MESSAGES_PER_PHASE);
    // SIGKILL the first nameserver of every client's list while a producer sends and the
    // consumer consumes; a producer started afterwards finds its route on the second.
    let mut during = Command::new(coremq_bin())
        .args(["produce", "-n", &list, "-t", "FaultT", "--keys", "during"])
        .args(["--count", &MESSAGES_DURING.to_string()])
        .env_remove("NAMESRV_ADDR")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(during.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.contains("sendStatus=SEND_OK"), "{first}");
    ns1.guard.child.kill().unwrap();
    ns1.guard.child.wait().unwrap();
    let acked = 1 + lines
        .map_while(Result::ok)
        .filter(|l| l.contains("sendStatus=SEND_OK"))
        .count();
    assert!(during.wait().unwrap().success());
    assert_eq!(
        acked, MESSAGES_DURING,
        "every send of the producer acknowledged"
    );
    produce(&list, "FaultT", "after", MESSAGES_PER_PHASE);

    let deadline = Instant::now() + CONSUME_WAIT;
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    while seen.len() < total {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        if let Some(keys) = line
            .split(", keys=")
            .nth(1)
            .and_then(|r| r.split(',').next())
        {
            *seen.entry(keys.to_owned()).or_default() += 1;
        }
    }
    let _ = consumer.kill();
    let _ = consumer.wait();
    let missing: Vec<String> = [
        ("before", MESSAGES_PER_PHASE),
        ("during", MESSAGES_DURING),
        ("after", MESSAGES_PER_PHASE),
    ]
    .iter()
    .flat_map(|(p, n)| (0..*n).map(move |i| format!("{p}-{i}")))
    .filter(|k| !seen.contains_key(k))
    .collect();
    assert!(
        missing.is_empty(),
        "{} of {total} never consumed, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    eprintln!("nameserver kill: {total} sent and consumed, {duplicates} duplicates");
}
