//! rocketmq-client-rust 1.0.0's `queryMessage` (QUERY_MESSAGE by key) against the real
//! `coremq` processes: each key finds its message across both shards, a time range before
//! the sends finds none, and an unknown key is the client's "no message" error.

use std::time::{SystemTime, UNIX_EPOCH};

use coremq_compat::{started_producer, Cluster};
use rocketmq_model::common::message::message_single::Message;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn query_message_by_key_finds_each_message() {
    const N: usize = 200;
    let cluster = Cluster::start("shardCount=2\n");
    let ns = cluster.namesrv_addr.clone();
    let topic = "QueryByKey";
    let mut p = started_producer(&ns, "pg-query").await;
    let t0 = now_ms();
    for i in 0..N {
        let m = Message::builder()
            .topic(topic)
            .tags("TagA")
            .key(format!("qk-{i}"))
            .body_slice(format!("query-{i}").as_bytes())
            .build_unchecked();
        p.send(m).await.unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
    for i in 0..N {
        let r = p
            .query_message(topic, &format!("qk-{i}"), 32, 0, i64::MAX as u64)
            .await
            .unwrap_or_else(|e| panic!("query qk-{i}: {e}"));
        let bodies: Vec<String> = r
            .message_list()
            .iter()
            .map(|m| String::from_utf8_lossy(&m.body().unwrap_or_default()).into_owned())
            .collect();
        assert_eq!(bodies, vec![format!("query-{i}")], "qk-{i}");
    }
    assert!(
        p.query_message(topic, "qk-3", 32, 0, t0 - 1).await.is_err(),
        "a range before the sends finds nothing"
    );
    assert!(p
        .query_message(topic, "no-such-key", 32, 0, i64::MAX as u64)
        .await
        .is_err());
}
