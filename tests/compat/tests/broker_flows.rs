//! rocketmq-client-rust 1.0.0 (an unmodified third-party client) against the real
//! `coremq namesrv` + `coremq broker` processes: produce and consume 10,000 messages with
//! two consumers splitting the queues, tag filtering, ordered messages consumed orderly,
//! resuming from the committed offset, no acknowledged message lost when a SYNC_FLUSH
//! broker is killed with SIGKILL, and mqadmin's calls the broker relays to a consumer
//! (GET_CONSUMER_RUNNING_INFO, CONSUME_MESSAGE_DIRECTLY, RESET_CONSUMER_CLIENT_OFFSET)
//! answered by that client.
//!
//! The client starts pulling ~10 s after a consumer starts (its rebalance period), so the
//! waits here are generous; every wait is bounded and fails with what was missing.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coremq_compat::{delivery, push_consumer, started_producer, Cluster, Record, Seen};
use rocketmq_client_rust::{
    ClientResult, ConsumeOrderlyContext, ConsumeOrderlyStatus, DefaultMQProducer,
    DefaultMQPushConsumer, MQPushConsumer, MessageListenerOrderly,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;

/// These tests each run a broker and several clients; one at a time keeps them from
/// starving each other on a 2-core machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct RecordOrderly(Seen);

impl MessageListenerOrderly for RecordOrderly {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        ctx: &mut ConsumeOrderlyContext,
    ) -> ClientResult<ConsumeOrderlyStatus> {
        ctx.set_auto_commit(true);
        let mut seen = self.0.lock().unwrap();
        for m in msgs {
            seen.push(delivery(m));
        }
        Ok(ConsumeOrderlyStatus::Success)
    }
}

async fn consumer(
    ns: &str,
    group: &str,
    instance: &str,
    topic: &str,
    expr: &str,
    orderly: bool,
) -> (DefaultMQPushConsumer, Seen) {
    let seen: Seen = Arc::default();
    let mut c = push_consumer(
        ns,
        group,
        instance,
        ConsumeFromWhere::ConsumeFromFirstOffset,
    );
    c.subscribe(topic, expr).await.expect("subscribe");
    if orderly {
        c.register_message_listener_orderly(RecordOrderly(seen.clone()));
    } else {
        c.register_message_listener_concurrently(Record(seen.clone()));
    }
    c.start().await.expect("consumer start");
    (c, seen)
}

fn message(topic: &str, tag: &str, key: &str, body: &str) -> Message {
    Message::builder()
        .topic(topic)
        .tags(tag)
        .key(key)
        .body_slice(body.as_bytes())
        .build_unchecked()
}

