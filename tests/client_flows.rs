//! coremq's own client against real brokers over loopback: 10,000 messages across two push
//! consumers with rebalance as one joins and one leaves, orderly consumption keeping each
//! key's order, retry then dead-letter after max reconsume, and nameserver failover.

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use coremq::client::consumer::{ConsumeStatus, Consumer, ConsumerConfig, Listener, StartFrom};
use coremq::client::message::Received;
use coremq::client::producer::{Message, Producer};
use coremq::client::pull_consumer::{PullConsumer, PullOptions, QueueAt};
use coremq::protocol::body::client::SubscriptionData;

/// Per body, (topic, reconsume_times) of each delivery.
type Deliveries = BTreeMap<String, Vec<(String, i32)>>;

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

fn message(topic: &str, tag: &str, body: String) -> Message {
    Message {
        topic: topic.into(),
        tags: Some(tag.into()),
        keys: Vec::new(),
        body: body.into_bytes().into(),
        properties: Vec::new(),
        flag: 0,
    }
}

/// Waits until the nameservers route `queues` readable queues of `topic`.
async fn routed(ns: &[SocketAddr], topic: &str, queues: usize) {
    let pull = PullConsumer::new("route_probe", ns.to_vec()).unwrap();
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        if pull.queues(topic).await.map(|q| q.len()).unwrap_or(0) == queues {
            return;
        }
        assert!(Instant::now() < end, "no route for {topic}");
        glommio::timer::sleep(Duration::from_millis(100)).await;
    }
}

fn owned_of(c: &Consumer, topic: &str) -> usize {
    c.owned().iter().filter(|q| q.topic == topic).count()
}

/// A listener counting deliveries per body.
fn counting(seen: &Rc<RefCell<HashMap<Vec<u8>, u32>>>) -> Listener {
    let seen = seen.clone();
    Rc::new(move |m: &Received| {
        *seen.borrow_mut().entry(m.body.clone()).or_default() += 1;
        ConsumeStatus::Success
    })
}

#[test]
fn ten_thousand_messages_survive_a_join_and_a_leave() {
    let s = standalone();
    let topic = "FlowRebalance";
    update_topic(&s.ns, &s.broker, topic, 8);
    let ns = addrs(&[&s.ns]);
    let (a_got, b_got, dup) = on_executor(move || async move {
        routed(&ns, topic, 8).await;
        let producer = Producer::new("flow_pg", ns.clone(), Duration::from_secs(5)).unwrap();
        let send = |from: usize, to: usize| {
            let p = &producer;
            async move {
                for i in from..to {
                    p.send(&message(topic, "TagA", format!("m{i}")))
                        .await
                        .unwrap();
                }
            }
        };
        let cfg = |id: &str| {
            let mut c = ConsumerConfig::new("flow_cg", topic, "*", id);
            c.from = StartFrom::First;
            c
        };
        let (seen_a, seen_b) = (Rc::default(), Rc::default());
        let a = Consumer::new(cfg("127.0.0.1@flow-a"), ns.clone()).unwrap();
        let run_a = glommio::spawn_local({
            let (a, l) = (a.clone(), counting(&seen_a));
            async move { a.run(l, Some(Duration::from_secs(120))).await }
        });
        until(10, "a owning all 8 queues", || owned_of(&a, topic) == 8).await;
        send(0, 3_000).await;

        // b joins: the broker notifies a, both rebalance to 4 + 4.
        let b = Consumer::new(cfg("127.0.0.1@flow-b"), ns.clone()).unwrap();
        let run_b = glommio::spawn_local({
            let (b, l) = (b.clone(), counting(&seen_b));
            async move { b.run(l, Some(Duration::from_secs(120))).await }
        });
        until(10, "a 4 + b 4 queues", || {
            owned_of(&a, topic) == 4 && owned_of(&b, topic) == 4
        })
        .await;
        send(3_000, 7_000).await;

        // a leaves (commits and unregisters): b takes all 8.
        a.shutdown();
        run_a.await.unwrap();
        until(10, "b owning all 8 queues", || owned_of(&b, topic) == 8).await;
        send(7_000, 10_000).await;

        let all = |sa: &RefCell<HashMap<Vec<u8>, u32>>, sb: &RefCell<HashMap<Vec<u8>, u32>>| {
            let mut keys: Vec<Vec<u8>> = sa.borrow().keys().cloned().collect();
            keys.extend(sb.borrow().keys().cloned());
            keys.sort();
            keys.dedup();
            keys.len()
        };
        until(60, "all 10,000 messages", || {
            all(&seen_a, &seen_b) == 10_000
        })
        .await;
        b.shutdown();
        run_b.await.unwrap();
        let delivered: u32 = seen_a
            .borrow()
            .values()
            .chain(seen_b.borrow().values())
            .sum();
        let a_got = seen_a.borrow().len();
        let b_got = seen_b.borrow().len();
        (a_got, b_got, delivered as usize - all(&seen_a, &seen_b))
    });
    eprintln!("consumer a: {a_got} distinct, consumer b: {b_got} distinct, duplicates: {dup}");
    assert!(a_got > 0 && b_got > 0, "both consumers took part");
    // Handover is at least once: a few redeliveries may happen, never a flood.
    assert!(dup <= 1_000, "{dup} duplicates");
}

