//! RocketMQ 5 clients against a real coremq: Apache's official Python SDK (PyPI
//! `rocketmq-python-client` 5.1.x, `tls_enable=False`) drives a standalone broker's gRPC
//! port on loopback, through tests/grpc_sdk/sdk.py. CI installs the SDK (.ci/run); a
//! machine without it fails here with the command that installs it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{admin, free_port, standalone_with, start_consume, Standalone};
use serde_json::Value;

/// The SDK version the tests are written against.
const SDK_PIN: &str = "rocketmq-python-client==5.1.2";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/grpc_sdk/sdk.py")
}

fn require_sdk() {
    let ok = Command::new("python3")
        .args(["-c", "import rocketmq, grpc"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the Python RocketMQ 5 SDK is missing: pip install {SDK_PIN}"
    );
}

struct GrpcBroker {
    s: Standalone,
    endpoint: String,
}

fn broker(extra: &str) -> GrpcBroker {
    require_sdk();
    let port = free_port();
    let s = standalone_with(&format!("grpcServerPort={port}\n{extra}"));
    GrpcBroker {
        s,
        endpoint: format!("127.0.0.1:{port}"),
    }
}

/// A broker with `aclEnable=true` and `acl` as its plain_acl.yml.
fn acl_broker(acl: &str) -> GrpcBroker {
    require_sdk();
    let port = free_port();
    let text = acl.to_owned();
    let s = common::standalone_prepared(
        &format!("grpcServerPort={port}\naclEnable=true"),
        move |dir| {
            std::fs::write(dir.join("plain_acl.yml"), text).unwrap();
        },
    );
    GrpcBroker {
        s,
        endpoint: format!("127.0.0.1:{port}"),
    }
}

impl GrpcBroker {
    /// SIGKILL, then the same store, conf and ports.
    fn kill_and_restart(&mut self) {
        self.s.guard.child.kill().unwrap();
        let _ = self.s.guard.child.wait();
        let ns_port = self.s.ns.rsplit(':').next().unwrap().to_owned();
        let home = self.s.dir.path().to_owned();
        self.s.guard = common::spawn_until_line(
            Command::new(common::coremq_bin())
                .args(["standalone", "--namesrv-port", &ns_port, "-c"])
                .arg(home.join("broker.properties")),
            &home,
            "The broker[",
        );
    }

    fn topic(&self, topic: &str, queues: u32, attributes: Option<&str>) {
        let n = queues.to_string();
        let mut args = vec![
            "updateTopic",
            "-b",
            &self.s.broker,
            "-t",
            topic,
            "-r",
            &n,
            "-w",
            &n,
        ];
        if let Some(a) = attributes {
            args.extend(["-a", a]);
        }
        let out = Command::new(common::coremq_bin())
            .arg("admin")
            .args(&args)
            .args(["-n", &self.s.ns])
            .env_remove("NAMESRV_ADDR")
            // Signed as the ACL tests' admin account (ignored when ACL is off).
            .env("COREMQ_ACCESS_KEY", "grpcAdmin")
            .env("COREMQ_SECRET_KEY", "grpcAdminSecret")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    /// Runs one scenario of sdk.py (bounded by `limit`); its JSON lines.
    fn sdk(&self, limit: Duration, args: &[&str]) -> Vec<Value> {
        let mut child = Command::new("python3")
            .arg(script())
            .arg(&self.endpoint)
            .args(args)
            .env("HOME", self.s.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("sdk.py {args:?} did not finish in {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let lines = reader.join().unwrap();
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        assert!(
            status.success(),
            "sdk.py {args:?} failed: {status}\n{}\n{err}",
            lines.join("\n")
        );
        lines
            .iter()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }
}

fn n(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[test]
fn ten_thousand_messages_each_received_once_and_acked_ones_never_return() {
    let b = broker("");
    b.topic("SdkRound", 8, None);
    let out = b.sdk(
        Duration::from_secs(400),
        &["roundtrip", "SdkRound", "SdkRoundGroup", "10000"],
    );
    assert_eq!(n(&out[0], "sent"), 10_000);
    let r = &out[1];
    assert_eq!(n(r, "received"), 10_000, "{r}");
    assert_eq!(n(r, "dups"), 0, "{r}");
    assert_eq!(n(r, "bad"), 0, "ids, bodies, tags, keys, attempts: {r}");
    assert_eq!(n(r, "extra"), 0, "an acked message came back: {r}");
    // The POP group's progress shows like any group's: everything consumed.
    let (code, text, err) = admin(&b.s.ns, &["consumerProgress", "-g", "SdkRoundGroup"]);
    assert_eq!(code, 0, "{text}{err}");
    assert!(text.contains("Diff Total: 0"), "{text}");
}

#[test]
fn fifo_message_groups_arrive_in_order() {
    let b = broker("");
    b.topic("SdkFifo", 4, Some("+message.type=FIFO"));
    let out = b.sdk(
        Duration::from_secs(300),
        &["fifo", "SdkFifo", "SdkFifoGroup", "20", "25"],
    );
    let r = &out[0];
    assert_eq!(n(r, "received"), 500, "{r}");
    assert_eq!(r["violations"].as_array().unwrap().len(), 0, "{r}");
}

#[test]
fn unacked_messages_come_back_and_a_changed_duration_holds() {
    let b = broker("");
    b.topic("SdkRedeliver", 2, None);
    let out = b.sdk(
        Duration::from_secs(120),
        &["redeliver", "SdkRedeliver", "SdkRedeliverGroup"],
    );
    let step = |name: &str| {
        out.iter()
            .find(|v| v["step"] == name)
            .unwrap_or_else(|| panic!("step {name} in {out:?}"))
    };
    let first = step("first");
    assert_eq!(first["id"], first["sent"]);
    assert_eq!(n(first, "attempt"), 1);
    let second = step("second");
    assert_eq!(second["id"], first["id"]);
    assert_eq!(n(second, "attempt"), 2, "redelivered with the next attempt");
    let after = second["after_s"].as_f64().unwrap();
    assert!(
        after >= 1.9,
        "came back before its 2 s invisible time: {after}"
    );
    assert_eq!(step("changed")["new_handle"], true);
    assert!(
        step("stale")["error"].as_str().unwrap().contains("40013"),
        "{out:?}"
    );
    let third = step("third");
    assert_eq!(n(third, "attempt"), 3);
    let after = third["after_change_s"].as_f64().unwrap();
    assert!(
        after >= 3.9,
        "the changed 4 s invisible time was not honoured: {after}"
    );
    let done = step("done");
    assert_eq!(done["stale_acked"], false);
    assert_eq!(done["came_back"], false, "an acked message came back");
}

#[test]
fn bad_requests_get_a_status_naming_them_and_the_connection_goes_on() {
    let b = broker("");
    b.topic("SdkBad", 2, None);
    let out = b.sdk(Duration::from_secs(60), &["bad-input", "SdkBad"]);
    let r = &out[0];
    let code = |k: &str| r[k][0].as_str().unwrap().to_owned();
    let detail = |k: &str| r[k][1].as_str().unwrap().to_owned();
    assert_eq!(code("unknown"), "UNIMPLEMENTED", "{r}");
    assert!(detail("unknown").contains("NoSuchRpc"), "{r}");
    assert_eq!(code("malformed"), "INVALID_ARGUMENT", "{r}");
    assert!(detail("malformed").contains("SendMessageRequest"), "{r}");
    assert_eq!(code("too_large"), "RESOURCE_EXHAUSTED", "{r}");
    assert!(detail("too_large").contains("past the limit"), "{r}");
    // The same channel (connection) still answers.
    assert_eq!(r["route_after"][0], 20_000, "{r}");
    assert_eq!(r["route_after"][1], 2, "{r}");
    assert_eq!(r["receive"]["no_topic"][0], 40_402, "TOPIC_NOT_FOUND: {r}");
    assert_eq!(
        r["receive"]["ok_topic"][0], 40_401,
        "MESSAGE_NOT_FOUND: {r}"
    );
}

#[test]
fn four_x_and_five_x_clients_share_messages() {
    let b = broker("");
    b.topic("SdkMixed", 4, None);
    // 4.x (coremq's remoting producer) → 5.x SimpleConsumer.
    let out = Command::new(common::coremq_bin())
        .args(["produce", "-n", &b.s.ns, "-t", "SdkMixed", "--count", "5"])
        .args(["--tag", "Four", "--keys", "fourkey"])
        .env_remove("NAMESRV_ADDR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let sent = String::from_utf8_lossy(&out.stdout);
    let ids: Vec<String> = sent
        .lines()
        .filter_map(|l| l.split("msgId=").nth(1))
        .map(|s| s.split(',').next().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 5, "{sent}");
    let got = b.sdk(
        Duration::from_secs(90),
        &["receive", "SdkMixed", "SdkMixedFive", "5"],
    );
    assert_eq!(got.len(), 5, "{got:?}");
    for m in &got {
        assert!(
            ids.iter().any(|i| m["id"] == i.as_str()),
            "4.x id kept: {m}"
        );
        assert_eq!(m["tag"], "Four", "{m}");
        assert!(
            m["keys"][0].as_str().unwrap().starts_with("fourkey-"),
            "{m}"
        );
        assert!(
            m["body"].as_str().unwrap().starts_with("Hello RocketMQ "),
            "{m}"
        );
        assert_eq!(n(m, "attempt"), 1);
    }
    // 5.x Producer → 4.x push consumer (coremq's remoting consumer).
    let home = tempfile::tempdir().unwrap();
    let (mut child, rx) = start_consume(
        &b.s.ns,
        "SdkMixed",
        "SdkMixedFour",
        &["--tag", "Five", "--from", "first"],
        home.path(),
    );
    let sent = b.sdk(Duration::from_secs(60), &["send", "SdkMixed", "3"]);
    let five_ids: Vec<String> = sent
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < 3 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            if line.contains("Receive New Messages") {
                seen.push(line);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for line in &seen {
        assert!(
            five_ids
                .iter()
                .any(|i| line.contains(&format!("msgId={i}"))),
            "{line}"
        );
        assert!(line.contains("tags=Five"), "{line}");
        assert!(line.contains("keys=fk"), "{line}");
        assert!(line.contains("body=five "), "{line}");
    }
}

#[test]
fn after_sigkill_unacked_messages_come_back_and_acked_ones_do_not() {
    let metrics_port = free_port();
    let mut b = broker(&format!("metricsPort={metrics_port}"));
    b.topic("SdkCrash", 4, None);
    let out = b.sdk(
        Duration::from_secs(120),
        &["crash-before", "SdkCrash", "SdkCrashGroup", "200"],
    );
    let r = &out[0];
    assert_eq!(n(r, "received"), 200, "{r}");
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect()
    };
    let acked = ids(&r["acked"]);
    let mut unacked = ids(&r["unacked"]);
    assert_eq!((acked.len(), unacked.len()), (100, 100), "{r}");
    // /metrics shows the in-flight deliveries and the gRPC clients.
    let text = common::scrape_metrics(metrics_port);
    let total = |name: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    assert_eq!(total("coremq_shard_pop_inflight_messages{"), 100, "{text}");
    assert!(total("coremq_shard_grpc_clients{") >= 1, "{text}");
    // Under ASYNC_FLUSH the store writes appends every flushIntervalCommitLog (500 ms):
    // the kill comes once the messages (and the acks' journal) are on disk.
    std::thread::sleep(Duration::from_millis(1_500));
    // SIGKILL, then the same store and ports.
    b.kill_and_restart();
    let out = b.sdk(
        Duration::from_secs(150),
        &["crash-after", "SdkCrash", "SdkCrashGroup", "100"],
    );
    let mut got = ids(&out[0]["ids"]);
    got.sort();
    unacked.sort();
    assert_eq!(got, unacked, "every un-acked message once, nothing acked");
    assert!(ids(&out[0]["more"]).is_empty(), "{}", out[0]);
}

/// (id, due, arrived) of every timer message a 5.x consumer received.
fn timer_arrivals(out: &[Value]) -> Vec<(String, i64, i64)> {
    out.iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_owned(),
                n(v, "due"),
                n(v, "at"),
            )
        })
        .collect()
}

#[test]
fn timer_messages_arrive_at_their_time_from_both_protocols() {
    let b = broker("");
    b.topic("SdkTimer", 4, None);
    // 5.x: delivery_timestamp 3-7 s out.
    let sent = b.sdk(
        Duration::from_secs(60),
        &["timer-send", "SdkTimer", "10", "3"],
    );
    // 4.x: a remoting send with TIMER_DELAY_SEC (what a 4.x client sets as a user
    // property), before the 5.x consumer starts.
    let mut raw = common::RawClient::connect(b.s.broker.parse().unwrap());
    let four_sent_ms = coremq::clock::now_ms();
    let r = raw.call(common::send_command(
        "pg",
        "SdkTimer",
        1,
        b"four",
        "TAGS\u{1}Timer\u{2}TIMER_DELAY_SEC\u{1}4\u{2}UNIQ_KEY\u{1}FOURXTIMER0000000000000000000001",
    ));
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let got = b.sdk(
        Duration::from_secs(60),
        &["timer-receive", "SdkTimer", "SdkTimerGroup", "11", "20"],
    );
    let arrivals = timer_arrivals(&got);
    assert_eq!(arrivals.len(), 11, "{got:?}");
    for s in &sent {
        let id = s["id"].as_str().unwrap();
        let due = n(s, "due");
        let (_, reported, at) = arrivals.iter().find(|a| a.0 == id).expect("each once");
        assert_eq!(*reported, due, "delivery_timestamp shown to the consumer");
        assert!(*at >= due - 50, "{id} arrived {} ms early", due - at);
        assert!(*at - due < 1_000, "{id} arrived {} ms late", at - due);
    }
    let four = arrivals
        .iter()
        .find(|a| a.0 == "FOURXTIMER0000000000000000000001")
        .expect("the 4.x timer message");
    assert!(
        four.2 >= four_sent_ms + 4_000 - 50,
        "4.x timer early: {four:?}"
    );
    assert!(
        four.2 < four_sent_ms + 5_000 + 500,
        "4.x timer late: {four:?}"
    );
}

#[test]
fn pending_timers_survive_sigkill_and_arrive_once() {
    let mut b = broker("");
    b.topic("SdkTimerCrash", 4, None);
    let sent = b.sdk(
        Duration::from_secs(60),
        &["timer-send", "SdkTimerCrash", "20", "8"],
    );
    // Under ASYNC_FLUSH the store writes appends every flushIntervalCommitLog (500 ms):
    // the kill comes after the messages are on disk, before any is due.
    std::thread::sleep(Duration::from_millis(1_500));
    b.kill_and_restart();
    // Received until 20 came, then a further 5 s: nothing more (each once).
    let got = b.sdk(
        Duration::from_secs(90),
        &[
            "timer-receive",
            "SdkTimerCrash",
            "SdkTimerCrashGroup",
            "25",
            "20",
        ],
    );
    let arrivals = timer_arrivals(&got);
    assert_eq!(arrivals.len(), 20, "{got:?}");
    for s in &sent {
        let id = s["id"].as_str().unwrap();
        let due = n(s, "due");
        let hits: Vec<_> = arrivals.iter().filter(|a| a.0 == id).collect();
        assert_eq!(hits.len(), 1, "{id}: {hits:?}");
        assert!(hits[0].2 >= due - 50, "{id} early after the restart");
        assert!(
            hits[0].2 - due < 1_000,
            "{id} arrived {} ms late",
            hits[0].2 - due
        );
    }
}

/// SIGKILLs while a burst of timer messages is being stored (a few moments into it, each
/// round a little later): after the restarts every one arrives exactly once, none lost
/// with the log's unflushed tail and none stored twice.
#[test]
fn a_sigkill_during_timer_delivery_neither_loses_nor_repeats_one() {
    const BURST: usize = 300;
    let mut b = broker("");
    b.topic("SdkTimerBurst", 4, None);
    let mut sent = Vec::new();
    for kill_after_ms in [0u64, 8, 20, 200] {
        let round = b.sdk(
            Duration::from_secs(60),
            &["timer-burst", "SdkTimerBurst", &BURST.to_string(), "3"],
        );
        assert_eq!(round.len(), BURST);
        let due = n(&round[0], "due");
        sent.extend(round);
        // The parked messages must be on disk (flushIntervalCommitLog is 500 ms) and the
        // kill must land while they are being delivered.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!(
            due - now > 600,
            "the burst took too long to send: due in {} ms",
            due - now
        );
        std::thread::sleep(Duration::from_millis((due - now) as u64 + kill_after_ms));
        b.kill_and_restart();
    }
    let total = sent.len();
    let got = b.sdk(
        Duration::from_secs(120),
        &[
            "timer-receive",
            "SdkTimerBurst",
            "SdkTimerBurstGroup",
            &(total + 20).to_string(),
            "20",
        ],
    );
    let arrivals = timer_arrivals(&got);
    let mut seen = std::collections::HashMap::new();
    for a in &arrivals {
        *seen.entry(a.0.clone()).or_insert(0) += 1;
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).collect();
    assert!(repeated.is_empty(), "stored twice: {repeated:?}");
    let missing: Vec<_> = sent
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .filter(|id| !seen.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {total} lost, first {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    for s in &sent {
        let a = arrivals
            .iter()
            .find(|a| a.0 == s["id"].as_str().unwrap())
            .unwrap();
        assert!(a.2 >= n(s, "due") - 50, "{} arrived early", a.0);
    }
}

#[test]
fn transactions_commit_roll_back_and_are_checked_back_over_telemetry() {
    let b = broker("transactionCheckInterval=1000\ntransactionTimeOut=2000");
    b.topic("SdkTx", 2, Some("+message.type=TRANSACTION"));
    let out = b.sdk(
        Duration::from_secs(90),
        &["transactions", "SdkTx", "SdkTxGroup"],
    );
    let r = &out[0];
    assert_eq!(r["got"], serde_json::json!(["commit-me", "orphan"]), "{r}");
    assert_eq!(
        r["asked"],
        serde_json::json!(["orphan"]),
        "only the orphan is checked back: {r}"
    );
}

#[test]
fn the_python_push_consumer_consumes_and_a_failure_comes_back() {
    let b = broker("");
    b.topic("SdkPush", 4, None);
    let out = b.sdk(
        Duration::from_secs(120),
        &["push", "SdkPush", "SdkPushGroup", "200"],
    );
    let r = &out[0];
    assert_eq!(n(r, "done"), 200, "{r}");
    assert_eq!(
        r["m7"],
        serde_json::json!([1, 2]),
        "failed once, redelivered once: {r}"
    );
    assert_eq!(r["repeated"].as_array().unwrap().len(), 0, "{r}");
}

/// A push consumer's leases are renewed while it lives: a handler that runs for longer
/// than the lease gets each message once, and a held message stays away from the rest
/// of the group; when the holder ends, what it held comes back within
/// invisibleTimeMillisWhenClear instead of the rest of its lease.
#[test]
fn push_consumer_leases_are_renewed_while_it_lives_and_cut_when_it_ends() {
    // Leases of 6 s, renewed when 2 s are left: without the clear a held message would
    // come back 4-6 s after its holder ended; with it, after 1 s.
    let b = broker(
        "defaultInvisibleTimeMills=6000\nrenewAheadTimeMillis=2000\nrenewSchedulePeriodMillis=250",
    );
    b.topic("SdkRenew", 2, None);
    let out = b.sdk(
        Duration::from_secs(180),
        &["renew", "SdkRenew", "SdkRenewGroup", "10"],
    );
    let push = &out[0]["push"];
    for i in 0..6 {
        assert_eq!(
            push[format!("r{i}")],
            serde_json::json!([1]),
            "a 10 s handler on 6 s leases gets each message once: {push}"
        );
    }
    let r = &out[1];
    assert_eq!(r["held"], serde_json::json!(["held"]), "{r}");
    assert_eq!(
        r["early"],
        serde_json::json!([]),
        "held for 10 s, past its first lease: {r}"
    );
    let back = r["back_s"]
        .as_f64()
        .unwrap_or_else(|| panic!("never came back: {r}"));
    assert!(
        back < 3.0,
        "came back {back:.1} s after its client ended: {r}"
    );
    assert_eq!(r["attempt"], 2, "{r}");
}

#[test]
fn acl_refuses_unsigned_calls_and_takes_the_sdk_signature() {
    let b = acl_broker(
        "accounts:\n  - accessKey: grpcAdmin\n    secretKey: grpcAdminSecret\n    admin: true\n  - accessKey: appUser\n    secretKey: appSecret1234\n    defaultTopicPerm: DENY\n    defaultGroupPerm: DENY\n    topicPerms: [AclFive=PUB|SUB]\n    groupPerms: [AclFiveGroup=SUB]\n",
    );
    b.topic("AclFive", 2, None);
    b.topic("AclOther", 2, None);
    let out = b.sdk(
        Duration::from_secs(90),
        &["acl", "AclFive", "AclFiveGroup", "appUser", "appSecret1234"],
    );
    let r = &out[0];
    assert_eq!(r["unsigned"][0], "PERMISSION_DENIED", "{r}");
    assert!(
        r["unsigned"][1].as_str().unwrap().contains("AccessKey"),
        "{r}"
    );
    assert_eq!(r["got"][0], r["sent"], "signed send and receive: {r}");
    let denied = r["denied"].as_str().unwrap();
    assert!(
        denied.contains("no ANY permission") || denied.contains("no PUB permission"),
        "{r}"
    );
    assert!(
        denied.contains("AclOther"),
        "the refusal names the topic: {r}"
    );
}

/// A SimpleConsumer with a SQL92 filter gets exactly the matching messages; a malformed
/// expression, and any SQL92 on a broker without enablePropertyFilter, is refused by name.
#[test]
fn a_sql92_filter_delivers_exactly_the_matching_messages() {
    const SENT: i64 = 300;
    let expr = "a BETWEEN 3 AND 6 AND (color = 'red' OR color IS NULL) AND TAGS <> 'T1'";
    let b = broker("enablePropertyFilter=true");
    b.topic("SdkSql", 4, None);
    let out = b.sdk(
        Duration::from_secs(150),
        &["sql", "SdkSql", "SdkSqlGroup", expr, &SENT.to_string()],
    );
    let mut got: Vec<i64> = out[0]["got"]
        .as_array()
        .unwrap_or_else(|| panic!("{out:?}"))
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    got.sort_unstable();
    let want: Vec<i64> = (0..SENT)
        .filter(|i| (3..=6).contains(&(i % 10)) && i % 3 != 1 && i % 2 == 0)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want, "exactly the matching messages, each once");

    // The error a receive with `expr` ends in (one message sent first).
    let refusal = |b: &GrpcBroker, topic: &str, expr: &str| {
        let out = b.sdk(
            Duration::from_secs(90),
            &["sql", topic, &format!("{topic}Group"), expr, "1"],
        );
        out[0]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{out:?}"))
            .to_owned()
    };
    let e = refusal(&b, "SdkSql", "a BETWEEN 3 AND");
    assert!(
        e.contains("40010") || e.contains("ILLEGAL_FILTER_EXPRESSION"),
        "{e}"
    );
    assert!(e.contains("column"), "the refusal gives the position: {e}");

    let off = broker("");
    off.topic("SdkSqlOff", 2, None);
    let e = refusal(&off, "SdkSqlOff", "a > 1");
    assert!(e.contains("SQL92"), "refused as RocketMQ does: {e}");
}

/// Two broker groups: a client given only broker-a's endpoint is routed to both masters
/// (each with its own gRPC endpoint), sends land on both, and a SimpleConsumer gets every
/// message once from both.
#[test]
fn a_client_of_one_broker_reaches_every_broker_group_of_the_topic() {
    let b = broker("");
    let other_grpc = free_port();
    let ns: std::net::SocketAddr = b.s.ns.parse().unwrap();
    let other = common::start_broker(
        Some(ns),
        &format!("brokerName=broker-grpc-b\ngrpcServerPort={other_grpc}"),
    );
    b.topic("SdkTwoGroups", 2, None);
    common::update_topic(&b.s.ns, &other.addr.to_string(), "SdkTwoGroups", 2);
    // Both groups in the nameserver's route before the client asks.
    common::wait_until(Duration::from_secs(20), "both groups in the route", || {
        let (_, out, _) = admin(&b.s.ns, &["topicRoute", "-t", "SdkTwoGroups"]);
        out.contains("broker-grpc-b") && out.contains(&b.s.broker)
    });
    let out = b.sdk(
        Duration::from_secs(120),
        &["roundtrip", "SdkTwoGroups", "SdkTwoGroupsGroup", "400"],
    );
    assert_eq!(n(&out[0], "sent"), 400);
    let r = &out[1];
    assert_eq!(n(r, "received"), 400, "{r}");
    assert_eq!(n(r, "dups"), 0, "{r}");
    assert_eq!(n(r, "bad"), 0, "{r}");
    let (code, text, err) = admin(&b.s.ns, &["topicStatus", "-t", "SdkTwoGroups"]);
    assert_eq!(code, 0, "{err}");
    let stored = |group: &str| -> i64 {
        text.lines()
            .filter(|l| l.starts_with(group))
            .filter_map(|l| l.split_whitespace().nth(3)?.parse::<i64>().ok())
            .sum()
    };
    assert!(
        stored("broker-grpc-b") > 0,
        "nothing sent to broker-grpc-b:\n{text}"
    );
    assert_eq!(
        stored("broker-grpc-b") + stored("broker-a"),
        400,
        "every message stored once:\n{text}"
    );
}

/// mqadmin's tables and the console list the live gRPC clients beside 4.x ones: the
/// SimpleConsumer under its group with its subscription, the producer under its topic.
#[test]
fn mqadmin_and_the_console_show_live_grpc_clients() {
    let b = broker("");
    b.topic("SdkShown", 2, None);
    let mut child = Command::new("python3")
        .arg(script())
        .arg(&b.endpoint)
        .args(["linger", "SdkShown", "SdkShownGroup", "TagA"])
        .env("HOME", b.s.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let stdout = child.stdout.take().unwrap();
    let mut sdk = common::ChildGuard {
        child,
        first_line: String::new(),
    };
    let first = BufReader::new(stdout)
        .lines()
        .next()
        .and_then(Result::ok)
        .expect("sdk.py linger prints the client ids");
    let ids: Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{first}: {e}"));
    assert_eq!(n(&ids, "received"), 1, "{ids}");
    let consumer_id = ids["consumer"].as_str().unwrap();
    let producer_id = ids["producer"].as_str().unwrap();

    let (code, text, err) = admin(&b.s.ns, &["consumerConnection", "-g", "SdkShownGroup"]);
    assert_eq!(code, 0, "{text}{err}");
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with(consumer_id))
        .unwrap_or_else(|| panic!("{consumer_id} not listed:\n{text}"))
        .split_whitespace()
        .collect();
    assert!(row[1].starts_with("127.0.0.1:"), "{text}");
    assert_eq!(row[2..], ["PYTHON", "V5_1_2"], "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("SdkShown ") && l.trim_end().ends_with("TagA")),
        "the subscription: {text}"
    );
    assert!(text.contains("ConsumeType: CONSUME_ACTIVELY"), "{text}");

    let (code, text, err) = admin(
        &b.s.ns,
        &["producerConnection", "-g", "SdkShown", "-t", "SdkShown"],
    );
    assert_eq!(code, 0, "{text}{err}");
    assert!(
        text.lines()
            .any(|l| l.contains(producer_id) && l.contains("PYTHON") && l.contains("V5_1_2")),
        "{producer_id} not listed:\n{text}"
    );

    // The console's group page reads the same request.
    let console_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _console = common::spawn_until_line(
        Command::new(common::coremq_bin())
            .args(["console", "-n", &b.s.ns, "--bind", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .arg("--log-dir")
            .arg(console_dir.path().join("logs"))
            .env_remove("NAMESRV_ADDR")
            .env_remove("COREMQ_CONSOLE_PASSWORD"),
        console_dir.path(),
        "The console is at",
    );
    let page = ureq::get(&format!("http://127.0.0.1:{port}/group?name=SdkShownGroup"))
        .call()
        .expect("the group page")
        .into_string()
        .unwrap();
    assert!(
        page.contains(consumer_id) && page.contains("PYTHON"),
        "{page}"
    );

    // Closing stdin ends the scenario; its clients say goodbye and leave the table.
    drop(sdk.child.stdin.take());
    let status = sdk.child.wait().unwrap();
    assert!(status.success(), "sdk.py linger: {status}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, text, _) = admin(&b.s.ns, &["consumerConnection", "-g", "SdkShownGroup"]);
        if code != 0 || !text.contains(consumer_id) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{consumer_id} still listed after it shut down:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
