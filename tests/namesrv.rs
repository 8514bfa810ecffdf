//! The real `coremq namesrv` binary over loopback TCP: registration of two broker groups in
//! two clusters, routes, cluster info, topic lists, KV config, expiry after a shortened
//! timeout, removal on disconnect, malformed input, start-up errors, and run-time config
//! changes (updateNamesrvConfig / getNamesrvConfig).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use coremq::protocol::body::{
    ClusterInfo, DataVersion, KvTable, RegisterBrokerBody, TopicConfig, TopicList, TopicRouteData,
};
use coremq::protocol::{RemotingCommand, RequestCode as C, ResponseCode as R, SerializeType};

fn register_body(topics: &[(&str, i32)], counter: i64) -> Vec<u8> {
    let version = DataVersion {
        counter,
        timestamp: 1_700_000_000_000,
        ..DataVersion::default()
    };
    let topics = topics.iter().map(|(t, q)| TopicConfig::new(t, *q));
    serde_json::to_vec(&RegisterBrokerBody::new(topics, version)).unwrap()
}

/// A broker identity used by these tests.
struct Broker {
    cluster: &'static str,
    name: &'static str,
    addr: &'static str,
    id: i64,
}

const A_MASTER: Broker = Broker {
    cluster: "c1",
    name: "broker-a",
    addr: "127.0.0.1:10911",
    id: 0,
};
const A_SLAVE: Broker = Broker {
    cluster: "c1",
    name: "broker-a",
    addr: "127.0.0.1:10921",
    id: 1,
};
const B_MASTER: Broker = Broker {
    cluster: "c2",
    name: "broker-b",
    addr: "127.0.0.1:10931",
    id: 0,
};

fn register(c: &mut RawClient, b: &Broker, topics: &[(&str, i32)]) -> RemotingCommand {
    let id = b.id.to_string();
    let ha = format!("{}-ha", b.addr);
    let body = register_body(topics, 1);
    let crc = ((crc32fast::hash(&body) & 0x7FFF_FFFF) as i32).to_string();
    c.call_with(
        C::REGISTER_BROKER.code(),
        &[
            ("brokerName", b.name),
            ("brokerAddr", b.addr),
            ("clusterName", b.cluster),
            ("haServerAddr", &ha),
            ("brokerId", &id),
            ("compressed", "false"),
            ("bodyCrc32", &crc),
        ],
        body,
    )
}

fn route(c: &mut RawClient, topic: &str) -> Option<TopicRouteData> {
    let r = c.call_with(
        C::GET_ROUTEINFO_BY_TOPIC.code(),
        &[("topic", topic)],
        vec![],
    );
    if r.code == R::TOPIC_NOT_EXIST.code() {
        assert!(r.remark.unwrap().contains(topic));
        return None;
    }
    assert_eq!(r.code, 0);
    Some(serde_json::from_slice(&r.body).unwrap())
}

