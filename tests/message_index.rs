//! QUERY_MESSAGE and the per-shard key index against a real broker (two shards) over
//! loopback: 10,000 messages with keys on a topic of 8 queues, each found by its key and
//! by its unique key (admin client and `coremq admin`), the time range honoured, and the
//! same answers after a SIGKILL of the broker, with some entries only in memory at the
//! kill (a small index buffer makes the rest go to run files first).

mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use coremq::client::admin::AdminClient;
use coremq::client::producer::{Message, Producer};

const MESSAGES: usize = 10_000;
const TOPIC: &str = "IndexedTopic";

/// Entries held by the run files of every shard (header field `count`).
fn entries_in_runs(store: &Path) -> u64 {
    let mut total = 0;
    for shard in std::fs::read_dir(store).unwrap().filter_map(Result::ok) {
        let Ok(runs) = std::fs::read_dir(shard.path().join("index")) else {
            continue;
        };
        for r in runs.filter_map(Result::ok) {
            let b = std::fs::read(r.path()).unwrap();
            total += u64::from_be_bytes(b[8..16].try_into().unwrap());
        }
    }
    total
}

/// Sends the messages (key `key-<i>`, tag `T<i % 4>`); returns each one's unique key and
/// the time before the first send.
fn send_all(ns: SocketAddr) -> (Vec<String>, i64) {
    on_executor(move || async move {
        let producer =
            Rc::new(Producer::new("index_pg", vec![ns], Duration::from_secs(5)).unwrap());
        let ids = Rc::new(RefCell::new(vec![String::new(); MESSAGES]));
        let t0 = coremq::clock::now_ms();
        for i in 0..MESSAGES {
            let m = Message {
                topic: TOPIC.into(),
                tags: Some(format!("T{}", i % 4)),
                keys: vec![format!("key-{i}"), "shared".into()],
                body: format!("body-{i}").into_bytes().into(),
                properties: Vec::new(),
                flag: 0,
            };
            if i == 0 {
                // The first send alone: it fetches the route and opens the connection the
                // async sends then share (concurrent first sends would each open their own).
                ids.borrow_mut()[0] = producer.send(&m).await.unwrap().msg_id;
                continue;
            }
            let ids = ids.clone();
            producer
                .send_async(m, move |r| ids.borrow_mut()[i] = r.unwrap().msg_id)
                .await;
        }
        producer.flush_async().await;
        let ids = ids.borrow().clone();
        (ids, t0)
    })
}

/// Every key and unique key answers its one message.
fn all_found(ns: SocketAddr, ids: Vec<String>) {
    on_executor(move || async move {
        let admin = AdminClient::new(vec![ns]).unwrap();
        let started = Instant::now();
        for (i, id) in ids.iter().enumerate() {
            let key = format!("key-{i}");
            let by_key = admin
                .query_message(TOPIC, &key, 64, 0, i64::MAX, false)
                .await
                .unwrap();
            assert_eq!(by_key.len(), 1, "{key}");
            assert_eq!(by_key[0].msg_id, *id, "{key}");
            assert_eq!(by_key[0].body, format!("body-{i}").into_bytes());
            let by_id = admin
                .query_message(TOPIC, id, 32, 0, i64::MAX, true)
                .await
                .unwrap();
            assert_eq!(by_id.len(), 1, "{id}");
            assert_eq!(by_id[0].keys, format!("key-{i} shared"));
        }
        // A key on every message: the newest maxMsgsNumBatch (64) of them.
        let shared = admin
            .query_message(TOPIC, "shared", 1000, 0, i64::MAX, false)
            .await
            .unwrap();
        assert_eq!(shared.len(), 64);
        eprintln!(
            "{} keys and unique keys queried in {:?}",
            ids.len(),
            started.elapsed()
        );
    })
}

/// [`all_found`], printing the broker's warnings and errors when it fails.
fn found_or_show_warnings(ns: SocketAddr, ids: Vec<String>, log: &Path) {
    if let Err(e) = std::panic::catch_unwind(move || all_found(ns, ids)) {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        {
            eprintln!("broker: {line}");
        }
        std::panic::resume_unwind(e);
    }
}

