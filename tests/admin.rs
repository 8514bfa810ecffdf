//! `coremq admin` against a real `coremq standalone`: each command's header row and a data
//! row, `--json`, and one-line errors with exit code 1.

mod common;

use std::process::Command;

use common::*;

fn ok(ns: &str, args: &[&str]) -> String {
    let (code, out, err) = admin(ns, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

/// The columns of a line split on runs of 2+ spaces or single spaces (mqadmin's are padded).
fn cols(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// `coremq consume` of `topic` in `group` from the first offset, running in the
/// background (killed when the guard drops), and every line it prints so far.
fn background_consumer(
    s: &Standalone,
    topic: &str,
    group: &str,
) -> (ChildGuard, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::BufRead;
    let mut child = Command::new(coremq_bin())
        .args([
            "consume", "-n", &s.ns, "-t", topic, "-g", group, "--from", "first",
        ])
        .args(["--count", "1000000", "--timeout", "120"])
        .env("HOME", s.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (sink, out) = (lines.clone(), child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    let guard = ChildGuard {
        child,
        first_line: String::new(),
    };
    (guard, lines)
}

#[test]
fn admin_commands_print_mqadmins_tables() {
    let s = standalone();
    let ns = s.ns.as_str();

    let out = ok(ns, &["clusterList"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("#Cluster Name     #Broker Name"),
        "{out}"
    );
    assert!(lines[0].contains("#InTPS(LOAD)") && lines[0].ends_with("#SPACE"));
    let row = cols(lines[1]);
    assert_eq!(
        &row[..4],
        &["DefaultCluster", "broker-a", "0", s.broker.as_str()],
        "{out}"
    );

    let out = ok(
        ns,
        &[
            "updateTopic",
            "-t",
            "AdminT",
            "-c",
            "DefaultCluster",
            "-r",
            "4",
            "-w",
            "4",
        ],
    );
    assert!(
        out.contains(&format!("create topic to {} success.", s.broker)),
        "{out}"
    );
    assert!(
        out.contains("TopicConfig [topicName=AdminT, readQueueNums=4, writeQueueNums=4, perm=RW-")
    );

    // Messages and a consumer offset for the lag tables.
    let mut c = RawClient::connect(s.broker.parse().unwrap());
    for q in 0..4 {
        let r = c.call_with(
            10,
            &[
                ("producerGroup", "pg"),
                ("topic", "AdminT"),
                ("defaultTopic", "TBW102"),
                ("defaultTopicQueueNums", "4"),
                ("queueId", &q.to_string()),
                ("sysFlag", "0"),
                ("bornTimestamp", "0"),
                ("flag", "0"),
                ("properties", "TAGS\u{1}a"),
            ],
            b"m".to_vec(),
        );
        assert_eq!(r.code, 0);
    }
    let hb = r#"{"clientID":"cid-admin","consumerDataSet":[{"groupName":"ag","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"topic":"AdminT","subString":"*","subVersion":1}]}]}"#.to_string();
    assert_eq!(c.call_with(34, &[], hb.into_bytes()).code, 0);
    let commit = c.call_with(
        15,
        &[
            ("consumerGroup", "ag"),
            ("topic", "AdminT"),
            ("queueId", "0"),
            ("commitOffset", "1"),
        ],
        Vec::new(),
    );
    assert_eq!(commit.code, 0);
    wait_until(
        std::time::Duration::from_secs(10),
        "the retry topic's route",
        || admin(ns, &["topicRoute", "-t", "%RETRY%ag"]).0 == 0,
    );

    let out = ok(ns, &["topicStatus", "-t", "AdminT"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        cols(lines[0]),
        ["#Broker", "Name", "#QID", "#Min", "Offset", "#Max", "Offset", "#Last", "Updated"]
    );
    assert_eq!(lines.len(), 5, "{out}");
    let row = cols(lines[1]);
    assert_eq!(&row[..4], &["broker-a", "0", "0", "1"], "{out}");
    assert_eq!(row.len(), 6, "a date and a time: {out}");

    let out = ok(ns, &["topicList"]);
    assert!(out.lines().any(|l| l == "AdminT"), "{out}");
    let out = ok(ns, &["topicList", "-c"]);
    assert!(out.starts_with("#Cluster Name         #Topic"), "{out}");
    assert!(
        out.lines()
            .any(|l| cols(l) == ["DefaultCluster", "AdminT", "ag"]),
        "{out}"
    );

    let out = ok(ns, &["topicRoute", "-t", "AdminT"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["queueDatas"][0]["writeQueueNums"], 4);
    let out = ok(ns, &["topicRoute", "-t", "AdminT", "-l"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        cols(lines[0]),
        [
            "#ClusterName",
            "#BrokerName",
            "#BrokerAddrs",
            "#ReadQueue",
            "#WriteQueue",
            "#Perm"
        ],
        "{out}"
    );
    assert_eq!(cols(lines[1])[..2], ["DefaultCluster", "broker-a"], "{out}");
    assert!(out.contains("Total:"), "{out}");
    let out = ok(ns, &["clusterList", "-m"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        cols(lines[0]),
        [
            "#Cluster",
            "Name",
            "#Broker",
            "Name",
            "#InTotalYest",
            "#OutTotalYest",
            "#InTotalToday",
            "#OutTotalToday"
        ],
        "{out}"
    );
    assert_eq!(cols(lines[1])[..2], ["DefaultCluster", "broker-a"], "{out}");

    let out = ok(ns, &["brokerConsumeStats", "-b", &s.broker]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("#Topic") && lines[0].contains("#Diff"),
        "{out}"
    );
    let want = ["AdminT", "ag", "broker-a", "0", "1", "1", "0"];
    assert!(
        lines.iter().any(|l| cols(l).get(..7) == Some(&want[..])),
        "{out}"
    );
    assert!(out.trim_end().ends_with("Diff Total: 3"), "{out}");

    let out = ok(ns, &["consumerProgress", "-g", "ag"]);
    assert!(
        out.starts_with("#Topic") && out.contains("Consume TPS: 0.00"),
        "{out}"
    );
    let want = ["AdminT", "broker-a", "1", "1", "0", "1"];
    assert!(
        out.lines().any(|l| cols(l).get(..6) == Some(&want[..])),
        "{out}"
    );
    let json = ok(ns, &["consumerProgress", "-g", "ag", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Diff Total"], "3");
    assert_eq!(v["rows"].as_array().unwrap().len(), 4);

    let out = ok(ns, &["consumerConnection", "-g", "ag"]);
    assert!(
        out.contains("cid-admin") && out.contains("ConsumeType: CONSUME_PASSIVELY"),
        "{out}"
    );

    let out = ok(ns, &["brokerStatus", "-b", &s.broker]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("putTps") && l.contains(": ")),
        "{out}"
    );
    let out = ok(ns, &["getBrokerConfig", "-b", "broker-a"]);
    assert!(
        out.contains("brokerName") && out.contains("broker-a"),
        "{out}"
    );
    let out = ok(ns, &["clusterList", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rows"][0]["Broker Name"], "broker-a");

    let out = ok(ns, &["deleteTopic", "-t", "AdminT", "-c", "DefaultCluster"]);
    assert!(out.contains("delete topic [AdminT] from cluster [DefaultCluster] success."));
    assert!(!ok(ns, &["topicList"]).lines().any(|l| l == "AdminT"));

    // Failures: one line, exit 1.
    let (code, _, err) = admin(ns, &["topicStatus", "-t", "NoSuchTopic"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("coremq: topicStatus: No topic route info"),
        "{err}"
    );
    let (code, _, err) = admin("127.0.0.1:1", &["clusterList"]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("clusterList") && err.contains("127.0.0.1:1"),
        "{err}"
    );
    let (code, _, err) = admin(ns, &["updateTopic", "--bogus"]);
    assert_eq!(code, 2);
    assert!(err.contains("Usage"), "{err}");
}

#[test]
fn produce_prints_one_send_result_per_message() {
    let s = standalone();
    let out = Command::new(coremq_bin())
        .args([
            "produce", "-n", &s.ns, "-t", "QuickT", "--count", "20", "--keys", "order",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 20);
    for l in &lines {
        assert!(
            l.starts_with("SendResult [sendStatus=SEND_OK, msgId="),
            "{l}"
        );
        assert!(
            l.contains("messageQueue=MessageQueue [topic=QuickT, brokerName=broker-a, queueId="),
            "{l}"
        );
    }
    // Round-robin over the 4 auto-created queues: 5 messages each.
    let status = ok(&s.ns, &["topicStatus", "-t", "QuickT"]);
    let maxes: Vec<&str> = status.lines().skip(1).map(|l| cols(l)[3]).collect();
    assert_eq!(maxes, ["5", "5", "5", "5"], "{status}");
    // Large bodies go compressed and still count as one message each.
    let out = Command::new(coremq_bin())
        .args([
            "produce", "-n", &s.ns, "-t", "QuickT", "--count", "2", "--size", "100000",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = Command::new(coremq_bin())
        .args(["produce", "-n", "127.0.0.1:1", "--count", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:1"));
}

#[test]
fn consume_prints_messages_and_resumes_from_its_commit() {
    let s = standalone();
    let produce = |n: &str| {
        let out = Command::new(coremq_bin())
            .args(["produce", "-n", &s.ns, "-t", "ConsT", "--count", n])
            .output()
            .unwrap();
        assert!(out.status.success());
    };
    let consume = |n: &str| {
        let out = Command::new(coremq_bin())
            .args([
                "consume",
                "-n",
                &s.ns,
                "-t",
                "ConsT",
                "-g",
                "cg",
                "--count",
                n,
                "--timeout",
                "60",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.starts_with("Consumer Started.\n"), "{text}");
        // (queue offset, body) of every line.
        text.lines()
            .filter_map(|l| {
                let off = l
                    .split("queueOffset=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<i64>()
                    .ok()?;
                let body = l.split("body=").nth(1)?.trim_end_matches(']').to_owned();
                Some((off, body))
            })
            .collect::<Vec<_>>()
    };
    produce("20");
    let first = consume("20");
    assert_eq!(first.len(), 20);
    assert!((0..20).all(|i| first
        .iter()
        .any(|(_, b)| *b == format!("Hello RocketMQ {i}"))));
    produce("5");
    let second = consume("5");
    assert_eq!(second.len(), 5);
    // Each of the 4 queues held 5 messages of the first batch: a resumed group starts past them.
    assert!(second.iter().all(|(o, _)| *o >= 5), "{second:?}");
}

#[test]
fn group_config_and_message_commands() {
    let s = standalone();
    let ns = s.ns.as_str();
    let mut raw = RawClient::connect(s.broker.parse().unwrap());
    let groups = |raw: &mut RawClient| {
        let r = raw.call_with(201, &[], Vec::new());
        assert_eq!(r.code, 0);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["subscriptionGroupTable"].clone()
    };

    // updateSubGroup / deleteSubGroup.
    let out = ok(
        ns,
        &["updateSubGroup", "-b", &s.broker, "-g", "sg1", "-r", "3"],
    );
    assert!(
        out.starts_with(&format!(
            "create subscription group to {} success.\n",
            s.broker
        )),
        "{out}"
    );
    assert!(
        out.contains("SubscriptionGroupConfig [groupName=sg1, consumeEnable=true, consumeFromMinEnable=false, consumeBroadcastEnable=false, retryQueueNums=1, retryMaxTimes=3, brokerId=0, whichBrokerWhenConsumeSlowly=1, notifyConsumerIdsChangedEnable=true]"),
        "{out}"
    );
    assert_eq!(groups(&mut raw)["sg1"]["retryMaxTimes"], 3);
    let out = ok(ns, &["deleteSubGroup", "-b", "broker-a", "-g", "sg1"]);
    assert_eq!(
        out,
        format!(
            "delete subscription group [sg1] from broker [{}] success.\n",
            s.broker
        )
    );
    assert!(groups(&mut raw).get("sg1").is_none());

    // updateBrokerConfig: live, persisted, and bad keys or values named.
    let out = ok(
        ns,
        &[
            "updateBrokerConfig",
            "-b",
            &s.broker,
            "-k",
            "maxMessageSize",
            "-v",
            "1024",
        ],
    );
    assert_eq!(out, format!("update broker config success, {}\n", s.broker));
    let out = ok(ns, &["getBrokerConfig", "-b", &s.broker]);
    assert!(
        out.lines()
            .any(|l| cols(l) == ["maxMessageSize", "=", "1024"]),
        "{out}"
    );
    // Written into the -c file, so a restart keeps it.
    let persisted = std::fs::read_to_string(s.dir.path().join("broker.properties")).unwrap();
    assert!(persisted.contains("maxMessageSize=1024\n"), "{persisted}");
    assert!(persisted.contains("brokerName=broker-a\n"), "{persisted}");
    let (code, _, err) = admin(
        ns,
        &[
            "updateBrokerConfig",
            "-b",
            &s.broker,
            "-k",
            "brokerName",
            "-v",
            "other",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("brokerName cannot change while the broker runs"),
        "{err}"
    );
    let big = Command::new(coremq_bin())
        .args([
            "produce", "-n", ns, "-t", "MsgT", "--count", "1", "--size", "2000",
        ])
        .output()
        .unwrap();
    assert_eq!(
        big.status.code(),
        Some(1),
        "a 2000-byte body is now too large"
    );
    let (code, _, err) = admin(
        ns,
        &[
            "updateBrokerConfig",
            "-b",
            &s.broker,
            "-k",
            "noSuchKey",
            "-v",
            "1",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("unknown broker config key noSuchKey"), "{err}");
    let (code, _, err) = admin(
        ns,
        &[
            "updateBrokerConfig",
            "-b",
            &s.broker,
            "-k",
            "maxMessageSize",
            "-v",
            "lots",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("maxMessageSize"), "{err}");

    // queryMsgById / queryMsgByOffset on a message the quickstart sent.
    let sent = Command::new(coremq_bin())
        .args([
            "produce", "-n", ns, "-t", "MsgT", "--count", "1", "--keys", "k1",
        ])
        .output()
        .unwrap();
    assert!(sent.status.success());
    let line = String::from_utf8_lossy(&sent.stdout).into_owned();
    let field = |name: &str| {
        line.split(&format!("{name}="))
            .nth(1)
            .and_then(|r| r.split([',', ']']).next())
            .unwrap()
            .to_owned()
    };
    let (offset_id, queue, offset) = (field("offsetMsgId"), field("queueId"), field("queueOffset"));
    let out = ok(ns, &["queryMsgById", "-i", &offset_id]);
    let value = |out: &str, label: &str| {
        out.lines()
            .find(|l| l.starts_with(label))
            .map(|l| l[21..].to_owned())
            .unwrap_or_else(|| panic!("no {label} in {out}"))
    };
    assert_eq!(value(&out, "OffsetID:"), offset_id);
    assert_eq!(value(&out, "Topic:"), "MsgT");
    assert_eq!(value(&out, "Tags:"), "[TagA]");
    assert_eq!(value(&out, "Keys:"), "[k1-0]");
    assert_eq!(value(&out, "Queue ID:"), queue);
    assert_eq!(value(&out, "Queue Offset:"), offset);
    let body = std::fs::read_to_string(value(&out, "Message Body Path:")).unwrap();
    assert_eq!(body, "Hello RocketMQ 0");
    assert!(out.contains("WARN: No Consumer"), "{out}");
    let by_offset = ok(
        ns,
        &[
            "queryMsgByOffset",
            "-t",
            "MsgT",
            "-b",
            "broker-a",
            "-i",
            &queue,
            "-o",
            &offset,
        ],
    );
    assert_eq!(value(&by_offset, "OffsetID:"), offset_id);
    let (code, _, err) = admin(ns, &["queryMsgById", "-i", "nothex"]);
    assert_eq!(code, 1);
    assert!(err.contains("nothex"), "{err}");

    // consumerProgress without -g: a row per group, offline once its consumer left.
    let consumed = Command::new(coremq_bin())
        .args([
            "consume", "-n", ns, "-t", "MsgT", "-g", "cg_all", "--count", "1",
        ])
        .args(["--timeout", "60"])
        .output()
        .unwrap();
    assert!(consumed.status.success());
    let out = ok(ns, &["consumerProgress"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        cols(lines[0]),
        ["#Group", "#Count", "#Version", "#Type", "#Model", "#TPS", "#Diff", "Total"]
    );
    assert!(
        lines
            .iter()
            .any(|l| cols(l) == ["cg_all", "0", "OFFLINE", "0", "0"]),
        "{out}"
    );
}

#[test]
fn consumer_progress_shows_the_client_holding_each_queue() {
    let s = standalone();
    let ns = s.ns.as_str();
    ok(
        ns,
        &[
            "updateTopic",
            "-c",
            "DefaultCluster",
            "-t",
            "IpT",
            "-r",
            "4",
            "-w",
            "4",
        ],
    );
    let consumer = Command::new(coremq_bin())
        .args(["consume", "-n", ns, "-t", "IpT", "-g", "ip_cg"])
        .args(["--count", "1000000", "--timeout", "120"])
        .env("HOME", s.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed when the test ends, whatever happens.
    let mut consumer = ChildGuard {
        child: consumer,
        first_line: String::new(),
    };
    let client_ip = |out: &str| -> Option<String> {
        let row = out.lines().nth(1)?;
        Some(cols(row).first()?.split('@').next()?.to_owned())
    };
    let mut ip = None;
    wait_until(
        std::time::Duration::from_secs(30),
        "the consumer online",
        || {
            let (code, out, _) = admin(ns, &["consumerConnection", "-g", "ip_cg"]);
            ip = (code == 0).then(|| client_ip(&out)).flatten();
            ip.is_some()
        },
    );
    let ip = ip.unwrap();
    // It owns every queue (it is alone) once it has rebalanced and committed an offset.
    let mut out = String::new();
    wait_until(
        std::time::Duration::from_secs(30),
        "every queue held by the consumer",
        || {
            out = ok(ns, &["consumerProgress", "-g", "ip_cg", "-s", "true"]);
            let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("IpT ")).collect();
            rows.len() == 4 && rows.iter().all(|l| cols(l)[5] == ip)
        },
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20}  #LastTime",
            "#Topic",
            "#Broker Name",
            "#QID",
            "#Broker Offset",
            "#Consumer Offset",
            "#Client IP",
            "#Diff"
        )
    );
    let json = ok(
        ns,
        &["consumerProgress", "-g", "ip_cg", "-s", "true", "--json"],
    );
    assert!(json.contains(&format!("\"Client IP\": \"{ip}\"")), "{json}");
    // Without -s true the column is absent.
    let plain = ok(ns, &["consumerProgress", "-g", "ip_cg", "-s", "false"]);
    assert!(!plain.contains("#Client IP"), "{plain}");

    // Gone: nobody holds the queues.
    let _ = consumer.child.kill();
    let _ = consumer.child.wait();
    wait_until(
        std::time::Duration::from_secs(30),
        "queues released",
        || {
            let out = ok(ns, &["consumerProgress", "-g", "ip_cg", "-s", "true"]);
            let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("IpT ")).collect();
            rows.len() == 4 && rows.iter().all(|l| cols(l)[5] == "N/A")
        },
    );
}

/// queryMsgById -g -d: a live client consumes one stored message through the broker;
/// -s true: the message is stored again, as it was, with its unique id.
#[test]
fn query_msg_by_id_consumes_directly_and_resends() {
    use std::time::Duration;

    let s = standalone();
    let ns = s.ns.as_str();
    let sent = Command::new(coremq_bin())
        .args(["produce", "-n", ns, "-t", "DirT", "--count", "1"])
        .env("HOME", s.dir.path())
        .output()
        .unwrap();
    let sent = String::from_utf8_lossy(&sent.stdout).into_owned();
    let field = |text: &str, key: &str| -> String {
        let at = text.find(key).unwrap_or_else(|| panic!("{key} in {text}")) + key.len();
        text[at..]
            .split([',', ']'])
            .next()
            .unwrap()
            .trim()
            .to_owned()
    };
    let (uniq, offset_id) = (field(&sent, "msgId="), field(&sent, "offsetMsgId="));

    let (_consumer, lines) = background_consumer(&s, "DirT", "dir_cg");
    let received = |offset: &str| {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(&format!("queueOffset={offset},")) && l.contains(&uniq))
            .count()
    };
    let mut client = String::new();
    wait_until(Duration::from_secs(30), "the consumer online", || {
        let (code, out, _) = admin(ns, &["consumerConnection", "-g", "dir_cg"]);
        client = out
            .lines()
            .nth(1)
            .and_then(|l| cols(l).first().map(|c| c.to_string()))
            .unwrap_or_default();
        code == 0 && client.contains('@')
    });
    // From the first offset: the queue's own delivery of the message comes first.
    wait_until(Duration::from_secs(30), "the message consumed", || {
        received("0") == 1
    });
    let out = ok(
        ns,
        &[
            "queryMsgById",
            "-i",
            &offset_id,
            "-g",
            "dir_cg",
            "-d",
            &client,
        ],
    );
    assert!(
        out.starts_with("ConsumeMessageDirectlyResult [order=false, autoCommit=true, consumeResult=CR_SUCCESS, remark=null, spentTimeMills="),
        "{out}"
    );
    // The listener ran once more on that message.
    wait_until(
        Duration::from_secs(10),
        "the message consumed again",
        || received("0") == 2,
    );

    let (code, _, err) = admin(
        ns,
        &[
            "queryMsgById",
            "-i",
            &offset_id,
            "-g",
            "dir_cg",
            "-d",
            "nobody@1",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("nobody@1") && err.contains("not online"),
        "{err}"
    );

    let out = ok(ns, &["queryMsgById", "-i", &offset_id, "-s", "true"]);
    assert!(
        out.starts_with(&format!("prepare resend msg. originalMsgId={offset_id}\n")),
        "{out}"
    );
    assert_eq!(field(&out, "sendStatus="), "SEND_OK", "{out}");
    assert_eq!(
        field(&out, "msgId="),
        uniq,
        "the resent copy keeps its id: {out}"
    );
    assert_eq!(field(&out, "queueOffset="), "1", "{out}");
    wait_until(Duration::from_secs(30), "the resent copy consumed", || {
        received("1") == 1
    });
}

/// producerConnection lists a live producer (producers heartbeat the brokers they send
/// to); topicClusterList names the topic's cluster; wipeWritePerm / addWritePerm flip the
/// route's permission on every nameserver, reporting each one.
#[test]
fn producer_connection_topic_cluster_and_write_perm() {
    use std::time::Duration;

    let s = standalone();
    let ns = s.ns.as_str();
    let producer = Command::new(coremq_bin())
        .args([
            "bench", "producer", "-n", ns, "-t", "PcT", "-s", "64", "-w", "1",
        ])
        .args(["--duration", "60"])
        .env("HOME", s.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _producer = ChildGuard {
        child: producer,
        first_line: String::new(),
    };
    let mut out = String::new();
    wait_until(Duration::from_secs(30), "the producer online", || {
        let (code, o, _) = admin(
            ns,
            &[
                "producerConnection",
                "-g",
                "benchmark_producer",
                "-t",
                "PcT",
            ],
        );
        out = o;
        code == 0
    });
    let row = cols(out.lines().next().unwrap());
    assert_eq!(row[0], "0001", "{out}");
    assert!(
        row[1].contains('@') && row[2].starts_with("127.0.0.1:"),
        "{out}"
    );
    assert_eq!(row[4], "V4_9_8", "{out}");
    let (code, _, err) = admin(ns, &["producerConnection", "-g", "nobody", "-t", "PcT"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Not found the producer group connection"),
        "{err}"
    );

    assert_eq!(
        ok(ns, &["topicClusterList", "-t", "PcT"]),
        "DefaultCluster\n"
    );

    let perm = || {
        let route = ok(ns, &["topicRoute", "-t", "PcT"]);
        let v: serde_json::Value = serde_json::from_str(&route).unwrap();
        v["queueDatas"][0]["perm"].as_i64().unwrap()
    };
    assert_eq!(perm(), 6);
    let out = ok(ns, &["wipeWritePerm", "-b", "broker-a"]);
    assert!(
        out.starts_with(&format!(
            "wipe write perm of broker[broker-a] in name server[{ns}] OK, "
        )),
        "{out}"
    );
    assert_eq!(perm(), 4, "read only");
    let out = ok(ns, &["addWritePerm", "-b", "broker-a"]);
    assert!(out.contains("OK, "), "{out}");
    assert_eq!(perm(), 6);
    // One nameserver down: its line says Failed, the others still change; all down: exit 1.
    let dead = format!("127.0.0.1:{}", free_port());
    let both = format!("{ns};{dead}");
    let (code, out, _) = admin(&both, &["wipeWritePerm", "-b", "broker-a"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("in name server[{dead}] Failed")),
        "{out}"
    );
    assert_eq!(perm(), 4);
    let (code, _, err) = admin(&dead, &["addWritePerm", "-b", "broker-a"]);
    assert_eq!(code, 1);
    assert!(err.contains(&dead), "{err}");
}

/// resetOffsetByTime: with the consumer online, the broker tells it and it consumes again
/// from the time given; with it gone, the offsets are written directly ("old" method).
#[test]
fn reset_offset_by_time_rewinds_live_and_offline_groups() {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    let s = standalone();
    let ns = s.ns.as_str();
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    std::thread::sleep(Duration::from_millis(20));
    let sent = Command::new(coremq_bin())
        .args(["produce", "-n", ns, "-t", "RsT", "--count", "20"])
        .env("HOME", s.dir.path())
        .output()
        .unwrap();
    assert!(sent.status.success());

    let (mut consumer, lines) = background_consumer(&s, "RsT", "rs_cg");
    let reset_to = |at: &str| {
        ok(
            ns,
            &["resetOffsetByTime", "-g", "rs_cg", "-t", "RsT", "-s", at],
        )
    };
    let count = || {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("Receive New Messages:"))
            .count()
    };
    // Every queue consumed and its offset committed (the consumer commits every 5 s).
    wait_until(Duration::from_secs(30), "20 consumed and committed", || {
        let (code, out, _) = admin(ns, &["consumerProgress", "-g", "rs_cg"]);
        code == 0
            && count() == 20
            && out.lines().filter(|l| l.starts_with("RsT ")).count() == 4
            && out.contains("Diff Total: 0")
    });

    let out = reset_to(&before);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("rollback consumer offset by specified group[rs_cg], topic[RsT], force[true], timestamp(string)[{before}], timestamp(long)[{before}]")
    );
    assert_eq!(cols(lines[1]), ["#brokerName", "#queueId", "#offset"]);
    assert_eq!(lines.len(), 6, "{out}");
    for row in &lines[2..] {
        assert_eq!(cols(row)[2], "0", "{out}");
    }
    wait_until(Duration::from_secs(30), "the 20 consumed again", || {
        count() == 40
    });

    // Offline: the offsets are written directly.
    let _ = consumer.child.kill();
    let _ = consumer.child.wait();
    wait_until(Duration::from_secs(10), "the consumer gone", || {
        admin(ns, &["consumerConnection", "-g", "rs_cg"]).0 == 1
    });
    let out = reset_to(&before);
    assert!(
        out.starts_with("rollback consumer offset by specified consumerGroup[rs_cg]"),
        "{out}"
    );
    assert_eq!(
        cols(out.lines().nth(1).unwrap()),
        [
            "#brokerName",
            "#queueId",
            "#brokerOffset",
            "#consumerOffset",
            "#timestampOffset",
            "#rollbackOffset"
        ]
    );
    assert!(ok(ns, &["consumerProgress", "-g", "rs_cg"]).contains("Diff Total: 20"));
    // Never forward without force; to the end with it.
    ok(
        ns,
        &[
            "resetOffsetByTime",
            "-g",
            "rs_cg",
            "-t",
            "RsT",
            "-s",
            "now",
            "-f",
            "false",
        ],
    );
    assert!(ok(ns, &["consumerProgress", "-g", "rs_cg"]).contains("Diff Total: 20"));
    ok(
        ns,
        &["resetOffsetByTime", "-g", "rs_cg", "-t", "RsT", "-s", "now"],
    );
    assert!(ok(ns, &["consumerProgress", "-g", "rs_cg"]).contains("Diff Total: 0"));
    let (code, _, err) = admin(
        ns,
        &[
            "resetOffsetByTime",
            "-g",
            "rs_cg",
            "-t",
            "RsT",
            "-s",
            "yesterday",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("yesterday"), "{err}");
}
