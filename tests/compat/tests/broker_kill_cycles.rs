//! A SYNC_FLUSH broker SIGKILLed and restarted N times while two producers (the third-party
//! rocketmq-client-rust and coremq's own client) send and two push consumers (one of each,
//! in different groups) consume. No acknowledged (SEND_OK) message may be lost: after the
//! last restart each group receives every one. Duplicates (a send retried after a lost
//! answer, offsets committed before the kill replayed) are counted and printed, not failed.
//!
//! N is `COREMQ_KILL_CYCLES` (5 by default, as CI runs it; 100 for the long run recorded
//! in bench/results). Each cycle waits for a count of new acknowledgements, not a time, so
//! a slow machine only makes it slower.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coremq::client::consumer::{ConsumeStatus, Consumer, ConsumerConfig, Listener, StartFrom};
use coremq::client::message::Received;
use coremq::client::producer::{Message as CoreMessage, Producer, SendStatus};
use coremq::runtime::{run_unpinned, NETWORK_ONLY_IO_MEMORY_BYTES};
use coremq_compat::{push_consumer, started_producer, Cluster, Record, Seen};
use rocketmq_client_rust::MQPushConsumer;
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::result::SendStatus as ThirdPartyStatus;

/// Kill/restart cycles when `COREMQ_KILL_CYCLES` is not set.
const DEFAULT_CYCLES: usize = 5;
/// New acknowledgements each producer must get after a (re)start before the next kill.
const ACKS_PER_CYCLE: usize = 150;
/// Longest wait for a cycle's acknowledgements.
const CYCLE_WAIT: Duration = Duration::from_secs(90);
/// Longest wait, after the last restart, for both groups to receive every acknowledged
/// message.
const DRAIN_WAIT: Duration = Duration::from_secs(240);
/// Pause after a failed send (the broker is down or restarting).
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Pause between coremq's sends: its client is ~40x faster than the third-party one here,
/// and an unpaced run piles up a backlog the third-party consumer needs minutes to drain.
const CORE_SEND_PAUSE: Duration = Duration::from_millis(2);
/// Hard cap on each producer's sends, so the loops end even if the test stalls.
const MAX_SENDS_PER_PRODUCER: usize = 1_000_000;

const TOPIC: &str = "KillCycles";

/// Bodies acknowledged with SEND_OK, in order.
type Acked = Arc<Mutex<Vec<String>>>;
/// Deliveries per body.
type Deliveries = Arc<Mutex<HashMap<String, usize>>>;

fn cycles() -> usize {
    std::env::var("COREMQ_KILL_CYCLES")
        .ok()
        .map(|v| v.parse().expect("COREMQ_KILL_CYCLES is a number"))
        .unwrap_or(DEFAULT_CYCLES)
}

/// coremq's producer on its own glommio thread: sends `c-<i>` until `stop`.
fn coremq_producer(
    ns: SocketAddr,
    acked: Acked,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        run_unpinned(
            "kill-producer",
            NETWORK_ONLY_IO_MEMORY_BYTES,
            move || async move {
                let producer = Producer::new("pg-kill-core", vec![ns], Duration::from_secs(3))
                    .expect("coremq producer");
                let mut failed = 0;
                for i in 0..MAX_SENDS_PER_PRODUCER {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let body = format!("c-{i}");
                    let msg = CoreMessage {
                        topic: TOPIC.into(),
                        tags: Some("TagK".into()),
                        keys: vec![body.clone()],
                        body: body.clone().into(),
                        ..CoreMessage::default()
                    };
                    glommio::timer::sleep(CORE_SEND_PAUSE).await;
                    match producer.send(&msg).await {
                        Ok(r) if r.status == SendStatus::SendOk => acked.lock().unwrap().push(body),
                        _ => {
                            failed += 1;
                            glommio::timer::sleep(RETRY_PAUSE).await;
                        }
                    }
                }
                failed
            },
        )
        .expect("coremq producer thread")
    })
}

/// coremq's push consumer on its own glommio thread, until `stop`.
fn coremq_consumer(
    ns: SocketAddr,
    seen: Deliveries,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        run_unpinned(
            "kill-consumer",
            NETWORK_ONLY_IO_MEMORY_BYTES,
            move || async move {
                let client_id = coremq::client::client_id("kill");
                let mut cfg = ConsumerConfig::new("g-kill-core", TOPIC, "*", &client_id);
                cfg.from = StartFrom::First;
                let consumer = Consumer::new(cfg, vec![ns]).expect("coremq consumer");
                let watcher = consumer.clone();
                glommio::spawn_local(async move {
                    while !stop.load(Ordering::Relaxed) {
                        glommio::timer::sleep(Duration::from_millis(100)).await;
                    }
                    watcher.shutdown();
                })
                .detach();
                let listener: Listener = Rc::new(move |m: &Received| {
                    let body = String::from_utf8_lossy(&m.body).into_owned();
                    *seen.lock().unwrap().entry(body).or_default() += 1;
                    ConsumeStatus::Success
                });
                // Bounded by `stop`; the limit only guards against a test that never sets it.
                let _ = consumer
                    .run(listener, Some(DRAIN_WAIT + CYCLE_WAIT * 200))
                    .await;
            },
        )
        .expect("coremq consumer thread")
    })
}

