//! Transactional messages with coremq's own client against real broker processes (#18):
//! commit → delivered once, rollback → never, unknown → checked back and the listener's
//! answer decides, a producer that never answers → dropped after transactionCheckMax (and
//! copied to TRANS_CHECK_MAX_TIME_TOPIC); and SIGKILL of the broker between the half
//! message and END_TRANSACTION, and after END_TRANSACTION before delivery.

mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use coremq::client::consumer::{ConsumeStatus, Consumer, ConsumerConfig, Listener, StartFrom};
use coremq::client::message::Received;
use coremq::client::producer::Message;
use coremq::client::transaction::{CheckListener, TransactionProducer, TxState};

/// Check-backs come quickly in these tests (RocketMQ's defaults are 6 s and 60 s).
const FAST_CHECKS: &str =
    "transactionTimeOut=1000\ntransactionCheckInterval=300\ntransactionCheckMax=3\nflushDiskType=SYNC_FLUSH";

type Counts = Rc<RefCell<HashMap<String, u32>>>;

fn message(topic: &str, body: &str) -> Message {
    Message {
        topic: topic.into(),
        tags: Some("TagTx".into()),
        keys: vec![body.to_owned()],
        body: body.as_bytes().to_vec().into(),
        properties: Vec::new(),
        flag: 0,
    }
}

/// The check listener: decides by the body's prefix and counts the check-backs per body.
fn deciding(checks: &Counts) -> CheckListener {
    let checks = checks.clone();
    Rc::new(move |m: &Received| {
        let body = String::from_utf8_lossy(&m.body).into_owned();
        *checks.borrow_mut().entry(body.clone()).or_default() += 1;
        if body.contains("commit") && !body.contains("rollback") {
            TxState::Commit
        } else if body.contains("rollback") {
            TxState::Rollback
        } else {
            TxState::Unknown
        }
    })
}

/// A consumer listener counting deliveries per body; it also checks the commit bits.
fn counting(seen: &Counts) -> Listener {
    let seen = seen.clone();
    Rc::new(move |m: &Received| {
        assert_eq!(
            m.sys_flag & 0xC,
            0x8,
            "a delivered transactional message is committed"
        );
        let body = String::from_utf8_lossy(&m.body).into_owned();
        *seen.borrow_mut().entry(body).or_default() += 1;
        ConsumeStatus::Success
    })
}

fn count_of(c: &Counts, prefix: &str) -> usize {
    c.borrow().keys().filter(|k| k.starts_with(prefix)).count()
}

/// GET_MAX_OFFSET (30) summed over `queues` queues of `topic`.
fn max_offsets(broker: SocketAddr, topic: &str, queues: i32) -> i64 {
    let mut c = RawClient::connect(broker);
    (0..queues)
        .map(|q| {
            let r = c.call_with(
                30,
                &[("topic", topic), ("queueId", &q.to_string())],
                Vec::new(),
            );
            assert_eq!(r.code, 0, "{:?}", r.remark);
            r.ext.get("offset").unwrap().parse::<i64>().unwrap()
        })
        .sum()
}

#[test]
fn commit_rollback_unknown_and_silent_producers() {
    let s = standalone_with(FAST_CHECKS);
    let topic = "TxFlow";
    update_topic(&s.ns, &s.broker, topic, 8);
    let ns: Vec<SocketAddr> = vec![s.ns.parse().unwrap()];
    let broker: SocketAddr = s.broker.parse().unwrap();
    let (seen, checks) = on_executor(move || async move {
        let checks: Counts = Rc::default();
        let seen: Counts = Rc::default();
        let mut cfg = ConsumerConfig::new("tx_cg", topic, "*", "127.0.0.1@tx-c");
        cfg.from = StartFrom::First;
        let consumer = Consumer::new(cfg, ns.clone()).unwrap();
        let run = glommio::spawn_local({
            let (c, l) = (consumer.clone(), counting(&seen));
            async move { c.run(l, Some(Duration::from_secs(120))).await }
        });
        let tp = TransactionProducer::new(
            "tx_pg",
            ns.clone(),
            Duration::from_secs(5),
            deciding(&checks),
        )
        .unwrap();
        let send = |prefix: &'static str, n: usize, local: TxState| {
            let tp = &tp;
            async move {
                for i in 0..n {
                    let m = message(topic, &format!("{prefix}-{i}"));
                    let (r, state) = tp.send(&m, |_, _| local).await.unwrap();
                    assert_eq!(state, local);
                    assert!(
                        r.queue_offset >= 0,
                        "a half send reports its half-queue offset"
                    );
                }
            }
        };
        send("commit", 100, TxState::Commit).await;
        send("rollback", 100, TxState::Rollback).await;
        send("late-commit", 20, TxState::Unknown).await;
        send("late-rollback", 20, TxState::Unknown).await;
        send("silent", 5, TxState::Unknown).await;
        until(60, "every commit delivered", || {
            count_of(&seen, "commit-") == 100 && count_of(&seen, "late-commit-") == 20
        })
        .await;
        // Silent ones are asked transactionCheckMax (3) times, then dropped.
        until(60, "silent half messages dropped", || {
            max_offsets(broker, "TRANS_CHECK_MAX_TIME_TOPIC", 1) == 5
        })
        .await;
        // A few more check rounds: nothing else may arrive or be asked.
        glommio::timer::sleep(Duration::from_millis(1500)).await;
        consumer.shutdown();
        run.await.unwrap();
        (seen.take(), checks.take())
    });
    for (body, n) in &seen {
        assert_eq!(*n, 1, "{body} delivered {n} times");
        assert!(
            body.starts_with("commit-") || body.starts_with("late-commit-"),
            "{body} was delivered but never committed"
        );
    }
    assert_eq!(seen.len(), 120);
    for i in 0..5 {
        assert_eq!(checks.get(&format!("silent-{i}")), Some(&3), "{checks:?}");
    }
    for prefix in ["late-commit", "late-rollback"] {
        for i in 0..20 {
            assert!(
                checks.contains_key(&format!("{prefix}-{i}")),
                "{prefix}-{i} never checked back"
            );
        }
    }
    assert!(
        !checks
            .keys()
            .any(|k| k.starts_with("commit-") || k.starts_with("rollback-")),
        "a decided transaction was checked back: {checks:?}"
    );
}

