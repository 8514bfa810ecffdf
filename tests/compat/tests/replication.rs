//! rocketmq-client-rust 1.0.0 (an unmodified third-party client) against a coremq
//! SYNC_MASTER + SYNC_FLUSH broker group: the master is killed with SIGKILL mid-stream (after
//! 5,000 of 10,000 sends), every acknowledged message is then consumed from the slave (the
//! client finds it in the route, as RocketMQ's clients do), and after the master restarts
//! the same consumer goes on with messages sent to it.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coremq_compat::{
    coremq_bin, free_broker_port, free_port, push_consumer, spawn_until, started_producer, Cluster,
    Record, Seen,
};
use rocketmq_client_rust::MQPushConsumer;
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::result::SendStatus;

fn message(topic: &str, body: &str) -> Message {
    Message::builder()
        .topic(topic)
        .tags("TagA")
        .key("k")
        .body_slice(body.as_bytes())
        .build_unchecked()
}

/// Waits (≤ `limit`) until every body in `want` was delivered; returns those missing.
async fn wait_all(
    seen: &Seen,
    want: &HashMap<String, (i32, u64)>,
    limit: Duration,
) -> Vec<(i32, u64)> {
    let deadline = Instant::now() + limit;
    loop {
        let missing: Vec<(i32, u64)> = {
            let s = seen.lock().unwrap();
            let got: HashSet<&String> = s.iter().map(|d| &d.0).collect();
            want.iter()
                .filter(|(w, _)| !got.contains(w))
                .map(|(_, at)| *at)
                .collect()
        };
        if missing.is_empty() || Instant::now() > deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a broker says of a queue: (max offset, the group's committed offset).
fn queue_state(broker: &str, topic: &str, group: &str, qid: i32) -> (String, String) {
    let q = qid.to_string();
    let max = coremq_compat::raw_call(broker, 30, &[("topic", topic), ("queueId", &q)], Vec::new());
    let committed = coremq_compat::raw_call(
        broker,
        14,
        &[("consumerGroup", group), ("topic", topic), ("queueId", &q)],
        Vec::new(),
    );
    let get = |r: &coremq::protocol::RemotingCommand| {
        format!("{}:{}", r.code, r.ext.get("offset").unwrap_or("-"))
    };
    (get(&max), get(&committed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_master_killed_every_acknowledged_message_is_consumed_from_the_slave() {
    // RUST_LOG=rocketmq_client_rust=info shows what the client does (rebalance, send-back).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    const KILL_AFTER: usize = 5_000;
    const MAX_SENDS: usize = 10_000;
    let ha = free_port();
    let mut cluster = Cluster::start(&format!(
        "shardCount=2\nbrokerRole=SYNC_MASTER\nflushDiskType=SYNC_FLUSH\nhaListenPort={ha}\n"
    ));
    let ns = cluster.namesrv_addr.clone();
    let slave_dir = cluster.dir.path().join("slave");
    std::fs::create_dir_all(&slave_dir).unwrap();
    let slave_conf = slave_dir.join("broker.properties");
    let slave_port = free_broker_port();
    let slave_addr = format!("127.0.0.1:{slave_port}");
    std::fs::write(
        &slave_conf,
        format!(
            "brokerName=broker-a\nbrokerId=1\nbrokerRole=SLAVE\nflushDiskType=SYNC_FLUSH\nbrokerIP1=127.0.0.1\nlistenPort={port}\nstorePathRootDir={dir}/store\nlogDir={dir}/logs\nshardCount=2\nioMemoryBytesPerShard=262144\nmetricsPort=0\ngrpcServerPort=0\n",
            dir = slave_dir.display(),
            port = slave_port
        ),
    )
    .unwrap();
    let _slave = spawn_until(
        Command::new(coremq_bin())
            .args(["broker", "-c"])
            .arg(&slave_conf)
            .args(["-n", &ns]),
        &slave_dir,
        "boot success",
    );
    let topic = "HaCompat";
    let mut p = started_producer(&ns, "pg-ha").await;
    p.send(message(topic, "warmup"))
        .await
        .expect("first send creates the topic");

    let seen: Seen = Arc::default();
    let mut c = push_consumer(
        &ns,
        "g-ha",
        "ha-c",
        ConsumeFromWhere::ConsumeFromFirstOffset,
    );
    c.subscribe(topic, "*").await.expect("subscribe");
    c.register_message_listener_concurrently(Record(seen.clone()));
    c.start().await.expect("consumer start");

    let pid = cluster.broker.as_ref().unwrap().child.id() as i32;
    let mut acked = HashMap::new();
    let mut killed = false;
    for i in 0..MAX_SENDS {
        if acked.len() == KILL_AFTER && !killed {
            // SAFETY: SIGKILL to our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        }
        match p.send(message(topic, &format!("ha-{i}"))).await {
            Ok(Some(r)) => {
                // SEND_OK only: a SYNC_MASTER answer that the slave has it.
                if r.send_status == SendStatus::SendOk {
                    let qid = r.message_queue.as_ref().map_or(-1, |q| q.queue_id());
                    acked.insert(format!("ha-{i}"), (qid, r.queue_offset));
                }
            }
            _ if killed => break,
            other => panic!("send {i} failed before the kill: {other:?}"),
        }
    }
    assert!(killed, "the master was killed");
    println!("acknowledged (SEND_OK) before the kill: {}", acked.len());
    // The client drops the dead master from its route within its 30 s refresh and pulls
    // the group's queues from the slave.
    let missing = wait_all(&seen, &acked, Duration::from_secs(120)).await;
    if !missing.is_empty() {
        let qids: HashSet<i32> = missing.iter().map(|m| m.0).collect();
        for q in qids {
            let (max, committed) = queue_state(&slave_addr, topic, "g-ha", q);
            let at: Vec<u64> = missing.iter().filter(|m| m.0 == q).map(|m| m.1).collect();
            println!("queue {q}: missing offsets {at:?}; slave max {max}, committed {committed}");
        }
        panic!(
            "{} of {} acknowledged messages never consumed from the slave",
            missing.len(),
            acked.len()
        );
    }

    cluster.broker.take().unwrap().kill9();
    cluster.start_broker();
    let mut after = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut i = 0;
    while after.len() < 100 {
        assert!(
            Instant::now() < deadline,
            "no sends after the master came back"
        );
        if let Ok(Some(_)) = p.send(message(topic, &format!("after-{i}"))).await {
            after.insert(format!("after-{i}"), (0, 0));
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        i += 1;
    }
    let missing = wait_all(&seen, &after, Duration::from_secs(120)).await;
    assert!(
        missing.is_empty(),
        "{} messages sent to the restarted master never consumed",
        missing.len()
    );
    let s = seen.lock().unwrap().clone();
    let distinct: HashSet<&String> = s.iter().map(|d| &d.0).collect();
    println!(
        "deliveries {}, distinct {}, duplicates {}",
        s.len(),
        distinct.len(),
        s.len() - distinct.len()
    );
    c.shutdown().await;
    p.shutdown().await;
}