/// Waits until both producers have `n` more acknowledgements than `from`.
async fn wait_acks(acked: [&Acked; 2], from: [usize; 2], n: usize, what: &str) {
    let deadline = Instant::now() + CYCLE_WAIT;
    loop {
        let now = [
            acked[0].lock().unwrap().len(),
            acked[1].lock().unwrap().len(),
        ];
        if now[0] >= from[0] + n && now[1] >= from[1] + n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: acknowledgements stalled at {now:?} (from {from:?}, want +{n})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What one group lost and duplicated, against everything acknowledged.
fn tally(acked: &[String], delivered: &HashMap<String, usize>) -> (Vec<String>, usize) {
    let lost = acked
        .iter()
        .filter(|b| !delivered.contains_key(*b))
        .cloned()
        .collect();
    let dups = delivered.values().map(|n| n - 1).sum();
    (lost, dups)
}

fn counts(seen: &Seen) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for (body, _, _) in seen.lock().unwrap().iter() {
        *m.entry(body.clone()).or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_flush_broker_killed_in_cycles_under_mixed_clients_loses_no_acknowledged_message() {
    let cycles = cycles();
    let mut cluster = Cluster::start("shardCount=2\nflushDiskType=SYNC_FLUSH\n");
    let ns = cluster.namesrv_addr.clone();
    let ns_addr: SocketAddr = ns.parse().unwrap();
    let broker = format!("127.0.0.1:{}", cluster.broker_port);
    let out = std::process::Command::new(coremq_compat::coremq_bin())
        .args([
            "admin",
            "updateTopic",
            "-n",
            &ns,
            "-b",
            &broker,
            "-t",
            TOPIC,
        ])
        .args(["-r", "8", "-w", "8"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    // Consumers first, so both groups start from the first offset of an empty topic.
    let third_seen: Seen = Arc::default();
    let mut third_consumer = push_consumer(
        &ns,
        "g-kill-third",
        "kill-third-c",
        ConsumeFromWhere::ConsumeFromFirstOffset,
    );
    third_consumer
        .subscribe(TOPIC, "*")
        .await
        .expect("subscribe");
    third_consumer.register_message_listener_concurrently(Record(third_seen.clone()));
    third_consumer.start().await.expect("consumer start");
    let stop_consumer = Arc::new(AtomicBool::new(false));
    let core_seen: Deliveries = Arc::default();
    let core_consumer = coremq_consumer(ns_addr, core_seen.clone(), stop_consumer.clone());

    let stop_producers = Arc::new(AtomicBool::new(false));
    let third_acked: Acked = Arc::default();
    let third_failed = {
        let (acked, stop, ns) = (third_acked.clone(), stop_producers.clone(), ns.clone());
        tokio::spawn(async move {
            let mut p = started_producer(&ns, "pg-kill-third").await;
            let mut failed = 0usize;
            for i in 0..MAX_SENDS_PER_PRODUCER {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let body = format!("r-{i}");
                let msg = Message::builder()
                    .topic(TOPIC)
                    .tags("TagK")
                    .key(body.as_str())
                    .body_slice(body.as_bytes())
                    .build_unchecked();
                match p.send(msg).await {
                    Ok(Some(r)) if r.send_status == ThirdPartyStatus::SendOk => {
                        acked.lock().unwrap().push(body)
                    }
                    _ => {
                        failed += 1;
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
            }
            p.shutdown().await;
            failed
        })
    };
    let core_acked: Acked = Arc::default();
    let core_producer = coremq_producer(ns_addr, core_acked.clone(), stop_producers.clone());

    let both = [&third_acked, &core_acked];
    let lens = || {
        [
            third_acked.lock().unwrap().len(),
            core_acked.lock().unwrap().len(),
        ]
    };
    let mut restarts = Vec::with_capacity(cycles);
    for cycle in 0..cycles {
        wait_acks(both, lens(), ACKS_PER_CYCLE, &format!("cycle {cycle}")).await;
        // SIGKILL while both producers have sends in flight.
        cluster.broker.take().expect("a running broker").kill9();
        let t = Instant::now();
        cluster.start_broker();
        restarts.push(t.elapsed());
    }
    wait_acks(both, lens(), ACKS_PER_CYCLE, "after the last restart").await;
    stop_producers.store(true, Ordering::Relaxed);
    let third_failed = third_failed.await.unwrap();
    let core_failed = tokio::task::spawn_blocking(move || core_producer.join().unwrap())
        .await
        .unwrap();
    let acked: Vec<String> = third_acked
        .lock()
        .unwrap()
        .iter()
        .chain(core_acked.lock().unwrap().iter())
        .cloned()
        .collect();

    // Both groups receive every acknowledged message.
    let deadline = Instant::now() + DRAIN_WAIT;
    let (third, core) = loop {
        let third = tally(&acked, &counts(&third_seen));
        let core = tally(&acked, &core_seen.lock().unwrap());
        if (third.0.is_empty() && core.0.is_empty()) || Instant::now() > deadline {
            break (third, core);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stop_consumer.store(true, Ordering::Relaxed);
    third_consumer.shutdown().await;
    tokio::task::spawn_blocking(move || core_consumer.join().unwrap())
        .await
        .unwrap();

    let slowest = restarts.iter().max().copied().unwrap_or_default();
    println!(
        "broker kill cycles: {cycles}; acknowledged {} (third-party {}, coremq {}); failed sends \
         third-party {third_failed}, coremq {core_failed}; lost: g-kill-third {}, g-kill-core {}; \
         duplicates: g-kill-third {}, g-kill-core {}; slowest restart to boot line {slowest:?}",
        acked.len(),
        third_acked.lock().unwrap().len(),
        core_acked.lock().unwrap().len(),
        third.0.len(),
        core.0.len(),
        third.1,
        core.1,
    );
    for (group, (lost, _)) in [("g-kill-third", &third), ("g-kill-core", &core)] {
        assert!(
            lost.is_empty(),
            "{group} never received {} of {} acknowledged messages, e.g. {:?}",
            lost.len(),
            acked.len(),
            &lost[..lost.len().min(5)]
        );
    }
}