#[test]
fn sigkill_before_and_after_end_transaction_keeps_every_decision() {
    let ns_proc = start_namesrv("");
    let mut b = start_broker(Some(ns_proc.addr), FAST_CHECKS);
    let ns = ns_proc.addr.to_string();
    let broker = b.addr;
    let topic = "TxCrash";
    update_topic(&ns, &broker.to_string(), topic, 8);
    let nss = vec![ns_proc.addr];

    // Phase 1: decisions that reached the broker, and half messages whose decision never
    // did (the local transaction answered "unknown", i.e. the producer went quiet).
    let checks: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    {
        let nss = nss.clone();
        on_executor(move || async move {
            let tp = TransactionProducer::new(
                "txc_pg",
                nss,
                Duration::from_secs(5),
                Rc::new(|_: &Received| TxState::Unknown),
            )
            .unwrap();
            for (prefix, state) in [
                ("ended-commit", TxState::Commit),
                ("ended-rollback", TxState::Rollback),
                ("open-commit", TxState::Unknown),
                ("open-rollback", TxState::Unknown),
            ] {
                for i in 0..50 {
                    tp.send(&message(topic, &format!("{prefix}-{i}")), |_, _| state)
                        .await
                        .unwrap();
                }
            }
        });
    }
    // END_TRANSACTION is oneway: wait until all 100 decisions are stored (their op
    // records), then kill before any consumer has read the committed messages.
    wait_until(Duration::from_secs(20), "100 op records", || {
        max_offsets(broker, "RMQ_SYS_TRANS_OP_HALF_TOPIC", 2) == 100
    });
    assert_eq!(max_offsets(broker, topic, 8), 50);
    b.guard.child.kill().unwrap();
    b.guard.child.wait().unwrap();
    b.guard = restart_broker(&b.conf, b.dir.path(), Some(ns_proc.addr));

    // Phase 2: a producer of the same group answers check-backs by prefix; a consumer
    // reads everything from the start.
    let (seen, checked) = {
        let checks = checks.clone();
        on_executor(move || async move {
            let counts: Counts = Rc::default();
            let listener: CheckListener = {
                let (counts, shared) = (deciding(&counts), checks.clone());
                Rc::new(move |m: &Received| {
                    let body = String::from_utf8_lossy(&m.body).into_owned();
                    *shared.lock().unwrap().entry(body).or_default() += 1;
                    counts(m)
                })
            };
            let tp =
                TransactionProducer::new("txc_pg", nss.clone(), Duration::from_secs(5), listener)
                    .unwrap();
            // One plain send connects the producer (and its group) to the restarted broker.
            tp.producer()
                .send(&message("TxCrashProbe", "probe"))
                .await
                .unwrap();
            let seen: Counts = Rc::default();
            let mut cfg = ConsumerConfig::new("txc_cg", topic, "*", "127.0.0.1@txc-c");
            cfg.from = StartFrom::First;
            let consumer = Consumer::new(cfg, nss.clone()).unwrap();
            let run = glommio::spawn_local({
                let (c, l) = (consumer.clone(), counting(&seen));
                async move { c.run(l, Some(Duration::from_secs(120))).await }
            });
            until(60, "every committed message", || {
                count_of(&seen, "ended-commit-") == 50 && count_of(&seen, "open-commit-") == 50
            })
            .await;
            until(30, "open rollbacks decided", || {
                (0..50).all(|i| {
                    checks
                        .lock()
                        .unwrap()
                        .contains_key(&format!("open-rollback-{i}"))
                })
            })
            .await;
            glommio::timer::sleep(Duration::from_millis(1500)).await;
            consumer.shutdown();
            run.await.unwrap();
            drop(tp);
            let checked = checks.lock().unwrap().clone();
            (seen.take(), checked)
        })
    };
    for (body, n) in &seen {
        assert_eq!(*n, 1, "{body} delivered {n} times");
        assert!(
            body.contains("-commit-"),
            "{body} delivered but rolled back"
        );
    }
    assert_eq!(seen.len(), 100);
    assert!(
        !checked.keys().any(|k| k.starts_with("ended-")),
        "a decision stored before the kill was lost (checked back): {checked:?}"
    );
}
