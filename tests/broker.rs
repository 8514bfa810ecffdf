//! The real `coremq broker` (and `standalone`) over loopback TCP with coremq's codec:
//! error responses that name the culprit, long polling, retry → delay → dead-letter,
//! queue locks, the admin requests mqadmin uses, the command line, and a clean SIGTERM
//! stop that unregisters, persists topics and offsets, and restarts where it left off.
//! (Third-party-client flows are in tests/compat.)

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use coremq::protocol::{RemotingCommand, ResponseCode as R};
use coremq::store::record::Record;

const TBW102: &str = "TBW102";

fn create_topic(c: &mut RawClient, topic: &str, queues: i32) -> RemotingCommand {
    let q = queues.to_string();
    c.call_with(
        17,
        &[
            ("topic", topic),
            ("defaultTopic", TBW102),
            ("readQueueNums", &q),
            ("writeQueueNums", &q),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("topicSysFlag", "0"),
            ("order", "false"),
        ],
        Vec::new(),
    )
}

fn heartbeat(
    c: &mut RawClient,
    client: &str,
    group: &str,
    topic: &str,
    expr: &str,
) -> RemotingCommand {
    let body = serde_json::json!({
        "clientID": client,
        "consumerDataSet": [{
            "groupName": group, "consumeType": "CONSUME_PASSIVELY", "messageModel": "CLUSTERING",
            "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET", "unitMode": false,
            "subscriptionDataSet": [{"topic": topic, "subString": expr, "tagsSet": [], "codeSet": [],
                "subVersion": 1, "expressionType": "TAG", "classFilterMode": false}]
        }],
        "producerDataSet": [{"groupName": "pg"}]
    });
    c.call_with(34, &[], serde_json::to_vec(&body).unwrap())
}

fn ext_i64(r: &RemotingCommand, k: &str) -> i64 {
    r.ext
        .get(k)
        .unwrap_or_else(|| panic!("no {k} in {r:?}"))
        .parse()
        .unwrap()
}

fn queue_max(c: &mut RawClient, topic: &str, qid: i32) -> i64 {
    let r = c.call_with(
        30,
        &[("topic", topic), ("queueId", &qid.to_string())],
        Vec::new(),
    );
    assert_eq!(r.code, 0, "{:?}", r.remark);
    ext_i64(&r, "offset")
}