#[test]
fn keys_found_on_every_shard_and_after_sigkill() {
    let ns = start_namesrv("");
    let mut broker = start_broker(Some(ns.addr), "messageIndexBufferEntries=4000");
    let nss = ns.addr.to_string();
    let b = broker.addr.to_string();
    let (code, _, err) = admin(
        &nss,
        &["updateTopic", "-b", &b, "-t", TOPIC, "-r", "8", "-w", "8"],
    );
    assert_eq!(code, 0, "{err}");
    let (ids, t0) = send_all(ns.addr);
    let log = broker.dir.path().join("logs/broker.log");
    found_or_show_warnings(ns.addr, ids.clone(), &log);

    // mqadmin's commands.
    let (code, out, err) = admin(&nss, &["queryMsgByKey", "-t", TOPIC, "-k", "key-42"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        lines[0],
        format!("{:<50} {:>4} {:>40}", "#Message ID", "#QID", "#Offset")
    );
    assert!(lines[1].starts_with(&format!("{:<50} ", ids[42])), "{out}");
    let before = (t0 - 1).to_string();
    let (code, out, _) = admin(
        &nss,
        &[
            "queryMsgByKey",
            "-t",
            TOPIC,
            "-k",
            "key-42",
            "-b",
            "0",
            "-e",
            &before,
        ],
    );
    assert_eq!(
        (code, out.lines().count()),
        (0, 1),
        "a range before the sends finds nothing: {out}"
    );
    let (code, out, err) = admin(&nss, &["queryMsgByUniqueKey", "-t", TOPIC, "-i", &ids[7]]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("{:<20} {}", "Topic:", TOPIC)),
        "{out}"
    );
    assert!(
        out.contains(&format!("{:<20} [key-7 shared]", "Keys:")),
        "{out}"
    );
    assert!(!out.contains("OffsetID:"), "{out}");
    let (code, _, err) = admin(&nss, &["queryMsgByUniqueKey", "-t", TOPIC, "-i", "00FF"]);
    assert_eq!(code, 1, "an unknown id fails: {err}");
    let (code, _, err) = admin(&nss, &["queryMsgByKey", "-t", TOPIC]);
    assert!(
        code != 0 && err.contains("--msgKey"),
        "missing -k: {code} {err}"
    );

    // Let the log reach the device (ASYNC_FLUSH writes every 500 ms), then kill -9 with
    // part of the index only in memory.
    std::thread::sleep(Duration::from_millis(1500));
    let store = broker.dir.path().join("store");
    let in_runs = entries_in_runs(&store);
    assert!(
        in_runs > 0 && in_runs < 2 * 2 * MESSAGES as u64,
        "entries in runs: {in_runs}"
    );
    broker.guard.child.kill().unwrap();
    broker.guard.child.wait().unwrap();
    // The dead broker's sockets can outlive it briefly (io_uring tears down
    // asynchronously): wait until its port is free again before restarting on it.
    let port = broker.addr.port();
    wait_until(Duration::from_secs(20), "the killed broker's port", || {
        std::net::TcpListener::bind(("0.0.0.0", port)).is_ok()
    });
    broker.guard = restart_broker(&broker.conf, broker.dir.path(), Some(ns.addr));
    found_or_show_warnings(ns.addr, ids, &log);
}