#[test]
fn orderly_consumers_keep_each_keys_order() {
    let s = standalone();
    let topic = "FlowOrderly";
    update_topic(&s.ns, &s.broker, topic, 4);
    let ns = addrs(&[&s.ns]);
    let (order, retried) = on_executor(move || async move {
        routed(&ns, topic, 4).await;
        // (key, seq, reconsume_times) in delivery order.
        let log: Rc<RefCell<Vec<(String, u32, i32)>>> = Rc::default();
        let failed_once = Rc::new(std::cell::Cell::new(false));
        let listener: Listener = {
            let (log, failed_once) = (log.clone(), failed_once.clone());
            Rc::new(move |m: &Received| {
                let body = String::from_utf8_lossy(&m.body).into_owned();
                let (key, seq) = body.split_once(':').unwrap();
                let seq: u32 = seq.parse().unwrap();
                log.borrow_mut()
                    .push((key.to_owned(), seq, m.reconsume_times));
                if key == "k3" && seq == 50 && !failed_once.replace(true) {
                    return ConsumeStatus::Later;
                }
                ConsumeStatus::Success
            })
        };
        let mut runs = Vec::new();
        let mut consumers = Vec::new();
        for id in ["127.0.0.1@ord-a", "127.0.0.1@ord-b"] {
            let mut cfg = ConsumerConfig::new("flow_ord", topic, "*", id);
            cfg.from = StartFrom::First;
            cfg.orderly = true;
            let c = Consumer::new(cfg, ns.clone()).unwrap();
            let (c2, l) = (c.clone(), listener.clone());
            runs.push(glommio::spawn_local(async move {
                c2.run(l, Some(Duration::from_secs(120))).await
            }));
            consumers.push(c);
        }
        until(20, "2 + 2 locked queues", || {
            consumers.iter().all(|c| owned_of(c, topic) == 2)
        })
        .await;
        let producer = Producer::new("flow_ord_pg", ns.clone(), Duration::from_secs(5)).unwrap();
        for seq in 0..100u32 {
            for k in 0..8usize {
                let m = message(topic, "TagA", format!("k{k}:{seq}"));
                producer.send_by_key(&m, &format!("k{k}")).await.unwrap();
            }
        }
        until(60, "800 deliveries", || log.borrow().len() >= 801).await;
        for c in &consumers {
            c.shutdown();
        }
        for r in runs {
            r.await.unwrap();
        }
        let mut order: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut retried = None;
        for (key, seq, times) in log.borrow().iter() {
            order.entry(key.clone()).or_default().push(*seq);
            if times > &0 {
                retried = Some((key.clone(), *seq, *times));
            }
        }
        (order, retried)
    });
    assert_eq!(order.len(), 8);
    for (key, seqs) in &order {
        let mut expected: Vec<u32> = (0..100).collect();
        if key == "k3" {
            // The failed message is delivered again in place, before anything after it.
            expected.insert(51, 50);
        }
        assert_eq!(seqs, &expected, "order of {key}");
    }
    assert_eq!(retried, Some(("k3".to_string(), 50, 1)));
}

