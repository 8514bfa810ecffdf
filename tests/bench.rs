//! `coremq bench producer|consumer` against a real `coremq standalone`: a few seconds each,
//! their per-second lines, and their JSON summaries. Figures are checked for sense (counts,
//! ordering of percentiles), never for speed: these machines are shared.

mod common;

use std::process::Command;

use common::*;

fn bench(ns: &str, args: &[&str]) -> (String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = Command::new(coremq_bin())
        .arg("bench")
        .args(args)
        .args(["-n", ns, "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (stdout, v)
}

fn ms(v: &serde_json::Value, which: &str, p: &str) -> f64 {
    v[which][p]
        .as_f64()
        .unwrap_or_else(|| panic!("{which}.{p} in {v}"))
}

#[test]
fn producer_then_consumer_report_lines_and_json() {
    let s = standalone();
    let (out, v) = bench(
        &s.ns,
        &[
            "producer",
            "-s",
            "128",
            "-w",
            "16",
            "-k",
            "true",
            "-l",
            "2",
            "--duration",
            "3",
            "--warmup",
            "1",
        ],
    );
    assert!(
        out.starts_with("topic: BenchmarkTest threadCount: 16 messageSize: 128 keyEnable: true")
    );
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("Current Time: "))
        .collect();
    assert!(lines.len() >= 3, "{out}");
    for l in &lines {
        for field in [
            "Send TPS: ",
            "Max RT(ms): ",
            "Average RT(ms): ",
            "Send Failed: ",
            "Response Failed: ",
            "p99(ms): ",
        ] {
            assert!(l.contains(field), "{l}");
        }
    }
    assert!(out.contains("[Complete] Send Total: "), "{out}");
    assert_eq!(v["kind"], "producer");
    let sent = v["messages"].as_u64().unwrap();
    assert!(sent > 0, "{v}");
    assert!(v["tps"].as_f64().unwrap() > 0.0);
    assert_eq!(v["send_failed"], 0);
    assert_eq!(v["response_failed"], 0);
    assert!(ms(&v, "latency_ms", "p50") <= ms(&v, "latency_ms", "p99"));
    assert!(ms(&v, "latency_ms", "p99") <= ms(&v, "latency_ms", "max"));
    assert!(v["generator_cpu"]["user_s"].as_f64().unwrap() > 0.0);
    assert_eq!(v["config"]["threads"], 16);

    // The consumer reads back what was sent (from the first offset: a fresh group).
    let (out, v) = bench(
        &s.ns,
        &[
            "consumer",
            "-g",
            "bench_cg",
            "--from-first",
            "--duration",
            "3",
        ],
    );
    assert!(out.starts_with("Consumer Started.\n"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("Current Time: ") && l.contains("AVG(B2C) RT(ms): ")),
        "{out}"
    );
    assert_eq!(v["kind"], "consumer");
    let got = v["messages"].as_u64().unwrap();
    assert!(got > 0, "{v}");
    assert!(ms(&v, "b2c_latency_ms", "p50") <= ms(&v, "b2c_latency_ms", "max"));
    assert!(ms(&v, "s2c_latency_ms", "p50") <= ms(&v, "s2c_latency_ms", "max"));
}

#[test]
fn fixed_rate_run_holds_its_rate_without_failures() {
    let s = standalone();
    let (_, v) = bench(
        &s.ns,
        &["producer", "-w", "8", "--rate", "400", "-q", "1200"],
    );
    assert_eq!(v["messages"], 1200, "{v}");
    assert_eq!(v["send_failed"], 0);
    assert_eq!(v["response_failed"], 0);
    // Offered 400/s for 3 s: a broker that holds the rate spreads latencies out, so the
    // median sits below the tail.
    assert!(
        ms(&v, "latency_ms", "p50") < ms(&v, "latency_ms", "p99"),
        "{v}"
    );
    let tps = v["tps"].as_f64().unwrap();
    assert!(
        tps > 100.0 && tps < 1_000.0,
        "the schedule paces sends: {tps}"
    );
}

#[test]
fn e2e_stamps_give_consumer_latency_and_a_chart() {
    let s = standalone();
    // Creates the topic with one stamped message that is due before the consumer starts:
    // a backlog, left out of E2E.
    bench(&s.ns, &["producer", "-t", "E2eT", "-q", "1", "--e2e"]);
    let ns = s.ns.clone();
    let consumer = std::thread::spawn(move || {
        bench(
            &ns,
            &[
                "consumer",
                "-t",
                "E2eT",
                "-g",
                "e2e_cg",
                "--from-first",
                "--duration",
                "8",
            ],
        )
    });
    // The consumer is up (and its start time taken) well before the first stamp is due.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (_, p) = bench(
        &s.ns,
        &[
            "producer", "-t", "E2eT", "-w", "8", "--rate", "500", "-q", "1000", "--e2e",
        ],
    );
    assert_eq!(p["messages"], 1000, "{p}");
    let (out, c) = consumer.join().unwrap();
    assert_eq!(c["messages"], 1001, "{c}");
    assert!(out.contains("p99(E2E,ms): "), "{out}");
    assert!(out.contains("E2E latency (ms): p50 "), "{out}");
    assert_eq!(c["e2e_messages"], 1000, "{c}");
    // Due times are the schedule's (i / 500 s), so their span gives the rate back.
    let rate = c["e2e_sent_per_s"].as_f64().unwrap();
    assert!((rate - 500.0).abs() < 5.0, "{c}");
    assert!(ms(&c, "e2e_latency_ms", "p50") <= ms(&c, "e2e_latency_ms", "p99.9"));
    assert!(ms(&c, "e2e_latency_ms", "p99.9") <= ms(&c, "e2e_latency_ms", "max"));

    // The chart: one dot per percentile for the one consumer report.
    let dir = tempfile::tempdir().unwrap();
    let (cj, pj, svg) = (
        dir.path().join("c.json"),
        dir.path().join("p.json"),
        dir.path().join("c.svg"),
    );
    std::fs::write(&cj, c.to_string()).unwrap();
    std::fs::write(&pj, p.to_string()).unwrap();
    let chart = |args: &[&std::ffi::OsStr]| {
        Command::new(coremq_bin())
            .args(["bench", "chart"])
            .args(args)
            .output()
            .unwrap()
    };
    let ok = chart(&["-o".as_ref(), svg.as_os_str(), cj.as_os_str()]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") && text.contains("e2e p99.9"),
        "{text}"
    );
    assert_eq!(text.matches("<circle").count(), 3, "{text}");
    // Producer reports carry no end-to-end latency: refused, naming what is missing.
    let bad = chart(&[pj.as_os_str()]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--e2e"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn a_queue_past_the_topics_last_is_refused_not_wrapped() {
    let s = standalone();
    // A queue that exists: every send lands in it and in no other.
    let (_, v) = bench(
        &s.ns,
        &[
            "producer",
            "-s",
            "64",
            "-w",
            "2",
            "--queue",
            "1",
            "--duration",
            "1",
            "--warmup",
            "0",
        ],
    );
    let sent = v["messages"].as_u64().unwrap();
    assert!(sent > 0, "{v}");
    let (code, status, err) = admin(&s.ns, &["topicStatus", "-t", "BenchmarkTest"]);
    assert_eq!(code, 0, "{err}");
    // Rows: broker, queue id, min offset, max offset, last updated (date and time).
    let (mut on_1, mut elsewhere) = (0u64, 0u64);
    for row in status.lines().skip(1) {
        let c: Vec<&str> = row.split_whitespace().collect();
        let max: u64 = c[3].parse().unwrap();
        if c[1] == "1" {
            on_1 += max;
        } else {
            elsewhere += max;
        }
    }
    assert!(on_1 >= sent, "{sent} sent: {status}");
    assert_eq!(elsewhere, 0, "{status}");
    let out = Command::new(coremq_bin())
        .args(["bench", "producer", "-n", &s.ns, "--queue", "100000"])
        .args(["--duration", "1", "--warmup", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit {:?}: {err}", out.status);
    assert!(
        err.contains("--queue 100000") && err.contains("writable queues"),
        "{err}"
    );
}