#[test]
fn two_clusters_register_and_serve_routes_lists_and_kv() {
    let ns = start_namesrv("");
    let mut a = RawClient::connect(ns.addr);
    let mut a_slave = RawClient::connect(ns.addr);
    let mut b = RawClient::connect(ns.addr);

    let r = register(&mut a, &A_MASTER, &[("TopicTest", 4), ("OnlyA", 2)]);
    assert_eq!(r.code, 0);
    let r = register(&mut a_slave, &A_SLAVE, &[]);
    assert_eq!(r.ext.get("masterAddr"), Some("127.0.0.1:10911"));
    assert_eq!(r.ext.get("haServerAddr"), Some("127.0.0.1:10911-ha"));
    assert_eq!(register(&mut b, &B_MASTER, &[("TopicTest", 8)]).code, 0);

    // Route: both groups, queue data per group, strict 5.x shape on the wire.
    let raw = a.call_with(
        C::GET_ROUTEINFO_BY_TOPIC.code(),
        &[("topic", "TopicTest")],
        vec![],
    );
    let json: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
    assert_eq!(
        json["brokerDatas"][0]["brokerAddrs"]["0"],
        "127.0.0.1:10911"
    );
    assert_eq!(json["brokerDatas"][0]["enableActingMaster"], false);
    assert!(json["filterServerTable"].is_object());
    assert_eq!(json["queueDatas"][0]["topicSysFlag"], 0);
    let t = route(&mut a, "TopicTest").unwrap();
    assert_eq!(t.broker_datas.len(), 2);
    let qa = t
        .queue_datas
        .iter()
        .find(|q| q.broker_name == "broker-a")
        .unwrap();
    let qb = t
        .queue_datas
        .iter()
        .find(|q| q.broker_name == "broker-b")
        .unwrap();
    assert_eq!((qa.write_queue_nums, qb.write_queue_nums), (4, 8));
    assert_eq!(
        t.broker_datas[0].broker_addrs.len(),
        2,
        "master and slave of broker-a"
    );
    assert!(route(&mut a, "NoSuchTopic").is_none());

    // Cluster info.
    let r = a.call_with(C::GET_BROKER_CLUSTER_INFO.code(), &[], vec![]);
    let ci: ClusterInfo = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        ci.cluster_addr_table["c1"].iter().collect::<Vec<_>>(),
        ["broker-a"]
    );
    assert_eq!(
        ci.cluster_addr_table["c2"].iter().collect::<Vec<_>>(),
        ["broker-b"]
    );
    assert_eq!(ci.broker_addr_table["broker-b"].cluster, "c2");

    // Topic lists: all, and by cluster.
    let list = |c: &mut RawClient, code: i32, ext: &[(&str, &str)]| -> Vec<String> {
        let r = c.call_with(code, ext, vec![]);
        assert_eq!(r.code, 0);
        serde_json::from_slice::<TopicList>(&r.body)
            .unwrap()
            .topic_list
    };
    assert_eq!(list(&mut a, 206, &[]), ["OnlyA", "TopicTest"]);
    assert_eq!(list(&mut a, 224, &[("cluster", "c2")]), ["TopicTest"]);
    assert_eq!(
        list(&mut a, 224, &[("cluster", "c1")]),
        ["OnlyA", "TopicTest"]
    );

    // A missing required field names it.
    let r = a.call_with(C::GET_TOPICS_BY_CLUSTER.code(), &[], vec![]);
    assert_eq!(r.code, R::SYSTEM_ERROR.code());
    assert!(r.remark.unwrap().contains("cluster"));

    // Write permission off and on for one group.
    let r = a.call_with(
        C::WIPE_WRITE_PERM_OF_BROKER.code(),
        &[("brokerName", "broker-a")],
        vec![],
    );
    assert_eq!(r.ext.get("wipeTopicCount"), Some("2"));
    let t = route(&mut a, "OnlyA").unwrap();
    assert_eq!(t.queue_datas[0].perm, 4);
    a.call_with(
        C::ADD_WRITE_PERM_OF_BROKER.code(),
        &[("brokerName", "broker-a")],
        vec![],
    );
    assert_eq!(route(&mut a, "OnlyA").unwrap().queue_datas[0].perm, 6);

    // Delete a topic on one cluster only, then everywhere.
    let r = a.call_with(
        C::DELETE_TOPIC_IN_NAMESRV.code(),
        &[("topic", "TopicTest"), ("clusterName", "c1")],
        vec![],
    );
    assert_eq!(r.code, 0);
    let t = route(&mut a, "TopicTest").unwrap();
    assert_eq!(t.queue_datas.len(), 1);
    assert_eq!(t.queue_datas[0].broker_name, "broker-b");
    a.call_with(
        C::DELETE_TOPIC_IN_NAMESRV.code(),
        &[("topic", "TopicTest")],
        vec![],
    );
    assert!(route(&mut a, "TopicTest").is_none());

    // KV config: put, get, list, delete; 22 when absent; persisted to kvConfigPath.
    let r = a.call_with(
        C::PUT_KV_CONFIG.code(),
        &[
            ("namespace", "ORDER_TOPIC_CONFIG"),
            ("key", "OnlyA"),
            ("value", "broker-a:2"),
        ],
        vec![],
    );
    assert_eq!(r.code, 0);
    let r = a.call_with(
        C::GET_KV_CONFIG.code(),
        &[("namespace", "ORDER_TOPIC_CONFIG"), ("key", "OnlyA")],
        vec![],
    );
    assert_eq!(r.ext.get("value"), Some("broker-a:2"));
    let r = a.call_with(
        C::GET_KVLIST_BY_NAMESPACE.code(),
        &[("namespace", "ORDER_TOPIC_CONFIG")],
        vec![],
    );
    let t: KvTable = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(t.table["OnlyA"], "broker-a:2");
    let kv_file = std::fs::read_to_string(ns.dir.path().join("kv/kvConfig.json")).unwrap();
    assert!(kv_file.contains("broker-a:2"));
    a.call_with(
        C::DELETE_KV_CONFIG.code(),
        &[("namespace", "ORDER_TOPIC_CONFIG"), ("key", "OnlyA")],
        vec![],
    );
    let r = a.call_with(
        C::GET_KV_CONFIG.code(),
        &[("namespace", "ORDER_TOPIC_CONFIG"), ("key", "OnlyA")],
        vec![],
    );
    assert_eq!(r.code, R::QUERY_NOT_FOUND.code());

    // Unknown codes get REQUEST_CODE_NOT_SUPPORTED.
    let r = a.call_with(12345, &[], vec![]);
    assert_eq!(r.code, R::REQUEST_CODE_NOT_SUPPORTED.code());

    // A binary-header request is answered in binary.
    let mut req = RemotingCommand::request(
        C::GET_ALL_TOPIC_LIST_FROM_NAMESERVER.code(),
        Default::default(),
    );
    req.serialize_type = SerializeType::RocketMq;
    let r = a.call(req);
    assert_eq!(r.serialize_type, SerializeType::RocketMq);
    assert_eq!(r.code, 0);

    // Unregistering the last address of broker-b removes its group and cluster.
    let r = b.call_with(
        C::UNREGISTER_BROKER.code(),
        &[
            ("brokerName", "broker-b"),
            ("brokerAddr", "127.0.0.1:10931"),
            ("clusterName", "c2"),
            ("brokerId", "0"),
        ],
        vec![],
    );
    assert_eq!(r.code, 0);
    let r = a.call_with(C::GET_BROKER_CLUSTER_INFO.code(), &[], vec![]);
    let ci: ClusterInfo = serde_json::from_slice(&r.body).unwrap();
    assert!(!ci.cluster_addr_table.contains_key("c2"));

    // The log file is where the config says.
    assert!(ns.dir.path().join("logs/namesrv.log").exists());
}