#[test]
fn sends_pulls_and_errors_that_name_the_culprit() {
    let b = start_broker(None, "maxMessageSize=1024\nautoCreateTopicEnable=false");
    let mut c = RawClient::connect(b.addr);
    assert_eq!(create_topic(&mut c, "T1", 4).code, 0);

    let r = raw_send(&mut c, "T1", 2, b"hello", "TagA");
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let msg_id = r.ext.get("msgId").unwrap().to_owned();
    assert_eq!(msg_id.len(), 32, "IPv4 offset msgId");
    assert_eq!(r.ext.get("queueId"), Some("2"));
    assert_eq!(r.ext.get("queueOffset"), Some("0"));
    let (_, phys) = coremq::protocol::message_id::decode(&msg_id).unwrap();

    // The record by id, and by pull: identical bytes, V1 layout, our topic and tag.
    let v = c.call_with(33, &[("offset", &phys.to_string())], Vec::new());
    assert_eq!(v.code, 0, "{:?}", v.remark);
    let rec = Record::parse(&v.body).unwrap();
    assert_eq!((rec.body(), rec.topic().as_ref()), (&b"hello"[..], "T1"));
    assert!(!rec.properties().contains("WAIT"), "WAIT is not stored");
    assert!(rec.properties().contains("CLUSTER\u{1}DefaultCluster"));
    assert_eq!(heartbeat(&mut c, "cid-1", "g1", "T1", "*").code, 0);
    let p = raw_pull(&mut c, "g1", "T1", 2, 0, 0, 0);
    assert_eq!(p.code, 0, "{:?}", p.remark);
    assert_eq!(p.body, v.body);
    assert_eq!(ext_i64(&p, "nextBeginOffset"), 1);
    assert_eq!((ext_i64(&p, "minOffset"), ext_i64(&p, "maxOffset")), (0, 1));
    assert_eq!(ext_i64(&p, "suggestWhichBrokerId"), 0);
    // Offsets past the end: OFFSET_MOVED with every ext field present.
    let moved = raw_pull(&mut c, "g1", "T1", 2, 9, 0, 0);
    assert_eq!(moved.code, R::PULL_OFFSET_MOVED.code());
    assert_eq!(ext_i64(&moved, "nextBeginOffset"), 1);
    let none = raw_pull(&mut c, "g1", "T1", 2, 1, 0, 0);
    assert_eq!(none.code, R::PULL_NOT_FOUND.code());

    let bad = raw_send(&mut c, "bad topic!", 0, b"x", "t");
    assert_eq!(bad.code, R::MESSAGE_ILLEGAL.code());
    assert!(bad.remark.unwrap().contains("illegal"));
    let big = raw_send(&mut c, "T1", 0, &[b'x'; 2000], "t");
    assert_eq!(big.code, R::MESSAGE_ILLEGAL.code());
    assert!(big.remark.unwrap().contains("1024"));
    let nope = raw_send(&mut c, "Nope", 0, b"x", "t");
    assert_eq!(nope.code, R::TOPIC_NOT_EXIST.code());
    let q = raw_send(&mut c, "T1", 9, b"x", "t");
    assert_eq!(q.code, R::SYSTEM_ERROR.code());
    assert!(q.remark.unwrap().contains("queueId[9]"));
    let unknown = c.call_with(9999, &[], Vec::new());
    assert_eq!(unknown.code, R::REQUEST_CODE_NOT_SUPPORTED.code());
    let missing = c.call_with(11, &[("topic", "T1")], Vec::new());
    assert_eq!(missing.code, R::SYSTEM_ERROR.code());
    assert!(missing.remark.unwrap().contains("consumerGroup"));
    let no_sub = raw_pull(&mut c, "g-unknown", "T1", 2, 0, 0, 0);
    assert_eq!(no_sub.code, R::SUBSCRIPTION_NOT_EXIST.code());

    // A malformed frame closes that connection only.
    let mut junk = RawClient::connect(b.addr);
    junk.send_raw(&[0, 0, 0, 8, 0, 0, 0, 200, 1, 2, 3, 4]);
    assert!(junk.read_frame().is_none());
    assert_eq!(queue_max(&mut c, "T1", 2), 1);

    // Offsets: a group without one starts a young queue at its first message (RocketMQ's
    // rule, trap 9); a commit is read back.
    let ask = |c: &mut RawClient| {
        c.call_with(
            14,
            &[("consumerGroup", "g1"), ("topic", "T1"), ("queueId", "2")],
            Vec::new(),
        )
    };
    let young = ask(&mut c);
    assert_eq!(young.code, 0, "{:?}", young.remark);
    assert_eq!(ext_i64(&young, "offset"), 0);
    let u = c.call_with(
        15,
        &[
            ("consumerGroup", "g1"),
            ("topic", "T1"),
            ("queueId", "2"),
            ("commitOffset", "1"),
        ],
        Vec::new(),
    );
    assert_eq!(u.code, 0);
    assert_eq!(ext_i64(&ask(&mut c), "offset"), 1);
}

/// RocketMQ 4.9's answer to a group without an offset: 0 while the queue starts at 0 and
/// its first record is within accessMessageInMemoryMaxRatio % of memory from the log's end
/// (or the queue is empty), exactly 22 otherwise. Ratio 0 makes every stored record cold.
#[test]
fn a_group_without_an_offset_starts_young_queues_at_zero_and_cold_ones_not_found() {
    let ask = |c: &mut RawClient, qid: i32| {
        let r = c.call_with(
            14,
            &[
                ("consumerGroup", "new-group"),
                ("topic", "Young"),
                ("queueId", &qid.to_string()),
            ],
            Vec::new(),
        );
        (r.code, r.ext.get("offset").map(str::to_owned))
    };
    for (ratio, stored_answer) in [
        (40, (0, Some("0".to_owned()))),
        (0, (R::QUERY_NOT_FOUND.code(), None)),
    ] {
        let b = start_broker(
            None,
            &format!("autoCreateTopicEnable=false\naccessMessageInMemoryMaxRatio={ratio}"),
        );
        let mut c = RawClient::connect(b.addr);
        assert_eq!(create_topic(&mut c, "Young", 4).code, 0);
        for i in 0..3 {
            let r = raw_send(&mut c, "Young", 1, format!("m{i}").as_bytes(), "t");
            assert_eq!(r.code, 0, "{:?}", r.remark);
        }
        assert_eq!(
            ask(&mut c, 1),
            stored_answer,
            "ratio {ratio}, queue with records"
        );
        assert_eq!(
            ask(&mut c, 3),
            (0, Some("0".to_owned())),
            "ratio {ratio}, empty queue"
        );
        // A commit always wins over the rule.
        let u = c.call_with(
            15,
            &[
                ("consumerGroup", "new-group"),
                ("topic", "Young"),
                ("queueId", "1"),
                ("commitOffset", "2"),
            ],
            Vec::new(),
        );
        assert_eq!(u.code, 0);
        assert_eq!(ask(&mut c, 1), (0, Some("2".to_owned())));
    }
}