#[test]
fn failed_messages_are_retried_then_dead_lettered() {
    let levels = ["1s"; 18].join(" ");
    let s = standalone_with(&format!("messageDelayLevel={levels}"));
    let topic = "FlowRetry";
    update_topic(&s.ns, &s.broker, topic, 2);
    let ns = addrs(&[&s.ns]);
    let (deliveries, dlq) = on_executor(move || async move {
        routed(&ns, topic, 2).await;
        // body -> (topic, reconsume_times) per delivery.
        let log: Rc<RefCell<Deliveries>> = Rc::default();
        let listener: Listener = {
            let log = log.clone();
            Rc::new(move |m: &Received| {
                let body = String::from_utf8_lossy(&m.body).into_owned();
                log.borrow_mut()
                    .entry(body)
                    .or_default()
                    .push((m.topic.clone(), m.reconsume_times));
                if m.tags == "Bad" {
                    ConsumeStatus::Later
                } else {
                    ConsumeStatus::Success
                }
            })
        };
        let mut cfg = ConsumerConfig::new("flow_retry", topic, "*", "127.0.0.1@retry");
        cfg.from = StartFrom::First;
        cfg.max_reconsume_times = Some(2);
        let c = Consumer::new(cfg, ns.clone()).unwrap();
        let run = glommio::spawn_local({
            let c = c.clone();
            async move { c.run(listener, Some(Duration::from_secs(120))).await }
        });
        let producer = Producer::new("flow_retry_pg", ns.clone(), Duration::from_secs(5)).unwrap();
        for i in 0..5 {
            producer
                .send(&message(topic, "Good", format!("good{i}")))
                .await
                .unwrap();
        }
        for i in 0..3 {
            producer
                .send(&message(topic, "Bad", format!("bad{i}")))
                .await
                .unwrap();
        }
        // Delivered at reconsume 0, 1, 2; then the broker dead-letters it.
        until(60, "three deliveries of every bad message", || {
            (0..3).all(|i| log.borrow().get(&format!("bad{i}")).map(Vec::len) == Some(3))
        })
        .await;
        let dlq_topic = "%DLQ%flow_retry";
        routed(&ns, dlq_topic, 1).await;
        let pull = PullConsumer::new("dlq_reader", ns.clone()).unwrap();
        let q: QueueAt = pull.queues(dlq_topic).await.unwrap().remove(0);
        let sub = SubscriptionData::from_expression(dlq_topic, "*", 0);
        let mut dlq = Vec::new();
        let end = Instant::now() + Duration::from_secs(20);
        while dlq.len() < 3 && Instant::now() < end {
            let r = pull
                .pull(&q, &sub, dlq.len() as i64, 32, PullOptions::default())
                .await
                .unwrap();
            dlq.extend(
                r.messages
                    .iter()
                    .map(|m| String::from_utf8_lossy(&m.body).into_owned()),
            );
            glommio::timer::sleep(Duration::from_millis(200)).await;
        }
        // Nothing more arrives once dead-lettered.
        glommio::timer::sleep(Duration::from_secs(3)).await;
        c.shutdown();
        run.await.unwrap();
        dlq.sort();
        let deliveries = log.borrow().clone();
        (deliveries, dlq)
    });
    for i in 0..5 {
        assert_eq!(
            deliveries[&format!("good{i}")],
            vec![(topic.to_string(), 0)],
            "good{i}"
        );
    }
    for i in 0..3 {
        let expected: Vec<(String, i32)> = (0..3).map(|t| (topic.to_string(), t)).collect();
        assert_eq!(deliveries[&format!("bad{i}")], expected, "bad{i}");
    }
    assert_eq!(dlq, vec!["bad0", "bad1", "bad2"]);
}