/// Waits (≤ `limit`) until `done(seen)`; panics with `what` otherwise.
async fn wait_for(
    seen: &Seen,
    limit: Duration,
    what: &str,
    done: impl Fn(&[(String, String, i32)]) -> bool,
) {
    let deadline = Instant::now() + limit;
    loop {
        if done(&seen.lock().unwrap()) {
            return;
        }
        if Instant::now() > deadline {
            let n = seen.lock().unwrap().len();
            panic!("timed out waiting for {what} ({n} deliveries so far)");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn unique_bodies(seen: &[(String, String, i32)], prefix: &str) -> HashSet<String> {
    seen.iter()
        .filter(|(b, _, _)| b.starts_with(prefix))
        .map(|(b, _, _)| b.clone())
        .collect()
}

/// Sends one message so the topic exists (auto-created from TBW102 on first send).
async fn create_topic(p: &DefaultMQProducer, topic: &str) {
    let r = p
        .send(message(topic, "TagA", "warmup", "warmup"))
        .await
        .expect("first send auto-creates the topic");
    assert!(r.is_some());
}

/// Waits until the broker lists `n` consumers in `group` (GET_CONSUMER_LIST_BY_GROUP).
async fn wait_members(broker: &str, group: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = coremq_compat::raw_call(broker, 38, &[("consumerGroup", group)], Vec::new());
        if r.code == 0 {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            if v["consumerIdList"].as_array().map_or(0, Vec::len) == n {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{group} never had {n} consumers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_messages_two_consumers_split_and_tags_filter() {
    let _serial = SERIAL.lock().await;
    const N: usize = 10_000;
    let cluster = Cluster::start("shardCount=2\n");
    let ns = cluster.namesrv_addr.clone();
    let broker = format!("127.0.0.1:{}", cluster.broker_port);
    let topic = "FlowTest";
    let mut p = started_producer(&ns, "pg-flow").await;
    create_topic(&p, topic).await;

    let (mut c1, seen1) = consumer(&ns, "g-split", "c1", topic, "*", false).await;
    let (mut c2, seen2) = consumer(&ns, "g-split", "c2", topic, "*", false).await;
    let (mut ct, seen_t) = consumer(&ns, "g-tags", "ct", topic, "TagA", false).await;
    wait_members(&broker, "g-split", 2).await;
    // Both consumers hold their queues once each has received the warm-up or a rebalance ran.
    tokio::time::sleep(Duration::from_secs(12)).await;

    for i in 0..N {
        let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
        let r = p
            .send(message(topic, tag, &format!("KEY{i}"), &format!("msg-{i}")))
            .await
            .unwrap_or_else(|e| panic!("send {i}: {e}"));
        assert!(r.is_some(), "send {i} returned no result");
    }

    let all: Seen = Arc::default();
    let limit = Duration::from_secs(120);
    let deadline = Instant::now() + limit;
    loop {
        let mut merged = seen1.lock().unwrap().clone();
        merged.extend(seen2.lock().unwrap().iter().cloned());
        *all.lock().unwrap() = merged;
        if unique_bodies(&all.lock().unwrap(), "msg-").len() == N || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got = unique_bodies(&all.lock().unwrap(), "msg-");
    let missing: Vec<usize> = (0..N)
        .filter(|i| !got.contains(&format!("msg-{i}")))
        .collect();
    let deliveries = all
        .lock()
        .unwrap()
        .iter()
        .filter(|(b, _, _)| b.starts_with("msg-"))
        .count();
    println!(
        "two consumers: {} unique of {N}, {} duplicate deliveries; c1 {} c2 {}",
        got.len(),
        deliveries - got.len(),
        seen1.lock().unwrap().len(),
        seen2.lock().unwrap().len()
    );
    assert!(
        missing.is_empty(),
        "{} messages never delivered, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let q1: HashSet<i32> = seen1.lock().unwrap().iter().map(|d| d.2).collect();
    let q2: HashSet<i32> = seen2.lock().unwrap().iter().map(|d| d.2).collect();
    assert!(
        !q1.is_empty() && !q2.is_empty(),
        "both consumers must get queues: {q1:?} {q2:?}"
    );

    wait_for(&seen_t, limit, "every TagA message", |s| {
        unique_bodies(s, "msg-").len() >= N / 2
    })
    .await;
    let tagged = seen_t.lock().unwrap().clone();
    assert!(
        tagged.iter().all(|(_, t, _)| t == "TagA"),
        "a TagB message reached the TagA subscriber"
    );
    let got_t = unique_bodies(&tagged, "msg-");
    assert_eq!(got_t.len(), N / 2);
    assert!((0..N)
        .step_by(2)
        .all(|i| got_t.contains(&format!("msg-{i}"))));

    c1.shutdown().await;
    c2.shutdown().await;
    ct.shutdown().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ordered_messages_are_consumed_in_key_order() {
    let _serial = SERIAL.lock().await;
    const KEYS: usize = 8;
    const PER_KEY: usize = 100;
    let cluster = Cluster::start("shardCount=2\n");
    let ns = cluster.namesrv_addr.clone();
    let topic = "OrderTest";
    let mut p = started_producer(&ns, "pg-order").await;
    create_topic(&p, topic).await;
    let (mut c, seen) = consumer(&ns, "g-order", "co", topic, "*", true).await;
    for seq in 0..PER_KEY {
        for key in 0..KEYS {
            let m = message(
                topic,
                "TagA",
                &format!("K{key}"),
                &format!("ord-{key}-{seq}"),
            );
            let r = p
                .send_with_selector(
                    m,
                    |mqs, _m, k: &usize| Some(mqs[k % mqs.len()].clone()),
                    key,
                )
                .await
                .expect("ordered send");
            assert!(r.is_some());
        }
    }
    wait_for(
        &seen,
        Duration::from_secs(120),
        "every ordered message",
        |s| unique_bodies(s, "ord-").len() == KEYS * PER_KEY,
    )
    .await;
    let mut per_key: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (b, _, _) in seen
        .lock()
        .unwrap()
        .iter()
        .filter(|d| d.0.starts_with("ord-"))
    {
        let mut it = b.trim_start_matches("ord-").split('-');
        let key: usize = it.next().unwrap().parse().unwrap();
        let seq: usize = it.next().unwrap().parse().unwrap();
        per_key.entry(key).or_default().push(seq);
    }
    for (key, seqs) in per_key {
        // A redelivery may repeat earlier messages, but a new one is always the next in line.
        let mut high: Option<usize> = None;
        for s in seqs {
            match high {
                Some(h) if s <= h => {}
                Some(h) => assert_eq!(s, h + 1, "key {key}: {s} delivered before {}", h + 1),
                None => assert_eq!(s, 0, "key {key} started at {s}"),
            }
            high = Some(high.map_or(s, |h| h.max(s)));
        }
        assert_eq!(high, Some(PER_KEY - 1));
    }
    c.shutdown().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_restart_resumes_from_committed_offset() {
    let _serial = SERIAL.lock().await;
    const N: usize = 500;
    let cluster = Cluster::start("shardCount=2\n");
    let ns = cluster.namesrv_addr.clone();
    let topic = "ResumeTest";
    let mut p = started_producer(&ns, "pg-resume").await;
    create_topic(&p, topic).await;
    for i in 0..N {
        p.send(message(topic, "TagA", "k", &format!("a-{i}")))
            .await
            .expect("send");
    }
    let (mut c, seen) = consumer(&ns, "g-resume", "r1", topic, "*", false).await;
    wait_for(&seen, Duration::from_secs(90), "the first batch", |s| {
        unique_bodies(s, "a-").len() == N
    })
    .await;
    c.shutdown().await;

    for i in 0..N {
        p.send(message(topic, "TagA", "k", &format!("b-{i}")))
            .await
            .expect("send");
    }
    let (mut c2, seen2) = consumer(&ns, "g-resume", "r2", topic, "*", false).await;
    wait_for(&seen2, Duration::from_secs(90), "the second batch", |s| {
        unique_bodies(s, "b-").len() == N
    })
    .await;
    let again = seen2
        .lock()
        .unwrap()
        .iter()
        .filter(|d| d.0.starts_with("a-"))
        .count();
    println!("restart: {again} messages of the first batch delivered again");
    assert_eq!(
        again, 0,
        "the restarted consumer went back before its committed offset"
    );
    c2.shutdown().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_flush_broker_killed_with_sigkill_loses_no_acknowledged_message() {
    let _serial = SERIAL.lock().await;
    const KILL_AFTER: usize = 400;
    const MAX_SENDS: usize = 3_000;
    let mut cluster = Cluster::start("shardCount=2\nflushDiskType=SYNC_FLUSH\n");
    let ns = cluster.namesrv_addr.clone();
    let topic = "DurableTest";
    let mut p = started_producer(&ns, "pg-durable").await;
    create_topic(&p, topic).await;
    let pid = cluster.broker.as_ref().unwrap().child.id() as i32;
    let mut acked = Vec::new();
    let mut killer = None;
    for i in 0..MAX_SENDS {
        if acked.len() == KILL_AFTER && killer.is_none() {
            // Kill while sends are in flight, from another thread.
            killer = Some(std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                // SAFETY: SIGKILL to our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }));
        }
        match p.send(message(topic, "TagA", "k", &format!("d-{i}"))).await {
            Ok(Some(_)) => acked.push(format!("d-{i}")),
            _ if killer.is_some() => break,
            other => panic!("send {i} failed before the kill: {other:?}"),
        }
    }
    killer.expect("the broker was killed").join().unwrap();
    cluster.broker.take().unwrap().kill9();
    cluster.start_broker();
    println!("acknowledged before the kill: {}", acked.len());

    let (mut c, seen) = consumer(&ns, "g-durable", "d1", topic, "*", false).await;
    let want: HashSet<String> = acked.iter().cloned().collect();
    wait_for(
        &seen,
        Duration::from_secs(120),
        "every acknowledged message",
        |s| {
            let got: HashSet<&String> = s.iter().map(|d| &d.0).collect();
            want.iter().all(|w| got.contains(w))
        },
    )
    .await;
    c.shutdown().await;
    p.shutdown().await;
}

/// mqadmin's calls relayed to a third-party consumer: `consumerProgress -s true` shows the
/// client holding each queue (307), and `queryMsgById -g -d` has it consume one stored
/// message again (309).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_calls_relayed_to_a_third_party_consumer() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("shardCount=2\n");
    let ns = cluster.namesrv_addr.clone();
    let broker = format!("127.0.0.1:{}", cluster.broker_port);
    let topic = "RelayTest";
    let mut p = started_producer(&ns, "pg-relay").await;
    create_topic(&p, topic).await;
    let sent = p
        .send(message(topic, "TagA", "k", "relay-0"))
        .await
        .expect("send")
        .expect("a send result");
    let offset_id = sent.offset_msg_id.clone().expect("an offsetMsgId");
    let (mut c, seen) = consumer(&ns, "g-relay", "relay1", topic, "*", false).await;
    wait_for(&seen, Duration::from_secs(90), "the message", |s| {
        s.iter().any(|d| d.0 == "relay-0")
    })
    .await;

    let r = coremq_compat::raw_call(&broker, 203, &[("consumerGroup", "g-relay")], Vec::new());
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let cc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let client_id = cc["connectionSet"][0]["clientId"]
        .as_str()
        .expect("a client id")
        .to_owned();
    let ip = client_id.split('@').next().unwrap().to_owned();

    let admin = |args: &[&str]| {
        let out = std::process::Command::new(coremq_compat::coremq_bin())
            .arg("admin")
            .args(args)
            .args(["-n", &ns])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Rows appear once the client has committed offsets (every 5 s); then every queue
    // of the topic shows this client.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let progress = admin(&["consumerProgress", "-g", "g-relay", "-s", "true"]);
        let holders: Vec<String> = progress
            .lines()
            .filter(|l| l.starts_with(&format!("{topic} ")))
            .map(|l| l.split_whitespace().nth(5).unwrap_or_default().to_owned())
            .collect();
        if !holders.is_empty() && holders.iter().all(|h| *h == ip) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the client's IP on every queue: {progress}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let out = admin(&[
        "queryMsgById",
        "-i",
        &offset_id,
        "-g",
        "g-relay",
        "-d",
        &client_id,
    ]);
    assert!(
        out.starts_with("ConsumeMessageDirectlyResult [")
            && out.contains("consumeResult=CR_SUCCESS"),
        "{out}"
    );
    wait_for(&seen, Duration::from_secs(30), "the direct delivery", |s| {
        s.iter().filter(|d| d.0 == "relay-0").count() == 2
    })
    .await;
    c.shutdown().await;
    p.shutdown().await;
}

/// resetOffsetByTime with a third-party consumer online: the broker's
/// RESET_CONSUMER_CLIENT_OFFSET (220) makes rocketmq-client-rust consume the topic again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reset_offset_by_time_rewinds_a_third_party_consumer() {
    let _serial = SERIAL.lock().await;
    const N: usize = 40;
    let cluster = Cluster::start("shardCount=2\n");
    let ns = cluster.namesrv_addr.clone();
    let topic = "ResetTest";
    let mut p = started_producer(&ns, "pg-reset").await;
    create_topic(&p, topic).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    tokio::time::sleep(Duration::from_millis(20)).await;
    for i in 0..N {
        p.send(message(topic, "TagA", "k", &format!("r-{i}")))
            .await
            .expect("send");
    }
    let (mut c, seen) = consumer(&ns, "g-reset", "reset1", topic, "*", false).await;
    wait_for(&seen, Duration::from_secs(90), "the first pass", |s| {
        unique_bodies(s, "r-").len() == N
    })
    .await;
    // The broker needs the group's offset on every queue: wait for the commits.
    let admin = |args: &[&str]| {
        std::process::Command::new(coremq_compat::coremq_bin())
            .arg("admin")
            .args(args)
            .args(["-n", &ns])
            .output()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = admin(&["consumerProgress", "-g", "g-reset"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let rows = text
            .lines()
            .filter(|l| l.starts_with(&format!("{topic} ")))
            .count();
        if out.status.success() && rows == 4 && text.contains("Diff Total: 0") {
            break;
        }
        assert!(Instant::now() < deadline, "offsets never committed: {text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let out = admin(&[
        "resetOffsetByTime",
        "-g",
        "g-reset",
        "-t",
        topic,
        "-s",
        &before,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.starts_with("rollback consumer offset by specified group[g-reset]"),
        "{text}"
    );
    wait_for(&seen, Duration::from_secs(60), "the second pass", |s| {
        s.iter().filter(|d| d.0.starts_with("r-")).count() >= 2 * N
    })
    .await;
    c.shutdown().await;
    p.shutdown().await;
}
