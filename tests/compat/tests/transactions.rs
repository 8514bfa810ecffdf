//! rocketmq-client-rust 1.0.0's TransactionMQProducer against coremq (#18): commit →
//! delivered once, rollback → never, unknown → checked back (CHECK_TRANSACTION_STATE) and
//! the listener's answer decides, a listener that never knows → dropped after
//! transactionCheckMax check-backs.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coremq_compat::{
    client_config, client_runtime, push_consumer, raw_call, Cluster, Record, Seen,
};
use rocketmq_client_rust::{
    LocalTransactionState, MQPushConsumer, TransactionListener, TransactionMQProducer,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::common::message::MessageTrait;

/// Check-backs per body.
type Checks = Arc<Mutex<HashMap<String, u32>>>;

/// Decides by the body's first word: `commit`, `rollback`, anything else "unknown"; a
/// check-back decides `late-commit` and `late-rollback` and never knows `silent`.
struct ByBody(Checks);

fn body_of(msg: &dyn MessageTrait) -> String {
    msg.get_body()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

impl TransactionListener for ByBody {
    fn execute_local_transaction(
        &self,
        msg: &dyn MessageTrait,
        _arg: Option<&(dyn Any + Send + Sync)>,
    ) -> LocalTransactionState {
        let body = body_of(msg);
        if body.starts_with("commit-") {
            LocalTransactionState::CommitMessage
        } else if body.starts_with("rollback-") {
            LocalTransactionState::RollbackMessage
        } else {
            LocalTransactionState::Unknown
        }
    }

    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        let body = body_of(msg);
        *self.0.lock().unwrap().entry(body.clone()).or_default() += 1;
        if body.starts_with("late-commit-") {
            LocalTransactionState::CommitMessage
        } else if body.starts_with("late-rollback-") {
            LocalTransactionState::RollbackMessage
        } else {
            LocalTransactionState::Unknown
        }
    }
}

/// Every delivery was committed (`commit-*` or `late-commit-*`), each exactly once, and
/// `want` were delivered.
fn assert_committed_once(seen: &Seen, want: usize) {
    let mut per_body: HashMap<String, u32> = HashMap::new();
    for (body, _, _) in seen.lock().unwrap().iter() {
        *per_body.entry(body.clone()).or_default() += 1;
    }
    assert_eq!(per_body.len(), want, "{per_body:?}");
    for (body, n) in &per_body {
        assert_eq!(*n, 1, "{body} delivered {n} times");
        assert!(
            body.starts_with("commit-") || body.starts_with("late-commit-"),
            "{body} delivered without a commit"
        );
    }
}

fn max_offset(addr: &str, topic: &str, qid: i32) -> i64 {
    let r = raw_call(
        addr,
        30,
        &[("topic", topic), ("queueId", &qid.to_string())],
        Vec::new(),
    );
    assert_eq!(r.code, 0, "{:?}", r.remark);
    r.ext.get("offset").unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transactions_commit_roll_back_and_are_checked_back() {
    let cluster = Cluster::start(
        "transactionTimeOut=1000\ntransactionCheckInterval=300\ntransactionCheckMax=3",
    );
    let ns = cluster.namesrv_addr.clone();
    let broker = format!("127.0.0.1:{}", cluster.broker_port);
    let topic = "TxCompat";

    let checks: Checks = Arc::default();
    let mut p = tx_producer(&ns, "pg-tx-compat", "tx-compat-p", &checks).await;

    let seen: Seen = Arc::default();
    let mut c = push_consumer(
        &ns,
        "g-tx-compat",
        "tx-compat-c",
        ConsumeFromWhere::ConsumeFromFirstOffset,
    );
    c.subscribe(topic, "*").await.expect("subscribe");
    c.register_message_listener_concurrently(Record(seen.clone()));
    c.start().await.expect("consumer start");

    let plan = [
        ("commit", 50),
        ("rollback", 50),
        ("late-commit", 10),
        ("late-rollback", 10),
        ("silent", 3),
    ];
    for (prefix, n) in plan {
        send_all(&p, topic, prefix, n).await;
    }

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let dropped = max_offset(&broker, "TRANS_CHECK_MAX_TIME_TOPIC", 0);
        let delivered = seen.lock().unwrap().len();
        if delivered >= 60 && dropped == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} of 60 committed delivered, {dropped} of 3 silent dropped; checks {:?}",
            checks.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // More check rounds: nothing else may be delivered or asked about.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.shutdown().await;
    p.shutdown().await;

    assert_committed_once(&seen, 60);
    let checks = checks.lock().unwrap();
    for i in 0..3 {
        assert_eq!(checks.get(&format!("silent-{i}")), Some(&3), "{checks:?}");
    }
    for i in 0..10 {
        assert!(
            checks.contains_key(&format!("late-rollback-{i}")),
            "{checks:?}"
        );
    }
    assert!(
        !checks
            .keys()
            .any(|k| k.starts_with("commit-") || k.starts_with("rollback-")),
        "a decided transaction was checked back: {checks:?}"
    );
}

/// Sends `n` transactional messages `<prefix>-<i>` to `topic`.
async fn send_all(p: &TransactionMQProducer, topic: &str, prefix: &str, n: usize) {
    for i in 0..n {
        let m = Message::builder()
            .topic(topic)
            .tags("TagTx")
            .body_slice(format!("{prefix}-{i}").as_bytes())
            .build_unchecked();
        let r = p
            .send_message_in_transaction::<(), _>(m, None)
            .await
            .expect("transactional send");
        assert!(r.send_result.is_some(), "{prefix}-{i}: no send result");
    }
}

/// A started transactional producer of `group` (instance `instance`) deciding by body.
async fn tx_producer(
    ns: &str,
    group: &str,
    instance: &str,
    checks: &Checks,
) -> TransactionMQProducer {
    let mut p = TransactionMQProducer::builder(client_runtime("tx-producer"))
        .client_config(client_config(ns, instance))
        .producer_group(group.to_string())
        .name_server_addr(ns.to_string())
        .send_msg_timeout(5_000)
        .transaction_listener(ByBody(checks.clone()))
        .build();
    p.start().await.expect("transactional producer start");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decisions_survive_a_broker_sigkill() {
    // Check-backs wait 5 s, so the kill comes between the half messages and any check; the
    // rounds go on long enough for the client's next heartbeat to the restarted broker.
    let mut cluster = Cluster::start(
        "transactionTimeOut=5000\ntransactionCheckInterval=1000\ntransactionCheckMax=100\nflushDiskType=SYNC_FLUSH",
    );
    let ns = cluster.namesrv_addr.clone();
    let broker = format!("127.0.0.1:{}", cluster.broker_port);
    let topic = "TxCompatCrash";
    let checks: Checks = Arc::default();
    let mut p = tx_producer(&ns, "pg-tx-crash", "tx-crash-p", &checks).await;
    // Decided before the kill (END_TRANSACTION stored), and undecided ("unknown").
    for (prefix, n) in [
        ("commit", 30),
        ("rollback", 30),
        ("late-commit", 30),
        ("late-rollback", 30),
    ] {
        send_all(&p, topic, prefix, n).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while (0..2)
        .map(|q| max_offset(&broker, "RMQ_SYS_TRANS_OP_HALF_TOPIC", q))
        .sum::<i64>()
        < 60
    {
        assert!(Instant::now() < deadline, "60 decisions never stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.broker.as_mut().expect("broker").kill9();
    cluster.start_broker();

    let seen: Seen = Arc::default();
    let mut c = push_consumer(
        &ns,
        "g-tx-crash",
        "tx-crash-c",
        ConsumeFromWhere::ConsumeFromFirstOffset,
    );
    c.subscribe(topic, "*").await.expect("subscribe");
    c.register_message_listener_concurrently(Record(seen.clone()));
    c.start().await.expect("consumer start");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let decided = (0..30).all(|i| {
            checks
                .lock()
                .unwrap()
                .contains_key(&format!("late-rollback-{i}"))
        });
        if seen.lock().unwrap().len() >= 60 && decided {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 60 committed delivered; checks {:?}",
            seen.lock().unwrap().len(),
            checks.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    c.shutdown().await;
    p.shutdown().await;

    assert_committed_once(&seen, 60);
    let checks = checks.lock().unwrap();
    assert!(
        !checks
            .keys()
            .any(|k| k.starts_with("commit-") || k.starts_with("rollback-")),
        "a decision stored before the kill was checked back: {checks:?}"
    );
}