#[test]
fn clients_fail_over_to_the_second_nameserver() {
    let ns1 = start_namesrv("");
    let ns2 = start_namesrv("");
    let list = format!("{};{}", ns1.addr, ns2.addr);
    let broker = start_broker(None, &format!("namesrvAddr={list}"));
    let (a1, a2, b) = (ns1.addr, ns2.addr, broker.addr.to_string());
    update_topic(&a2.to_string(), &b, "FlowFailoverOld", 2);
    let ns = vec![a1, a2];
    let got = on_executor(move || async move {
        routed(&ns, "FlowFailoverOld", 2).await;
        routed(&[a1], "FlowFailoverOld", 2).await;
        let seen: Rc<RefCell<HashMap<Vec<u8>, u32>>> = Rc::default();
        let mut cfg = ConsumerConfig::new("flow_fo", "FlowFailoverOld", "*", "127.0.0.1@fo");
        cfg.from = StartFrom::First;
        let c = Consumer::new(cfg, ns.clone()).unwrap();
        let run = glommio::spawn_local({
            let (c, l) = (c.clone(), counting(&seen));
            async move { c.run(l, Some(Duration::from_secs(120))).await }
        });
        let producer = Producer::new("flow_fo_pg", ns.clone(), Duration::from_secs(5)).unwrap();
        for i in 0..50 {
            producer
                .send(&message("FlowFailoverOld", "T", format!("before{i}")))
                .await
                .unwrap();
        }
        until(20, "50 messages before the failover", || {
            seen.borrow().len() == 50
        })
        .await;

        // The first nameserver dies; a topic made now is routed only through the second.
        drop(ns1);
        let out = Command::new(coremq_bin())
            .args(["admin", "updateTopic", "-b", &b, "-t", "FlowFailoverNew"])
            .args(["-r", "2", "-w", "2", "-n", &list])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        routed(&ns, "FlowFailoverNew", 2).await;
        for i in 0..50 {
            producer
                .send(&message("FlowFailoverOld", "T", format!("after{i}")))
                .await
                .unwrap();
            producer
                .send(&message("FlowFailoverNew", "T", format!("new{i}")))
                .await
                .unwrap();
        }
        let seen_new: Rc<RefCell<HashMap<Vec<u8>, u32>>> = Rc::default();
        let mut cfg = ConsumerConfig::new("flow_fo", "FlowFailoverNew", "*", "127.0.0.1@fo2");
        cfg.from = StartFrom::First;
        let c2 = Consumer::new(cfg, ns.clone()).unwrap();
        let new_got = c2
            .run(
                {
                    let seen_new = seen_new.clone();
                    Rc::new(move |m: &Received| {
                        seen_new.borrow_mut().insert(m.body.clone(), 1);
                        if seen_new.borrow().len() == 50 {
                            ConsumeStatus::Stop
                        } else {
                            ConsumeStatus::Success
                        }
                    })
                },
                Some(Duration::from_secs(30)),
            )
            .await;
        new_got.unwrap();
        until(20, "100 messages on the old topic", || {
            seen.borrow().len() == 100
        })
        .await;
        c.shutdown();
        run.await.unwrap();
        let (old, new) = (seen.borrow().len(), seen_new.borrow().len());
        (old, new)
    });
    assert_eq!(got, (100, 50));
}