#[test]
fn closed_connection_removes_its_broker_at_once() {
    // Default 120 s expiry: only the disconnect can explain the removal.
    let ns = start_namesrv("");
    let mut watcher = RawClient::connect(ns.addr);
    let mut b = RawClient::connect(ns.addr);
    register(&mut b, &B_MASTER, &[("CloseMe", 4)]);
    assert!(route(&mut watcher, "CloseMe").is_some());
    drop(b);
    wait_until(
        Duration::from_secs(10),
        "CloseMe to disappear on disconnect",
        || route(&mut watcher, "CloseMe").is_none(),
    );
    let r = watcher.call_with(C::GET_BROKER_CLUSTER_INFO.code(), &[], vec![]);
    let ci: ClusterInfo = serde_json::from_slice(&r.body).unwrap();
    assert!(ci.broker_addr_table.is_empty());
}

#[test]
fn silent_broker_expires_after_the_shortened_timeout() {
    let ns = start_namesrv("brokerChannelExpiredMillis=1500\nscanNotActiveBrokerInterval=100");
    let mut watcher = RawClient::connect(ns.addr);
    // Registers once and stays connected but silent.
    let mut a = RawClient::connect(ns.addr);
    register(&mut a, &A_MASTER, &[("ExpireMe", 4)]);
    // Registers with its own, longer heartbeatTimeoutMillis (5.x header).
    let mut c = RawClient::connect(ns.addr);
    let r = c.call_with(
        C::REGISTER_BROKER.code(),
        &[
            ("brokerName", "broker-c"),
            ("brokerAddr", "127.0.0.1:10941"),
            ("clusterName", "c3"),
            ("haServerAddr", "x"),
            ("brokerId", "0"),
            ("heartbeatTimeoutMillis", "600000"),
        ],
        register_body(&[("LongLived", 1)], 1),
    );
    assert_eq!(r.code, 0);
    assert!(route(&mut watcher, "ExpireMe").is_some());
    wait_until(Duration::from_secs(20), "ExpireMe to expire", || {
        route(&mut watcher, "ExpireMe").is_none()
    });
    assert!(route(&mut watcher, "LongLived").is_some());
    let log = std::fs::read_to_string(ns.dir.path().join("logs/namesrv.log")).unwrap();
    assert!(log.contains("new broker registered"), "{log}");
    wait_until(Duration::from_secs(5), "the expiry log line", || {
        std::fs::read_to_string(ns.dir.path().join("logs/namesrv.log"))
            .unwrap()
            .contains("broker removed")
    });
}

