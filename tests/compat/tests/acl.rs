//! rocketmq-client-rust 1.0.0 signing with its own ACL hook (`AclClientRPCHook` over
//! `SessionCredentials`, the port of RocketMQ's Java hook) against coremq with
//! aclEnable=true: a signed producer and push consumer send and consume; the same client
//! without credentials is refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use coremq_compat::{client_config, client_runtime, Cluster, Record, Seen};
use rocketmq_client_rust::{
    AclClientRPCHook, DefaultMQProducer, DefaultMQPushConsumer, MQPushConsumer, SessionCredentials,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_single::Message;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const ACL: &str = "\
globalWhiteRemoteAddresses: [10.10.103.*]
accounts:
  - accessKey: compat-user
    secretKey: compat-secret-1
    topicPerms: [compat_acl=PUB|SUB]
    groupPerms: [compat_acl_group=SUB]
";

fn hook() -> Arc<AclClientRPCHook> {
    Arc::new(AclClientRPCHook::new(SessionCredentials::with_keys(
        "compat-user",
        "compat-secret-1",
    )))
}

fn cluster() -> Cluster {
    Cluster::start_prepared("aclEnable=true", |dir| {
        std::fs::write(dir.join("plain_acl.yml"), ACL).unwrap();
    })
}

async fn producer(ns: &str, group: &str, signed: bool) -> DefaultMQProducer {
    let mut b = DefaultMQProducer::builder(client_runtime("producer"))
        .client_config(client_config(ns, &format!("{group}-p")))
        .producer_group(group.to_string())
        .name_server_addr(ns.to_string())
        .send_msg_timeout(5_000);
    if signed {
        b = b.rpc_hook(hook());
    }
    let mut p = b.build();
    p.start().await.expect("producer start");
    p
}

fn message(i: usize) -> Message {
    Message::builder()
        .topic("compat_acl")
        .tags("TagA")
        .body_slice(format!("acl-{i}").as_bytes())
        .build_unchecked()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_client_sends_and_consumes() {
    let _one = SERIAL.lock().await;
    let c = cluster();
    let ns = c.namesrv_addr.clone();
    let p = producer(&ns, "compat_acl_pg", true).await;
    for i in 0..20 {
        let r = p.send(message(i)).await.expect("signed send");
        assert!(r.is_some());
    }

    let seen: Seen = Arc::default();
    let mut consumer = DefaultMQPushConsumer::builder(client_runtime("consumer"))
        .client_config(client_config(&ns, "compat-acl-c"))
        .consumer_group("compat_acl_group".to_string())
        .name_server_addr(ns.clone())
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .rpc_hook(Some(hook()))
        .build();
    consumer
        .subscribe("compat_acl", "*")
        .await
        .expect("subscribe");
    consumer.register_message_listener_concurrently(Record(seen.clone()));
    consumer.start().await.expect("consumer start");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let bodies: std::collections::HashSet<String> =
            seen.lock().unwrap().iter().map(|d| d.0.clone()).collect();
        if (0..20).all(|i| bodies.contains(&format!("acl-{i}"))) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the signed consumer got {} of 20 messages",
            bodies.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_client_is_refused() {
    let _one = SERIAL.lock().await;
    let c = cluster();
    let p = producer(&c.namesrv_addr, "compat_acl_unsigned", false).await;
    let err = p
        .send(message(0))
        .await
        .expect_err("an unsigned send must be refused");
    // The client redacts the broker's code and remark; its error kind says the broker
    // answered with a failure (not a timeout or a lost connection).
    let text = format!("{err:?} {err}");
    assert!(text.contains("broker.operation.failed"), "{text}");
    // What the broker answers an unsigned request.
    let r = coremq_compat::raw_call(
        &format!("127.0.0.1:{}", c.broker_port),
        30,
        &[("topic", "compat_acl"), ("queueId", "0")],
        Vec::new(),
    );
    assert_eq!(
        r.code, 16,
        "even the offset query is refused unsigned: {r:?}"
    );
}