#[test]
fn long_polling_parks_until_a_message_arrives() {
    let b = start_broker(None, "");
    let mut c = RawClient::connect(b.addr);
    assert_eq!(create_topic(&mut c, "LP", 1).code, 0);
    assert_eq!(heartbeat(&mut c, "cid-lp", "glp", "LP", "TagA").code, 0);
    let addr = b.addr;
    // The pull asks to be parked for 20 s; the reader gives up after 10 s, so only a wake-up
    // on append can make this pass.
    let parked = std::thread::spawn(move || {
        let mut p = RawClient::connect(addr);
        raw_pull(&mut p, "glp", "LP", 0, 0, 0x2, 20_000)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(raw_send(&mut c, "LP", 0, b"late", "TagA").code, 0);
    let r = parked.join().unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert_eq!(Record::parse(&r.body).unwrap().body(), b"late");

    // Tag filter on the broker: TagB entries are skipped and the offset still advances.
    assert_eq!(raw_send(&mut c, "LP", 0, b"other", "TagB").code, 0);
    let f = raw_pull(&mut c, "glp", "LP", 0, 1, 0, 0);
    assert_eq!(f.code, R::PULL_RETRY_IMMEDIATELY.code());
    assert_eq!(ext_i64(&f, "nextBeginOffset"), 2);
    // Nothing new: a short park ends in NOT_FOUND at the same offset.
    let n = raw_pull(&mut c, "glp", "LP", 0, 2, 0x2, 300);
    assert_eq!(n.code, R::PULL_NOT_FOUND.code());
    assert_eq!(ext_i64(&n, "nextBeginOffset"), 2);
}

#[test]
fn send_back_retries_with_delay_then_dead_letters() {
    let b = start_broker(None, "");
    let mut c = RawClient::connect(b.addr);
    assert_eq!(create_topic(&mut c, "RT", 1).code, 0);
    assert_eq!(heartbeat(&mut c, "cid-r", "gr", "RT", "*").code, 0);
    assert_eq!(
        queue_max(&mut c, "%RETRY%gr", 0),
        0,
        "retry topic created on heartbeat"
    );
    let sent = raw_send(&mut c, "RT", 0, b"poison", "TagA");
    let (_, mut phys) =
        coremq::protocol::message_id::decode(sent.ext.get("msgId").unwrap()).unwrap();
    // Two retries at delay level 1 (1 s), then the dead-letter queue (maxReconsumeTimes=2).
    for round in 1..=3 {
        let r = c.call_with(
            36,
            &[
                ("offset", &phys.to_string()),
                ("group", "gr"),
                ("delayLevel", "1"),
                ("originTopic", "RT"),
                ("maxReconsumeTimes", "2"),
            ],
            Vec::new(),
        );
        assert_eq!(r.code, 0, "round {round}: {:?}", r.remark);
        if round == 3 {
            break;
        }
        wait_until(Duration::from_secs(15), "the delayed retry", || {
            queue_max(&mut c, "%RETRY%gr", 0) == round
        });
        let p = raw_pull(&mut c, "gr", "%RETRY%gr", 0, round - 1, 0x4, 0);
        assert_eq!(p.code, 0, "{:?}", p.remark);
        let rec = Record::parse(&p.body).unwrap();
        assert_eq!(rec.body(), b"poison");
        assert!(rec.properties().contains("RETRY_TOPIC\u{1}RT"));
        phys = rec.physical_offset();
    }
    wait_until(Duration::from_secs(10), "the dead letter", || {
        c.call_with(30, &[("topic", "%DLQ%gr"), ("queueId", "0")], Vec::new())
            .ext
            .get("offset")
            == Some("1")
    });
}

#[test]
fn admin_requests_and_queue_locks() {
    let b = start_broker(None, "");
    let mut c = RawClient::connect(b.addr);
    assert_eq!(create_topic(&mut c, "AT", 4).code, 0);
    for q in 0..4 {
        for _ in 0..=q {
            assert_eq!(raw_send(&mut c, "AT", q, b"m", "TagA").code, 0);
        }
    }
    let all = c.call_with(21, &[], Vec::new());
    let v: serde_json::Value = serde_json::from_slice(&all.body).unwrap();
    assert_eq!(v["topicConfigTable"]["AT"]["writeQueueNums"], 4);
    assert_eq!(
        v["topicConfigTable"]["BenchmarkTest"]["readQueueNums"],
        1024
    );

    let stats = c.call_with(202, &[("topic", "AT")], Vec::new());
    let s: serde_json::Value = coremq::protocol::body::from_json_lenient(&stats.body).unwrap();
    let table = s["offsetTable"].as_object().unwrap();
    assert_eq!(table.len(), 4);
    let max_total: i64 = table
        .values()
        .map(|o| o["maxOffset"].as_i64().unwrap())
        .sum();
    assert_eq!(max_total, 1 + 2 + 3 + 4);
    assert!(
        stats.body.starts_with(b"{\"offsetTable\":{{"),
        "fastjson object keys"
    );

    assert_eq!(heartbeat(&mut c, "cid-a", "ga", "AT", "*").code, 0);
    let commit = c.call_with(
        15,
        &[
            ("consumerGroup", "ga"),
            ("topic", "AT"),
            ("queueId", "3"),
            ("commitOffset", "1"),
        ],
        Vec::new(),
    );
    assert_eq!(commit.code, 0);
    let cs = c.call_with(208, &[("consumerGroup", "ga"), ("topic", "AT")], Vec::new());
    let cs: serde_json::Value = coremq::protocol::body::from_json_lenient(&cs.body).unwrap();
    assert_eq!(cs["offsetTable"].as_object().unwrap().len(), 4);
    let bcs = c.call_with(317, &[("isOrder", "false")], Vec::new());
    let bcs: serde_json::Value = coremq::protocol::body::from_json_lenient(&bcs.body).unwrap();
    // Queues without a commit count from 0, as RocketMQ reports them: 1 + 2 + 3 + (4 - 1).
    assert_eq!(bcs["totalDiff"], 9);
    let who = c.call_with(300, &[("topic", "AT")], Vec::new());
    assert!(String::from_utf8_lossy(&who.body).contains("\"ga\""));
    let conns = c.call_with(203, &[("consumerGroup", "ga")], Vec::new());
    assert_eq!(conns.code, 0);
    assert!(String::from_utf8_lossy(&conns.body).contains("cid-a"));
    assert_eq!(
        c.call_with(203, &[("consumerGroup", "nobody")], Vec::new())
            .code,
        R::CONSUMER_NOT_ONLINE.code()
    );
    let list = c.call_with(38, &[("consumerGroup", "ga")], Vec::new());
    assert_eq!(
        String::from_utf8_lossy(&list.body),
        r#"{"consumerIdList":["cid-a"]}"#
    );
    let rt = c.call_with(28, &[], Vec::new());
    let rt: serde_json::Value = serde_json::from_slice(&rt.body).unwrap();
    assert_eq!(rt["table"]["msgPutTotalTodayNow"], "10");
    assert_eq!(
        rt["table"]["putTps"].as_str().unwrap().split(' ').count(),
        3
    );
    let cfg = c.call_with(26, &[], Vec::new());
    assert!(String::from_utf8_lossy(&cfg.body).contains(&format!("listenPort={}", b.addr.port())));

    // Queue locks: one holder per queue.
    let lock = |c: &mut RawClient, code: i32, client: &str| {
        let body = format!(
            r#"{{"consumerGroup":"ga","clientId":"{client}","mqSet":[{{"brokerName":"broker-a","queueId":0,"topic":"AT"}},{{"brokerName":"broker-a","queueId":1,"topic":"AT"}}]}}"#
        );
        c.call_with(code, &[], body.into_bytes())
    };
    let got = |r: RemotingCommand| {
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["lockOKMQSet"].as_array().unwrap().len()
    };
    assert_eq!(got(lock(&mut c, 41, "A")), 2);
    assert_eq!(got(lock(&mut c, 41, "B")), 0);
    assert_eq!(lock(&mut c, 42, "A").code, 0);
    assert_eq!(got(lock(&mut c, 41, "B")), 2);

    assert_eq!(c.call_with(215, &[("topic", "AT")], Vec::new()).code, 0);
    let all = c.call_with(21, &[], Vec::new());
    assert!(!String::from_utf8_lossy(&all.body).contains("\"AT\""));
}

#[test]
fn command_line_checks_and_prints() {
    let dir = tempfile::tempdir().unwrap();
    let conf = broker_conf(dir.path(), 20911, "");
    let out = Command::new(coremq_bin())
        .args(["broker", "-p", "-c"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("listenPort=20911") && text.contains("flushDiskType=ASYNC_FLUSH"),
        "{text}"
    );
    let m = Command::new(coremq_bin())
        .args(["broker", "-m", "-n", "127.0.0.1:1", "-c"])
        .arg(&conf)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&m.stdout);
    assert!(
        text.contains("namesrvAddr=127.0.0.1:1") && !text.contains("deleteWhen"),
        "{text}"
    );

    // A slave needs a brokerId above 0 (RocketMQ's start-up check).
    let slave = dir.path().join("s.properties");
    std::fs::write(&slave, "brokerRole=SLAVE\nbrokerId=0\nlistenPort=20915\n").unwrap();
    let out = Command::new(coremq_bin())
        .env("HOME", dir.path())
        .args(["broker", "-c"])
        .arg(&slave)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Slave's brokerId must be > 0"));

    std::fs::write(&slave, "flushDiskType=SOMETIMES\n").unwrap();
    let out = Command::new(coremq_bin())
        .args(["broker", "-c"])
        .arg(&slave)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("flushDiskType"));
    let out = Command::new(coremq_bin())
        .args(["broker", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
}

#[test]
fn sigterm_unregisters_persists_and_restart_resumes() {
    let ns = start_namesrv("");
    let mut b = start_broker(Some(ns.addr), "");
    let mut c = RawClient::connect(b.addr);
    assert_eq!(
        raw_send(&mut c, "AutoT", 0, b"one", "TagA").code,
        0,
        "auto-created from TBW102"
    );
    let mut n = RawClient::connect(ns.addr);
    let route = |n: &mut RawClient| n.call_with(105, &[("topic", "AutoT")], Vec::new());
    wait_until(
        Duration::from_secs(10),
        "the route of the new topic",
        || route(&mut n).code == 0,
    );
    let v: serde_json::Value = serde_json::from_slice(&route(&mut n).body).unwrap();
    assert_eq!(
        v["queueDatas"][0]["writeQueueNums"], 4,
        "min(client's 4, TBW102's 8)"
    );
    let sent = raw_send(&mut c, "AutoT", 1, b"two", "TagA");
    assert_eq!(sent.code, 0);
    let commit = c.call_with(
        15,
        &[
            ("consumerGroup", "gp"),
            ("topic", "AutoT"),
            ("queueId", "1"),
            ("commitOffset", "1"),
        ],
        Vec::new(),
    );
    assert_eq!(commit.code, 0);
    drop(c);

    let status = terminate(&mut b.guard.child);
    assert!(status.success(), "{status:?}");
    assert!(
        !b.dir.path().join("store/abort").exists(),
        "clean stop removes the abort marker"
    );
    assert_eq!(
        route(&mut n).code,
        R::TOPIC_NOT_EXIST.code(),
        "unregistered on SIGTERM"
    );

    b.guard = restart_broker(&b.conf, b.dir.path(), Some(ns.addr));
    let mut c = RawClient::connect(b.addr);
    let off = c.call_with(
        14,
        &[
            ("consumerGroup", "gp"),
            ("topic", "AutoT"),
            ("queueId", "1"),
        ],
        Vec::new(),
    );
    assert_eq!(ext_i64(&off, "offset"), 1, "offset persisted");
    assert_eq!(queue_max(&mut c, "AutoT", 1), 1);
    wait_until(Duration::from_secs(10), "re-registration", || {
        route(&mut n).code == 0
    });
}

#[test]
fn standalone_serves_on_its_own_nameserver() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_broker_port();
    let ns_port = free_port();
    let conf = broker_conf(dir.path(), port, "");
    let mut g = spawn_until_line(
        Command::new(coremq_bin())
            .args(["standalone", "--namesrv-port", &ns_port.to_string(), "-c"])
            .arg(&conf),
        dir.path(),
        "boot success. serializeType=JSON and name server is",
    );
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(raw_send(&mut c, "TopicTest", -1, b"hi", "TagA").code, 0);
    let mut n = RawClient::connect(format!("127.0.0.1:{ns_port}").parse().unwrap());
    wait_until(Duration::from_secs(10), "the route", || {
        n.call_with(105, &[("topic", "TopicTest")], Vec::new()).code == 0
    });
    assert!(terminate(&mut g.child).success());
}

#[test]
fn broker_logs_go_to_the_configured_directory() {
    let b = start_broker(None, "logRetentionDays=3");
    let log = b.dir.path().join("logs/broker.log");
    wait_until(
        Duration::from_secs(10),
        "the boot line in broker.log",
        || std::fs::read_to_string(&log).is_ok_and(|t| t.contains("boot success")),
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains('\u{1b}'), "no terminal colours in the file");
}

/// CPUs reserved with `isolcpus=` are outside every process's default mask; a broker told
/// to put its shards there must still start. `taskset -c 0` gives the same mask.
#[test]
fn shards_can_be_pinned_outside_the_process_cpu_mask() {
    // CPU 1 must be one this process may use (online, and in its cgroup's cpuset).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .and_then(|l| coremq::broker::placement::parse_cpu_list(l.trim()).ok())
        .unwrap_or_default();
    let taskset = Command::new("taskset").arg("--version").output();
    if !allowed.contains(&1) || taskset.is_err() {
        eprintln!("skipped: needs CPU 1 in this process's CPU set and taskset (util-linux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_broker_port();
    let conf = broker_conf(dir.path(), port, "shardCpus=1");
    let conf_text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("shardCount=2", "shardCount=1");
    std::fs::write(&conf, conf_text).unwrap();
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"])
        .arg(coremq_bin())
        .args(["broker", "-c"])
        .arg(&conf)
        .env_remove("NAMESRV_ADDR");
    let _broker = spawn_until_line(&mut cmd, dir.path(), "boot success");
}

/// GET_CONSUMER_RUNNING_INFO relayed to a client that never answers: CONSUME_MSG_TIMEOUT
/// (207) after the broker's wait, as RocketMQ; the client did get the request with the
/// admin's header. A client whose connection closes mid-call, or an unknown client:
/// SYSTEM_ERROR naming it.
#[test]
fn relayed_consumer_calls_fail_with_rocketmqs_codes() {
    let b = start_broker(None, "");
    let mut silent = RawClient::connect(b.addr);
    assert_eq!(
        heartbeat(&mut silent, "cid-silent", "g-relay", "RT", "*").code,
        0
    );
    let addr = b.addr;
    let ask = move |client: &str| {
        let mut admin = RawClient::connect(addr);
        admin.set_read_timeout(Duration::from_secs(30));
        admin.call_with(
            307,
            &[
                ("consumerGroup", "g-relay"),
                ("clientId", client),
                ("jstackEnable", "false"),
            ],
            Vec::new(),
        )
    };
    let r = ask("nobody");
    assert_eq!(r.code, R::SYSTEM_ERROR.code());
    assert!(r
        .remark
        .as_deref()
        .unwrap_or("")
        .contains("<nobody> not online"));

    let r = ask("cid-silent");
    assert_eq!(r.code, R::CONSUME_MSG_TIMEOUT.code(), "{:?}", r.remark);
    assert!(r.remark.as_deref().unwrap_or("").contains("Timeout"));
    let relayed = silent.read_frame().expect("the relayed request");
    assert_eq!(relayed.code, 307);
    assert!(!relayed.is_response());
    assert_eq!(relayed.ext.get("clientId"), Some("cid-silent"));
    assert_eq!(relayed.ext.get("consumerGroup"), Some("g-relay"));

    let asking = std::thread::spawn(move || ask("cid-silent"));
    // The request reaches the client, which hangs up instead of answering.
    let relayed = silent.read_frame().expect("the second relayed request");
    assert_eq!(relayed.code, 307);
    silent.shutdown();
    let r = asking.join().unwrap();
    assert_eq!(r.code, R::SYSTEM_ERROR.code(), "{:?}", r.remark);
    assert!(r.remark.as_deref().unwrap_or("").contains("cid-silent"));
}