#[test]
fn malformed_frame_closes_only_that_connection() {
    let ns = start_namesrv("");
    let mut good = RawClient::connect(ns.addr);
    let mut broker = RawClient::connect(ns.addr);
    register(&mut broker, &A_MASTER, &[("T", 1)]);
    for garbage in [
        vec![0xff, 0xff, 0xff, 0xff],             // negative length
        vec![0x7f, 0, 0, 0],                      // over 16 MiB
        vec![0, 0, 0, 6, 0, 0, 0, 9, b'{', b'}'], // header past frame
        vec![0, 0, 0, 6, 0, 0, 0, 2, b'{', b'x'], // undecodable JSON header
        vec![0, 0, 0, 6, 0, 0, 0, 2, b'{', b'}'], // JSON header without code
        vec![0, 0, 0, 6, 9, 0, 0, 2, b'{', b'}'], // unknown serialize type
    ] {
        let mut bad = RawClient::connect(ns.addr);
        bad.send_raw(&garbage);
        assert!(
            bad.read_frame().is_none(),
            "{garbage:?} must close the connection"
        );
    }
    // Registered state and other connections are untouched.
    assert!(route(&mut good, "T").is_some());
    // A bad register body is an error response, not a closed connection.
    let r = broker.call_with(
        C::REGISTER_BROKER.code(),
        &[
            ("brokerName", "x"),
            ("brokerAddr", "y"),
            ("clusterName", "z"),
            ("haServerAddr", "h"),
            ("brokerId", "0"),
        ],
        b"{broken".to_vec(),
    );
    assert_eq!(r.code, R::SYSTEM_ERROR.code());
    let r = broker.call_with(
        C::REGISTER_BROKER.code(),
        &[
            ("brokerName", "x"),
            ("brokerAddr", "y"),
            ("clusterName", "z"),
            ("haServerAddr", "h"),
            ("brokerId", "0"),
            ("bodyCrc32", "12345"),
        ],
        register_body(&[], 1),
    );
    assert_eq!(r.remark.as_deref(), Some("crc32 not match"));
    assert!(route(&mut good, "T").is_some());
}

fn run_namesrv(args: &[&str], home: &std::path::Path) -> std::process::Output {
    Command::new(coremq_bin())
        .arg("namesrv")
        .args(args)
        .env("HOME", home)
        .output()
        .unwrap()
}

