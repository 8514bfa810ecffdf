//! rocketmq-client-rust 1.0.0's request-reply against coremq: `request` on one producer, a
//! push consumer answering with `MessageUtil::create_reply_message` through another. The
//! broker pushes each reply (SEND_REPLY_MESSAGE_V2 in, PUSH_REPLY_MESSAGE_TO_CLIENT out) to
//! the requester's connection; a request nobody answers times out; a reply to a requester
//! that is gone is refused with RocketMQ's remark (and stored).

use std::time::{Duration, Instant};

use coremq_compat::{push_consumer, started_producer, Cluster};
use rocketmq_client_rust::{
    ClientResult, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, DefaultMQProducer,
    MQPushConsumer, MessageListenerConcurrently, MessageUtil,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::common::message::MessageTrait;

const REQUESTS: usize = 1_000;

/// Hands each request to the task that answers it.
struct Inbox(tokio::sync::mpsc::UnboundedSender<MessageExt>);

impl MessageListenerConcurrently for Inbox {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _ctx: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        for m in msgs {
            let _ = self.0.send((*m).clone());
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

fn request(topic: &str, body: &str) -> Message {
    Message::builder()
        .topic(topic)
        .tags("TagA")
        .body_slice(body.as_bytes())
        .build_unchecked()
}

fn body_of(m: &dyn MessageTrait) -> String {
    m.get_body()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// Asks and waits (≤ `timeout_ms` + 5 s) for the reply's body. Through the callback API:
/// rocketmq-client-rust 1.0.0's blocking `request` waits on a `Notify` woken with
/// `notify_waiters`, so a reply that arrives before it starts waiting (a broker answering
/// within the send's own round trip) is lost and the request times out; its callback path
/// has no such race.
async fn ask(
    p: &DefaultMQProducer,
    topic: &str,
    body: &str,
    timeout_ms: u64,
) -> Result<String, String> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    p.request_with_callback(
        request(topic, body),
        move |reply: Option<&dyn MessageTrait>, err: Option<&rocketmq_client_rust::ClientError>| {
            // The client also calls back with neither once the request is sent.
            let _ = match (reply, err) {
                (Some(m), _) => tx.send(Ok(body_of(m))),
                (None, Some(e)) => tx.send(Err(e.to_string())),
                (None, None) => Ok(()),
            };
        },
        timeout_ms,
    )
    .await
    .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_millis(timeout_ms + 5_000), rx.recv()).await {
        Ok(Some(r)) => r,
        _ => Err(format!("no answer within {timeout_ms} ms")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_are_answered_and_unanswered_ones_time_out() {
    let cluster = Cluster::start("");
    let ns = cluster.namesrv_addr.clone();
    let topic = "RequestTopic";

    let mut requester = started_producer(&ns, "pg-requester").await;
    let responder = started_producer(&ns, "pg-responder").await;
    // The topic exists before the consumer looks for it.
    requester
        .send(request(topic, "create"))
        .await
        .expect("first send creates the topic");

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<MessageExt>();
    let mut consumer = push_consumer(
        &ns,
        "g-responder",
        "rr-c",
        ConsumeFromWhere::ConsumeFromLastOffset,
    );
    consumer.subscribe(topic, "*").await.expect("subscribe");
    consumer.register_message_listener_concurrently(Inbox(tx));
    consumer.start().await.expect("consumer start");
    let answering = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let asked = body_of(&m.message);
            if asked == "create" {
                continue;
            }
            let reply =
                MessageUtil::create_reply_message(&m.message, format!("re:{asked}").as_bytes())
                    .expect("a request carries CLUSTER");
            if let Err(e) = responder.send(reply).await {
                eprintln!("reply to {asked} refused: {e}");
            }
        }
    });

    // The consumer starts pulling after its first rebalance: ask until one is answered.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match ask(&requester, topic, "warmup", 3_000).await {
            Ok(r) if r == "re:warmup" => break,
            other => assert!(
                Instant::now() < deadline,
                "no reply to the first request: {other:?}"
            ),
        }
    }
    let started = Instant::now();
    for i in 0..REQUESTS {
        let r = ask(&requester, topic, &format!("q{i}"), 5_000).await;
        assert_eq!(r, Ok(format!("re:q{i}")), "reply to request {i}");
    }
    eprintln!(
        "{REQUESTS} requests answered in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Nobody consumes this topic: the request fails on the requester's side.
    requester
        .send(request("NobodyAnswers", "create"))
        .await
        .expect("create the unanswered topic");
    let unanswered = ask(&requester, "NobodyAnswers", "hello?", 1_000).await;
    assert!(
        unanswered.is_err(),
        "an unanswered request must fail: {unanswered:?}"
    );

    consumer.shutdown().await;
    answering.abort();
    requester.shutdown().await;
}

/// Sum of the broker's dropped-reply counters.
fn dropped(metrics_port: u16) -> u64 {
    ureq::get(&format!("http://127.0.0.1:{metrics_port}/metrics"))
        .timeout(Duration::from_secs(10))
        .call()
        .expect("scrape")
        .into_string()
        .expect("metrics text")
        .lines()
        .filter(|l| l.starts_with("coremq_shard_replies_dropped_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A reply whose requester is not connected is refused with RocketMQ's remark, not lost
/// silently, and the broker counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_to_a_vanished_requester_is_refused_and_counted() {
    let metrics = coremq_compat::free_port();
    let cluster = Cluster::start(&format!("metricsPort={metrics}\n"));
    let ns = cluster.namesrv_addr.clone();
    let mut responder = started_producer(&ns, "pg-responder-2").await;
    let mut reply = Message::builder()
        .topic("DefaultCluster_REPLY_TOPIC")
        .body_slice(b"too late")
        .build_unchecked();
    reply.put_property("MSG_TYPE".into(), "reply".into());
    reply.put_property("REPLY_TO_CLIENT".into(), "127.0.0.1@gone-requester".into());
    reply.put_property("CORRELATION_ID".into(), "c-1".into());
    reply.put_property("CLUSTER".into(), "DefaultCluster".into());
    let r = responder.send(reply).await;
    assert!(r.is_err(), "{r:?}");
    // The client retries a refused send (retryTimesWhenSendFailed): each try is counted.
    let after_client = dropped(metrics);
    assert!(after_client >= 1, "refused replies counted: {after_client}");
    // The client keeps the broker's remark to itself; the same reply over the wire shows it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let raw = coremq_compat::raw_call(
        &format!("127.0.0.1:{}", cluster.broker_port),
        325,
        &[
            ("a", "pg-responder-2"),
            ("b", "DefaultCluster_REPLY_TOPIC"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "0"),
            ("f", "0"),
            ("g", &now),
            ("h", "0"),
            (
                "i",
                "MSG_TYPE\u{1}reply\u{2}REPLY_TO_CLIENT\u{1}127.0.0.1@gone-requester\u{2}CORRELATION_ID\u{1}c-2\u{2}",
            ),
        ],
        b"too late".to_vec(),
    );
    assert_eq!(raw.code, 1, "SYSTEM_ERROR: {:?}", raw.remark);
    assert_eq!(
        raw.remark.as_deref(),
        Some("push reply message fail, channel of <127.0.0.1@gone-requester> not found.")
    );
    assert_eq!(dropped(metrics), after_client + 1, "one more refused reply");
    responder.shutdown().await;
}
