//! RocketMQ 5's official Rust SDK (crates.io `rocketmq` 5.0.0, apache/rocketmq-clients)
//! against a real `coremq namesrv` + `coremq broker` pair, on the broker's gRPC port:
//! producer → SimpleConsumer (10,000 messages, each once), FIFO message groups in order, an
//! un-acked message coming back, a timer message held until its time, transactions with a
//! Telemetry check-back, ACL signatures, and messages shared with a 4.x client
//! (rocketmq-client-rust) both ways. The Python SDK's cases are in tests/grpc_sdk.rs.
//!
//! SDK 5.0.0 has no PushConsumer and no ChangeInvisibleDuration call; those are covered
//! with the Python SDK.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coremq_compat::{delivery, free_port, push_consumer, started_producer, Cluster};
use rocketmq::conf::{ClientOption, ProducerOption, SimpleConsumerOption};
use rocketmq::model::common::{FilterExpression, FilterType};
use rocketmq::model::message::{MessageBuilder, MessageView};
use rocketmq::model::transaction::{Transaction, TransactionResolution};
use rocketmq::{Producer, SimpleConsumer};
use rocketmq_client_rust::{
    ClientResult, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, MQPushConsumer,
    MessageListenerConcurrently,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message as Message4;

/// One broker and its clients at a time: these share a 2-core machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a receive waits on the broker for a message (the SDK's grpc-timeout too).
const LONG_POLL: Duration = Duration::from_secs(3);

struct Grpc {
    cluster: Cluster,
    endpoint: String,
}

fn grpc_cluster(extra: &str) -> Grpc {
    grpc_cluster_prepared(extra, |_| {})
}

fn grpc_cluster_prepared(extra: &str, prepare: impl FnOnce(&std::path::Path)) -> Grpc {
    let port = free_port();
    let cluster = Cluster::start_prepared(&format!("grpcServerPort={port}\n{extra}"), prepare);
    Grpc {
        cluster,
        endpoint: format!("127.0.0.1:{port}"),
    }
}

impl Grpc {
    /// `updateTopic` with `queues` queues and optional `-a` attributes, signed as the ACL
    /// test's admin (ignored when ACL is off).
    fn topic(&self, topic: &str, queues: u32, attributes: Option<&str>) {
        let n = queues.to_string();
        let broker = format!("127.0.0.1:{}", self.cluster.broker_port);
        let mut cmd = std::process::Command::new(coremq_compat::coremq_bin());
        cmd.args(["admin", "updateTopic", "-n", &self.cluster.namesrv_addr])
            .args(["-b", &broker, "-t", topic, "-r", &n, "-w", &n])
            .env("COREMQ_ACCESS_KEY", "rustAdmin")
            .env("COREMQ_SECRET_KEY", "rustAdminSecret");
        if let Some(a) = attributes {
            cmd.args(["-a", a]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    fn client_option(&self, keys: Option<(&str, &str)>) -> ClientOption {
        let mut o = ClientOption::default();
        o.set_access_url(self.endpoint.clone());
        o.set_enable_tls(false);
        o.set_timeout(Duration::from_secs(10));
        o.set_long_polling_timeout(LONG_POLL);
        if let Some((ak, sk)) = keys {
            o.set_access_key(ak);
            o.set_secret_key(sk);
        }
        o
    }

    async fn producer(&self, topic: &str, keys: Option<(&str, &str)>) -> Producer {
        let mut po = ProducerOption::default();
        po.set_topics(vec![topic]);
        let mut p = Producer::new(po, self.client_option(keys)).expect("producer");
        p.start().await.expect("producer start");
        p
    }

    async fn consumer(
        &self,
        topic: &str,
        group: &str,
        keys: Option<(&str, &str)>,
    ) -> SimpleConsumer {
        let mut co = SimpleConsumerOption::default();
        co.set_topics(vec![topic]);
        co.set_consumer_group(group);
        let mut c = SimpleConsumer::new(co, self.client_option(keys)).expect("consumer");
        c.start().await.expect("consumer start");
        c
    }
}

fn all() -> FilterExpression {
    FilterExpression::new(FilterType::Tag, "*")
}

fn body(m: &MessageView) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The invisible time of receives that ack what they get.
const INVISIBLE_WHILE_ACKED: Duration = Duration::from_secs(30);

/// One receive (up to 32 messages, long-polling up to [`LONG_POLL`]).
async fn receive(c: &SimpleConsumer, topic: &str, invisible: Duration) -> Vec<MessageView> {
    c.receive_with(topic, &all(), 32, invisible)
        .await
        .expect("receive")
}

/// Receives until a message arrives (≤ `limit`, else panics naming `what`); that message.
async fn next_one(
    c: &SimpleConsumer,
    topic: &str,
    invisible: Duration,
    limit: Duration,
    what: &str,
) -> MessageView {
    let deadline = Instant::now() + limit;
    loop {
        assert!(Instant::now() < deadline, "{what} never arrived");
        if let Some(m) = receive(c, topic, invisible).await.into_iter().next() {
            return m;
        }
    }
}

/// Receives and acks until `want` messages arrived or `limit` passed; what arrived, in
/// order.
async fn drain(c: &SimpleConsumer, topic: &str, want: usize, limit: Duration) -> Vec<MessageView> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        for m in receive(c, topic, INVISIBLE_WHILE_ACKED).await {
            c.ack(&m).await.expect("ack");
            got.push(m);
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_messages_from_the_rust_sdk_each_received_once() {
    let _g = SERIAL.lock().await;
    const N: usize = 10_000;
    const SENDERS: usize = 16;
    let b = grpc_cluster("shardCount=2");
    b.topic("RustRound", 8, None);
    let p = Arc::new(b.producer("RustRound", None).await);
    let mut tasks = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        let p = p.clone();
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for i in (s..N).step_by(SENDERS) {
                let m = MessageBuilder::builder()
                    .set_topic("RustRound")
                    .set_tag(format!("T{}", i % 3))
                    .set_keys(vec![format!("k{i}")])
                    .set_body(format!("m-{i}").into_bytes())
                    .build()
                    .unwrap();
                ids.push((i, p.send(m).await.expect("send").message_id().to_owned()));
            }
            ids
        });
    }
    let mut sent = HashMap::new();
    while let Some(r) = tasks.join_next().await {
        for (i, id) in r.unwrap() {
            sent.insert(id, i);
        }
    }
    assert_eq!(sent.len(), N, "every send got its own message id");

    let c = b.consumer("RustRound", "RustRoundGroup", None).await;
    let got = drain(&c, "RustRound", N, Duration::from_secs(300)).await;
    let mut seen = HashSet::new();
    for m in &got {
        let i = *sent
            .get(m.message_id())
            .unwrap_or_else(|| panic!("an id never sent: {}", m.message_id()));
        assert!(seen.insert(i), "m-{i} delivered twice");
        assert_eq!(body(m), format!("m-{i}"));
        assert_eq!(m.tag(), Some(format!("T{}", i % 3).as_str()));
        assert_eq!(m.keys(), [format!("k{i}")]);
        assert_eq!(m.delivery_attempt(), 1);
    }
    assert_eq!(seen.len(), N, "{} of {N} received", seen.len());
    // Everything acked: nothing comes back.
    let again = receive(&c, "RustRound", INVISIBLE_WHILE_ACKED).await;
    assert!(again.is_empty(), "{} acked messages came back", again.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifo_message_groups_from_the_rust_sdk_arrive_in_order() {
    let _g = SERIAL.lock().await;
    const GROUPS: usize = 20;
    const EACH: usize = 25;
    let b = grpc_cluster("");
    b.topic("RustFifo", 4, Some("+message.type=FIFO"));
    let p = b.producer("RustFifo", None).await;
    for i in 0..EACH {
        for g in 0..GROUPS {
            let m = MessageBuilder::fifo_message_builder(
                "RustFifo",
                format!("{g}:{i}").into_bytes(),
                format!("group-{g}"),
            )
            .build()
            .unwrap();
            p.send(m).await.expect("send");
        }
    }
    let c = b.consumer("RustFifo", "RustFifoGroup", None).await;
    let got = drain(&c, "RustFifo", GROUPS * EACH, Duration::from_secs(120)).await;
    let mut next: BTreeMap<usize, usize> = BTreeMap::new();
    for m in &got {
        let text = body(m);
        let (g, i) = text.split_once(':').unwrap();
        let (g, i): (usize, usize) = (g.parse().unwrap(), i.parse().unwrap());
        assert_eq!(m.message_group(), Some(format!("group-{g}").as_str()));
        let want = next.entry(g).or_default();
        assert_eq!(i, *want, "group {g}: got {i} before {want}");
        *want += 1;
    }
    assert_eq!(got.len(), GROUPS * EACH);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unacked_message_comes_back_after_its_invisible_time() {
    let _g = SERIAL.lock().await;
    let b = grpc_cluster("");
    b.topic("RustRedeliver", 2, None);
    let p = b.producer("RustRedeliver", None).await;
    let m = MessageBuilder::builder()
        .set_topic("RustRedeliver")
        .set_body(b"again".to_vec())
        .build()
        .unwrap();
    let id = p.send(m).await.expect("send").message_id().to_owned();
    let c = b
        .consumer("RustRedeliver", "RustRedeliverGroup", None)
        .await;
    let invisible = Duration::from_secs(2);
    let limit = Duration::from_secs(20);
    let first = next_one(&c, "RustRedeliver", invisible, limit, "the message").await;
    let taken = Instant::now();
    assert_eq!(first.message_id(), id);
    assert_eq!(first.delivery_attempt(), 1);
    // Not acked: invisible for 2 s, then back with the next attempt.
    let second = next_one(
        &c,
        "RustRedeliver",
        INVISIBLE_WHILE_ACKED,
        limit,
        "the redelivery",
    )
    .await;
    let after = taken.elapsed();
    assert_eq!(second.message_id(), id);
    assert_eq!(second.delivery_attempt(), 2);
    assert!(
        after >= Duration::from_millis(1900),
        "back before its invisible time: {after:?}"
    );
    // The old handle no longer acks; the new one does, for good.
    assert!(c.ack(&first).await.is_err(), "the stale handle acked");
    c.ack(&second).await.expect("ack");
    tokio::time::sleep(invisible + Duration::from_millis(500)).await;
    let again = receive(&c, "RustRedeliver", INVISIBLE_WHILE_ACKED).await;
    assert!(again.is_empty(), "the acked message came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delay_message_from_the_rust_sdk_arrives_at_its_time() {
    let _g = SERIAL.lock().await;
    let b = grpc_cluster("");
    b.topic("RustDelay", 2, Some("+message.type=DELAY"));
    let p = b.producer("RustDelay", None).await;
    let c = b.consumer("RustDelay", "RustDelayGroup", None).await;
    // The SDK takes whole seconds since the epoch: due at the start of a second ≥ 3 s on.
    let due_s = now_ms() / 1000 + 4;
    let m = MessageBuilder::delay_message_builder("RustDelay", b"later".to_vec(), due_s)
        .build()
        .unwrap();
    p.send(m).await.expect("send");
    let limit = Duration::from_secs(30);
    let m = next_one(
        &c,
        "RustDelay",
        INVISIBLE_WHILE_ACKED,
        limit,
        "the delay message",
    )
    .await;
    let at_ms = now_ms();
    c.ack(&m).await.expect("ack");
    let late_ms = at_ms - due_s * 1000;
    assert!(late_ms >= 0, "received {}ms before its time", -late_ms);
    assert!(late_ms < 1000, "received {late_ms}ms after its time");
    assert_eq!(m.delivery_timestamp(), Some(due_s));
    assert_eq!(body(&m), "later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rust_sdk_transactions_commit_roll_back_and_are_checked_back() {
    let _g = SERIAL.lock().await;
    let b = grpc_cluster("transactionCheckInterval=1000\ntransactionTimeOut=2000");
    b.topic("RustTx", 2, Some("+message.type=TRANSACTION"));
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let checker_asked = asked.clone();
    let mut po = ProducerOption::default();
    po.set_topics(vec!["RustTx"]);
    let mut p = Producer::new_transaction_producer(
        po,
        b.client_option(None),
        Box::new(move |_tx_id, m: MessageView| {
            let text = body(&m);
            checker_asked.lock().unwrap().push(text.clone());
            if text == "orphan" {
                TransactionResolution::COMMIT
            } else {
                TransactionResolution::ROLLBACK
            }
        }),
    )
    .expect("transaction producer");
    p.start().await.expect("producer start");
    let tx = |text: &str| {
        MessageBuilder::transaction_message_builder("RustTx", text.as_bytes().to_vec())
            .build()
            .unwrap()
    };
    let c = b.consumer("RustTx", "RustTxGroup", None).await;
    p.send_transaction_message(tx("commit-me"))
        .await
        .expect("half")
        .commit()
        .await
        .expect("commit");
    p.send_transaction_message(tx("roll-me-back"))
        .await
        .expect("half")
        .rollback()
        .await
        .expect("rollback");
    // Neither committed nor rolled back: the broker asks the producer over Telemetry.
    let orphan = p
        .send_transaction_message(tx("orphan"))
        .await
        .expect("half");
    drop(orphan);

    let got = drain(&c, "RustTx", 2, Duration::from_secs(60)).await;
    let mut bodies: Vec<String> = got.iter().map(body).collect();
    bodies.sort();
    assert_eq!(bodies, ["commit-me", "orphan"]);
    // Nothing else arrives (the rollback stays out).
    let more = drain(&c, "RustTx", 1, Duration::from_secs(4)).await;
    assert!(
        more.is_empty(),
        "{:?}",
        more.iter().map(body).collect::<Vec<_>>()
    );
    assert_eq!(
        *asked.lock().unwrap(),
        ["orphan"],
        "only the orphan is checked back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acl_refuses_the_unsigned_rust_sdk_and_takes_its_signature() {
    let _g = SERIAL.lock().await;
    let acl = "accounts:\n  - accessKey: rustAdmin\n    secretKey: rustAdminSecret\n    admin: true\n  - accessKey: rustUser\n    secretKey: rustSecret1234\n    defaultTopicPerm: DENY\n    defaultGroupPerm: DENY\n    topicPerms: [AclRust=PUB|SUB]\n    groupPerms: [AclRustGroup=SUB]\n";
    let b = grpc_cluster_prepared("aclEnable=true", |dir| {
        std::fs::write(dir.join("plain_acl.yml"), acl).unwrap();
    });
    b.topic("AclRust", 2, None);
    b.topic("AclRustOther", 2, None);

    // Unsigned: the route prefetch at start is refused.
    let mut po = ProducerOption::default();
    po.set_topics(vec!["AclRust"]);
    let mut unsigned = Producer::new(po, b.client_option(None)).expect("producer");
    let err = unsigned
        .start()
        .await
        .expect_err("an unsigned client started");
    let text = format!("{err:?}");
    assert!(
        text.contains("PERMISSION_DENIED") || text.contains("PermissionDenied"),
        "{text}"
    );

    let keys = Some(("rustUser", "rustSecret1234"));
    let p = b.producer("AclRust", keys).await;
    let m = MessageBuilder::builder()
        .set_topic("AclRust")
        .set_body(b"signed".to_vec())
        .build()
        .unwrap();
    let id = p
        .send(m)
        .await
        .expect("signed send")
        .message_id()
        .to_owned();
    let c = b.consumer("AclRust", "AclRustGroup", keys).await;
    let got = drain(&c, "AclRust", 1, Duration::from_secs(30)).await;
    assert_eq!(got.iter().map(|m| m.message_id()).collect::<Vec<_>>(), [id]);

    // A topic the account has no permission on.
    let m = MessageBuilder::builder()
        .set_topic("AclRustOther")
        .set_body(b"denied".to_vec())
        .build()
        .unwrap();
    let err = p.send(m).await.expect_err("sent to a topic without PUB");
    let text = format!("{err:?}");
    assert!(
        text.contains("AclRustOther"),
        "the refusal names the topic: {text}"
    );
}

/// (UNIQ_KEY, body, tag, KEYS) of each 4.x delivery.
type Seen4 = Arc<Mutex<Vec<(String, String, String, String)>>>;

struct Record4(Seen4);

impl MessageListenerConcurrently for Record4 {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _ctx: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        let mut seen = self.0.lock().unwrap();
        for m in msgs {
            let prop = |name: &str| {
                m.properties()
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default()
            };
            let (body, tag, _) = delivery(m);
            seen.push((prop("UNIQ_KEY"), body, tag, prop("KEYS")));
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rust_sdk_and_a_4x_client_share_messages_both_ways() {
    let _g = SERIAL.lock().await;
    const N: usize = 20;
    let b = grpc_cluster("");
    b.topic("RustShared", 4, None);
    let ns = b.cluster.namesrv_addr.clone();

    // 4.x → 5.x.
    let mut p4 = started_producer(&ns, "pg-shared").await;
    let mut sent4 = HashMap::new();
    for i in 0..N {
        let m = Message4::builder()
            .topic("RustShared")
            .tags("From4")
            .key(format!("k4-{i}"))
            .body_slice(format!("four-{i}").as_bytes())
            .build_unchecked();
        let r = p4.send(m).await.expect("send").expect("a send result");
        let id = r.msg_id.clone().expect("a msgId").to_string();
        sent4.insert(id, i);
    }
    let c5 = b.consumer("RustShared", "RustSharedFive", None).await;
    let got = drain(&c5, "RustShared", N, Duration::from_secs(60)).await;
    assert_eq!(got.len(), N);
    for m in &got {
        let i = sent4[m.message_id()];
        assert_eq!(body(m), format!("four-{i}"));
        assert_eq!(m.tag(), Some("From4"));
        assert_eq!(m.keys(), [format!("k4-{i}")]);
    }

    // 5.x → 4.x.
    let seen: Seen4 = Arc::default();
    let mut c4 = push_consumer(
        &ns,
        "RustSharedFour",
        "shared-four",
        ConsumeFromWhere::ConsumeFromFirstOffset,
    );
    c4.subscribe("RustShared", "From5")
        .await
        .expect("subscribe");
    c4.register_message_listener_concurrently(Record4(seen.clone()));
    c4.start().await.expect("consumer start");
    let p5 = b.producer("RustShared", None).await;
    let mut sent5 = HashMap::new();
    for i in 0..N {
        let m = MessageBuilder::builder()
            .set_topic("RustShared")
            .set_tag("From5")
            .set_keys(vec![format!("k5-{i}")])
            .set_body(format!("five-{i}").into_bytes())
            .build()
            .unwrap();
        sent5.insert(p5.send(m).await.expect("send").message_id().to_owned(), i);
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    while seen.lock().unwrap().len() < N {
        assert!(
            Instant::now() < deadline,
            "{} of {N} reached the 4.x consumer",
            seen.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = seen.lock().unwrap().clone();
    let ids: HashSet<&String> = seen.iter().map(|s| &s.0).collect();
    assert_eq!(ids.len(), N, "each once");
    for (id, body, tag, keys) in &seen {
        let i = sent5[id];
        assert_eq!(body, &format!("five-{i}"));
        assert_eq!(tag, "From5");
        assert_eq!(keys, &format!("k5-{i}"));
    }
    c4.shutdown().await;
    p4.shutdown().await;
}