/// A slave answers QUERY_MESSAGE from the index it builds of the records it replicates,
/// and the admin client turns to it once the master is gone from the route.
#[test]
fn a_slave_answers_queries_and_takes_over_when_the_master_dies() {
    const N: usize = 200;
    let ns = start_namesrv("");
    let ha = free_port();
    let master = start_broker(
        Some(ns.addr),
        &format!("brokerRole=ASYNC_MASTER\nhaListenPort={ha}\nhaSendHeartbeatInterval=1000\nmessageIndexBufferEntries=100"),
    );
    let slave = start_broker(
        Some(ns.addr),
        "brokerId=1\nbrokerRole=SLAVE\nhaSendHeartbeatInterval=1000\nmessageIndexBufferEntries=100",
    );
    let nss = ns.addr.to_string();
    let (code, _, err) = admin(
        &nss,
        &[
            "updateTopic",
            "-b",
            &master.addr.to_string(),
            "-t",
            TOPIC,
            "-r",
            "4",
            "-w",
            "4",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let nsa = ns.addr;
    let ids: Vec<String> = on_executor(move || async move {
        let p = Producer::new("index_ha_pg", vec![nsa], Duration::from_secs(5)).unwrap();
        let mut ids = Vec::new();
        for i in 0..N {
            let m = Message {
                topic: TOPIC.into(),
                tags: None,
                keys: vec![format!("ha-{i}")],
                body: format!("ha-body-{i}").into_bytes().into(),
                properties: Vec::new(),
                flag: 0,
            };
            ids.push(p.send(&m).await.unwrap().msg_id);
        }
        ids
    });
    // QUERY_MESSAGE straight to the slave, once it has the last record.
    let mut c = RawClient::connect(slave.addr);
    let query = |c: &mut RawClient, key: &str| {
        c.call_with(
            12,
            &[
                ("topic", TOPIC),
                ("key", key),
                ("maxNum", "32"),
                ("beginTimestamp", "0"),
                ("endTimestamp", &i64::MAX.to_string()),
            ],
            Vec::new(),
        )
    };
    // Each shard replicates on its own link: wait for every key, not just the last one
    // sent (the other shard's link may connect later).
    // Generous: under a loaded host (CI shares 2 cores with builds) the second shard's
    // link can take a while; a failure shows the slave's log, not just the timeout.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !(0..N).all(|i| query(&mut c, &format!("ha-{i}")).code == 0) {
        if std::time::Instant::now() > deadline {
            let log = std::fs::read_to_string(slave.dir.path().join("logs/broker.log"))
                .unwrap_or_default();
            panic!("the slave did not index every record within 90 s; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for i in 0..N {
        let r = query(&mut c, &format!("ha-{i}"));
        if r.code != 0 {
            let text = std::fs::read_to_string(slave.dir.path().join("logs/broker.log"))
                .unwrap_or_default();
            for line in text
                .lines()
                .filter(|l| !l.contains(" INFO ") || l.contains("index"))
            {
                eprintln!("slave: {line}");
            }
        }
        assert_eq!(r.code, 0, "ha-{i}: {:?}", r.remark);
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert!(body.contains(&format!("ha-body-{i}")), "ha-{i}");
        assert!(r.ext.get("indexLastUpdateTimestamp").is_some());
    }
    let r = query(&mut c, "nothing-here");
    assert_eq!(r.code, 22, "QUERY_NOT_FOUND");
    assert!(r.ext.get("indexLastUpdatePhyoffset").is_some());
    // The master dies: the admin client's query goes to the slave.
    let mut master = master;
    let master_addr = master.addr;
    master.guard.child.kill().unwrap();
    master.guard.child.wait().unwrap();
    let failed = on_executor(move || async move {
        let admin = AdminClient::new(vec![nsa]).unwrap();
        for (i, id) in ids.iter().enumerate().step_by(20) {
            let found = match admin.query_message(TOPIC, id, 32, 0, i64::MAX, true).await {
                Ok(found) => found,
                Err(e) => {
                    let route = admin.topic_route(TOPIC).await;
                    return Some(format!("ha-{i}: {e}; route now: {route:?}"));
                }
            };
            assert_eq!(found.len(), 1, "unique key of ha-{i}");
            assert_eq!(found[0].keys, format!("ha-{i}"));
        }
        None
    });
    if let Some(why) = failed {
        // Which peer failed, and in what state the slave was, decide where to look.
        let mut slave = slave;
        let status = slave.guard.child.try_wait();
        let log =
            std::fs::read_to_string(slave.dir.path().join("logs/broker.log")).unwrap_or_default();
        panic!(
            "query after the master ({master_addr}) died failed: {why}\n\
             slave {} exited: {status:?}\nslave log:\n{log}",
            slave.addr
        );
    }
}