#[test]
fn start_up_errors_are_one_line_naming_the_culprit() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_namesrv(&["-c", "missing.properties"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("missing.properties"), "{err}");

    let bad = dir.path().join("bad.properties");
    std::fs::write(&bad, "listenPort=9876\norderMessageEnable=maybe\n").unwrap();
    let out = run_namesrv(&["-c", bad.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("orderMessageEnable") && err.contains("bad.properties:2"),
        "{err}"
    );

    let out = run_namesrv(&["--no-such-flag"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("Usage"));

    let out = run_namesrv(&["-n", "nonsense", "-p"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("The Name Server Address[nonsense] illegal"));

    // A port already taken is refused, not shared.
    let ns = start_namesrv("");
    let conf = dir.path().join("same-port.properties");
    std::fs::write(
        &conf,
        format!(
            "listenPort={}\nbindAddress=127.0.0.1\nlogDir={}\n",
            ns.addr.port(),
            dir.path().display()
        ),
    )
    .unwrap();
    let out = run_namesrv(&["-c", conf.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("cannot listen"));
}

#[test]
fn print_config_lists_every_key_and_file_values_win() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ns.properties");
    std::fs::write(&conf, "listenPort=19999\nserverWorkerThreads=8\n").unwrap();
    let out = run_namesrv(&["-c", conf.to_str().unwrap(), "-p"], dir.path());
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().any(|l| l == "listenPort=19999"), "{text}");
    assert!(text.lines().any(|l| l == "orderMessageEnable=false"));
    assert!(text
        .lines()
        .any(|l| l.starts_with("kvConfigPath=") && l.ends_with("namesrv/kvConfig.json")));
    assert!(text.lines().all(|l| l.contains('=')));
}

/// PUT_KV_CONFIG (100) of a topic's ORDER_TOPIC_CONFIG entry.
fn put_order_conf(c: &mut RawClient, topic: &str, conf: &str) {
    let r = c.call_with(
        C::PUT_KV_CONFIG.code(),
        &[
            ("namespace", "ORDER_TOPIC_CONFIG"),
            ("key", topic),
            ("value", conf),
        ],
        vec![],
    );
    assert_eq!(r.code, 0);
}

#[test]
fn order_topic_conf_fills_routes_when_enabled() {
    let ns = start_namesrv("orderMessageEnable=true");
    let mut c = RawClient::connect(ns.addr);
    register(&mut c, &A_MASTER, &[("Ordered", 4)]);
    put_order_conf(&mut c, "Ordered", "broker-a:4");
    assert_eq!(
        route(&mut c, "Ordered")
            .unwrap()
            .order_topic_conf
            .as_deref(),
        Some("broker-a:4")
    );
    // The register response carries the ORDER_TOPIC_CONFIG table.
    let r = register(&mut c, &A_MASTER, &[("Ordered", 4)]);
    let t: KvTable = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(t.table["Ordered"], "broker-a:4");
}

#[test]
fn huge_echoed_fields_do_not_crash_the_nameserver() {
    let ns = start_namesrv("");
    let mut c = RawClient::connect(ns.addr);
    // An 8 MiB topic is echoed in the TOPIC_NOT_EXIST remark: the remark is capped.
    let topic = "T".repeat(8 << 20);
    let r = c.call_with(
        C::GET_ROUTEINFO_BY_TOPIC.code(),
        &[("topic", &topic)],
        vec![],
    );
    assert_eq!(r.code, R::TOPIC_NOT_EXIST.code());
    assert!(r.remark.unwrap().len() < 1024);
    // Combining characters expand under {:?}; the bad value is cut before it is echoed.
    let id = "\u{300}".repeat(2 << 20);
    let r = c.call_with(
        C::REGISTER_BROKER.code(),
        &[
            ("brokerName", "b"),
            ("brokerAddr", "a:1"),
            ("clusterName", "c"),
            ("haServerAddr", "h"),
            ("brokerId", &id),
        ],
        vec![],
    );
    assert_eq!(r.code, R::SYSTEM_ERROR.code());
    assert!(r.remark.unwrap().len() < 1024);
    // Still serving.
    let mut d = RawClient::connect(ns.addr);
    assert_eq!(
        d.call_with(C::GET_BROKER_CLUSTER_INFO.code(), &[], vec![])
            .code,
        0
    );
}

#[test]
fn idle_connections_are_closed_and_their_brokers_removed() {
    let ns = start_namesrv("serverChannelMaxIdleTimeSeconds=1");
    let mut b = RawClient::connect(ns.addr);
    register(&mut b, &A_MASTER, &[("IdleTopic", 1)]);
    // The broker connection sends nothing more: the server closes it.
    let started = std::time::Instant::now();
    assert!(
        b.read_frame().is_none(),
        "the idle connection must be closed by the server"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
    // A fresh connection sees the broker's route gone with its connection.
    let mut watcher = RawClient::connect(ns.addr);
    wait_until(
        Duration::from_secs(5),
        "IdleTopic to go with its connection",
        || route(&mut watcher, "IdleTopic").is_none(),
    );
}

#[test]
fn broker_heartbeat_keeps_a_broker_alive_between_registrations() {
    let ns = start_namesrv("brokerChannelExpiredMillis=1200\nscanNotActiveBrokerInterval=100");
    let mut watcher = RawClient::connect(ns.addr);
    let mut b = RawClient::connect(ns.addr);
    register(&mut b, &A_MASTER, &[("Beating", 1)]);
    let heartbeat = [
        ("clusterName", "c1"),
        ("brokerAddr", A_MASTER.addr),
        ("brokerName", "broker-a"),
    ];
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(b.call_with(904, &heartbeat, vec![]).code, 0);
    }
    // 3.2 s after registering, well past the 1.2 s timeout: alive thanks to heartbeats.
    assert!(route(&mut watcher, "Beating").is_some());
    wait_until(
        Duration::from_secs(10),
        "Beating to expire once heartbeats stop",
        || route(&mut watcher, "Beating").is_none(),
    );
}

/// `coremq admin updateNamesrvConfig -k KEY -v VALUE` that must succeed.
fn update_namesrv_config(ns: &str, key: &str, value: &str) {
    let (code, _, err) = admin(ns, &["updateNamesrvConfig", "-k", key, "-v", value]);
    assert_eq!(code, 0, "{key}={value}: {err}");
}

#[test]
fn update_namesrv_config_changes_run_time_keys_and_refuses_the_rest_by_name() {
    let (a, b) = (start_namesrv(""), start_namesrv(""));
    let both = format!("{};{}", a.addr, b.addr);
    let mut c = RawClient::connect(a.addr);
    register(&mut c, &A_MASTER, &[("Ordered", 4)]);
    put_order_conf(&mut c, "Ordered", "broker-a:4");
    assert_eq!(route(&mut c, "Ordered").unwrap().order_topic_conf, None);

    // getNamesrvConfig: mqadmin's table, one block per nameserver of -n.
    let (code, out, err) = admin(&both, &["getNamesrvConfig"]);
    assert_eq!(code, 0, "{err}");
    for ns in [a.addr, b.addr] {
        assert!(
            out.contains(&format!("============{ns}============\n")),
            "{out}"
        );
    }
    let line = format!("{:<50}=  false", "orderMessageEnable");
    assert_eq!(out.matches(&line).count(), 2, "{out}");

    // A run-time key takes effect on every nameserver, at once.
    let (code, out, err) = admin(
        &both,
        &[
            "updateNamesrvConfig",
            "-k",
            "orderMessageEnable",
            "-v",
            "true",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "update name server config success![{}, {}]\norderMessageEnable : true\n",
            a.addr, b.addr
        )
    );
    assert_eq!(
        route(&mut c, "Ordered")
            .unwrap()
            .order_topic_conf
            .as_deref(),
        Some("broker-a:4")
    );
    let (_, out, _) = admin(&b.addr.to_string(), &["getNamesrvConfig", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[b.addr.to_string()]["orderMessageEnable"], "true", "{out}");

    // Refusals name the key, exit 1, and change nothing.
    for (key, value, says) in [
        (
            "rocketmqHome",
            "/tmp",
            "Can not update config in black list. (rocketmqHome)",
        ),
        ("listenPort", "1", "listenPort cannot change at run time"),
        (
            "scanNotActiveBrokerInterval",
            "soon",
            "scanNotActiveBrokerInterval",
        ),
        ("noSuchKey", "1", "unknown nameserver config key noSuchKey"),
    ] {
        let (code, out, err) = admin(&both, &["updateNamesrvConfig", "-k", key, "-v", value]);
        assert_eq!(code, 1, "{key}: {out}");
        assert!(err.contains(says), "{key}: {err}");
    }
    // The black list answers RocketMQ's code.
    let (_, _, err) = admin(
        &both,
        &["updateNamesrvConfig", "-k", "rocketmqHome", "-v", "x"],
    );
    assert!(err.contains("NO_PERMISSION"), "{err}");
    let (_, out, _) = admin(&a.addr.to_string(), &["getNamesrvConfig"]);
    assert!(
        out.contains(&format!("{:<50}=  {}", "listenPort", a.addr.port())),
        "{out}"
    );
    assert!(
        out.contains(&format!("{:<50}=  5000", "scanNotActiveBrokerInterval")),
        "{out}"
    );

    // The expiry settings apply to the next registration and the next scan: a silent
    // broker now goes within seconds instead of the default 120 s.
    update_namesrv_config(&a.addr.to_string(), "brokerChannelExpiredMillis", "1500");
    update_namesrv_config(&a.addr.to_string(), "scanNotActiveBrokerInterval", "100");
    let mut silent = RawClient::connect(a.addr);
    register(&mut silent, &B_MASTER, &[("ExpireMe", 1)]);
    assert!(route(&mut c, "ExpireMe").is_some());
    wait_until(Duration::from_secs(20), "ExpireMe to expire", || {
        route(&mut c, "ExpireMe").is_none()
    });
    let log = std::fs::read_to_string(a.dir.path().join("logs/namesrv.log")).unwrap();
    assert!(log.contains("nameserver config updated"), "{log}");
}
