//! rocketmq-client-rust 1.0.0's SQL92 subscription (`MessageSelector::by_sql`) against a
//! real `coremq namesrv` + `coremq broker` with enablePropertyFilter=true: its push
//! consumer gets exactly the messages whose user properties match, each once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coremq_compat::{push_consumer, started_producer, Cluster, Record, Seen};
use rocketmq_client_rust::{MQPushConsumer, MessageSelector};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_single::Message;

const SENT: usize = 1_000;
const TOPIC: &str = "CompatSql";
const EXPRESSION: &str = "a BETWEEN 3 AND 6 AND (color = 'red' OR color IS NULL)";

/// Message i: property a = i % 10; color red, blue or unset by i % 3.
fn message(i: usize) -> Message {
    let mut b = Message::builder()
        .topic(TOPIC)
        .tags("TagSql")
        .body_slice(format!("sql-{i}").as_bytes())
        .raw_property("a", (i % 10).to_string())
        .expect("a user property");
    if i % 3 < 2 {
        b = b
            .raw_property("color", ["red", "blue"][i % 3])
            .expect("a user property");
    }
    b.build_unchecked()
}

fn matches(i: usize) -> bool {
    (3..=6).contains(&(i % 10)) && i % 3 != 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sql92_push_consumer_gets_exactly_the_matching_messages() {
    let cluster = Cluster::start("enablePropertyFilter=true\nautoCreateTopicEnable=true");
    let ns = cluster.namesrv_addr.clone();
    let p = started_producer(&ns, "compat_sql_producer").await;
    for i in 0..SENT {
        let r = p.send(message(i)).await.expect("send");
        assert!(r.is_some(), "message {i} was not stored");
    }
    let want: BTreeSet<String> = (0..SENT)
        .filter(|&i| matches(i))
        .map(|i| format!("sql-{i}"))
        .collect();

    let seen: Seen = Arc::default();
    let mut c = push_consumer(
        &ns,
        "compat_sql_group",
        "compat-sql-1",
        ConsumeFromWhere::ConsumeFromFirstOffset,
    );
    c.subscribe_with_selector(TOPIC, Some(MessageSelector::by_sql(EXPRESSION)))
        .await
        .expect("subscribe by SQL92");
    c.register_message_listener_concurrently(Record(seen.clone()));
    c.start().await.expect("consumer start");

    let bodies = || -> Vec<String> { seen.lock().unwrap().iter().map(|d| d.0.clone()).collect() };
    let deadline = Instant::now() + Duration::from_secs(90);
    while bodies().iter().collect::<BTreeSet<_>>().len() < want.len() {
        assert!(
            Instant::now() < deadline,
            "timed out: {} of {} matching messages delivered",
            bodies().len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Anything that should not match has had time to arrive too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = bodies();
    let unique: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(unique, want, "exactly the matching messages");
    assert_eq!(got.len(), want.len(), "each once");
    c.shutdown().await;
    drop(cluster);
}