#[test]
fn batch_oneway_and_async_sends_all_arrive() {
    let s = standalone();
    let topic = "FlowSends";
    update_topic(&s.ns, &s.broker, topic, 2);
    let ns = addrs(&[&s.ns]);
    let (bodies, batch_offsets, async_ok) = on_executor(move || async move {
        routed(&ns, topic, 2).await;
        let producer =
            Rc::new(Producer::new("flow_sends_pg", ns.clone(), Duration::from_secs(5)).unwrap());
        // One batch of 10: one queue, consecutive offsets, ten unique ids.
        let batch: Vec<Message> = (0..10)
            .map(|i| message(topic, "B", format!("batch{i}")))
            .collect();
        let r = producer.send_batch(&batch).await.unwrap();
        assert_eq!(r.msg_id.split(',').count(), 10, "{r}");
        assert_eq!(r.offset_msg_id.split(',').count(), 10, "{r}");
        let batch_offsets = (r.queue.queue_id, r.queue_offset);
        // Mixed topics are refused before anything is sent.
        let mixed = [
            message(topic, "B", "x".into()),
            message("Other", "B", "y".into()),
        ];
        assert!(producer.send_batch(&mixed).await.is_err());
        for i in 0..20 {
            producer
                .send_oneway(&message(topic, "O", format!("oneway{i}")))
                .await
                .unwrap();
        }
        let ok = Rc::new(std::cell::Cell::new(0));
        for i in 0..500 {
            let ok = ok.clone();
            producer
                .send_async(message(topic, "A", format!("async{i}")), move |r| {
                    if r.is_ok() {
                        ok.set(ok.get() + 1);
                    }
                })
                .await;
        }
        producer.flush_async().await;
        let async_ok = ok.get();

        // Read every queue back with the pull consumer.
        let pull = PullConsumer::new("flow_sends_reader", ns.clone()).unwrap();
        let sub = SubscriptionData::from_expression(topic, "*", 0);
        let mut bodies = Vec::new();
        let end = Instant::now() + Duration::from_secs(20);
        while bodies.len() < 530 && Instant::now() < end {
            bodies.clear();
            for q in pull.queues(topic).await.unwrap() {
                let mut offset = 0;
                loop {
                    let r = pull
                        .pull(&q, &sub, offset, 32, PullOptions::default())
                        .await
                        .unwrap();
                    if r.messages.is_empty() {
                        break;
                    }
                    bodies.extend(
                        r.messages
                            .iter()
                            .map(|m| String::from_utf8_lossy(&m.body).into_owned()),
                    );
                    offset = r.next_begin_offset;
                }
            }
        }
        bodies.sort();
        (bodies, batch_offsets, async_ok)
    });
    assert_eq!(async_ok, 500);
    let mut expected: Vec<String> = (0..10).map(|i| format!("batch{i}")).collect();
    expected.extend((0..20).map(|i| format!("oneway{i}")));
    expected.extend((0..500).map(|i| format!("async{i}")));
    expected.sort();
    assert_eq!(bodies, expected);
    assert_eq!(batch_offsets.1, 0, "the batch went first to an empty queue");
}

/// A consumer with CONSUME_FROM_LAST_OFFSET started before its topic exists gets the
/// topic's first messages: the broker answers its offset query with 0 on a young queue
/// (RocketMQ 4.9's rule), and the consumer starts there instead of at the queue's end.
#[test]
fn a_consumer_started_before_its_topic_gets_the_first_messages() {
    let s = standalone();
    let topic = "FlowBornLater";
    let ns = addrs(&[&s.ns]);
    let got = on_executor(move || async move {
        let seen: Rc<RefCell<HashMap<Vec<u8>, u32>>> = Rc::default();
        let mut cfg = ConsumerConfig::new("flow_young", topic, "*", "127.0.0.1@young");
        cfg.from = StartFrom::Last;
        let c = Consumer::new(cfg, ns.clone()).unwrap();
        let run = glommio::spawn_local({
            let (c, l) = (c.clone(), counting(&seen));
            async move { c.run(l, Some(Duration::from_secs(120))).await }
        });
        let producer = Producer::new("flow_young_pg", ns.clone(), Duration::from_secs(5)).unwrap();
        for i in 0..50 {
            producer
                .send(&message(topic, "TagA", format!("young-{i}")))
                .await
                .unwrap();
        }
        until(60, "the topic's first 50 messages", || {
            seen.borrow().len() == 50
        })
        .await;
        c.shutdown();
        run.await.unwrap();
        let n = seen.borrow().len();
        n
    });
    assert_eq!(got, 50);
}
