//! rocketmq-client-rust 1.0.0 against coremq: a push consumer with CONSUME_FROM_LAST_OFFSET
//! started before its topic exists receives the topic's first messages once a send creates
//! it. The broker answers QUERY_CONSUMER_OFFSET for the new group with 0 on a young queue
//! (RocketMQ 4.9's rule, spec trap 9); answering "not found" made the client start at the
//! queue's end and skip them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coremq_compat::{push_consumer, started_producer, Cluster, Record, Seen};
use rocketmq_client_rust::MQPushConsumer;
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_single::Message;

const MESSAGES: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consumer_started_before_its_topic_gets_the_first_messages() {
    let cluster = Cluster::start("");
    let ns = cluster.namesrv_addr.clone();
    let topic = "BornLater";

    let seen: Seen = Arc::default();
    let mut c = push_consumer(
        &ns,
        "g-young",
        "young-c",
        ConsumeFromWhere::ConsumeFromLastOffset,
    );
    c.subscribe(topic, "*").await.expect("subscribe");
    c.register_message_listener_concurrently(Record(seen.clone()));
    c.start().await.expect("consumer start");

    let mut p = started_producer(&ns, "pg-young").await;
    // The first send creates the topic; the consumer learns its route later (its own
    // route refresh and rebalance periods), by which time every message is stored.
    for i in 0..MESSAGES {
        let m = Message::builder()
            .topic(topic)
            .tags("TagA")
            .body_slice(format!("young-{i}").as_bytes())
            .build_unchecked();
        p.send(m).await.expect("send").expect("send result");
    }
    let want: HashSet<String> = (0..MESSAGES).map(|i| format!("young-{i}")).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got: HashSet<String> = seen.lock().unwrap().iter().map(|d| d.0.clone()).collect();
        if want.is_subset(&got) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {MESSAGES} first messages never delivered to a consumer started before the topic",
            want.difference(&got).count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.shutdown().await;
    p.shutdown().await;
}
