//! Request-reply with coremq's own client (#18): a `Requester` sends 1,000 requests one
//! after another and 100 at once, a push consumer answers each with `create_reply`; every
//! reply reaches its own request; a request nobody answers times out; a reply to a
//! requester that is gone is refused by the broker.

mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::*;
use coremq::client::consumer::{ConsumeStatus, Consumer, ConsumerConfig, Listener, StartFrom};
use coremq::client::message::Received;
use coremq::client::producer::{Message, Producer};
use coremq::client::request_reply::{create_reply, Requester};
use coremq::client::ClientError;

const REQUESTS: usize = 1_000;
const CONCURRENT: usize = 100;

fn message(topic: &str, body: String) -> Message {
    Message {
        topic: topic.into(),
        tags: Some("Rpc".into()),
        keys: Vec::new(),
        body: body.into(),
        properties: Vec::new(),
        flag: 0,
    }
}

/// A listener answering each request with "re:<body>"; the outcome of each reply send is
/// kept.
fn answering(replier: &Rc<Producer>, outcomes: &Rc<RefCell<Vec<Result<(), String>>>>) -> Listener {
    let (replier, outcomes) = (replier.clone(), outcomes.clone());
    Rc::new(move |m: &Received| {
        let mut body = b"re:".to_vec();
        body.extend_from_slice(&m.body);
        let reply = create_reply(m, body).expect("a request");
        let (p, out) = (replier.clone(), outcomes.clone());
        glommio::spawn_local(async move {
            let r = p.send(&reply).await.map(|_| ()).map_err(|e| e.to_string());
            out.borrow_mut().push(r);
        })
        .detach();
        ConsumeStatus::Success
    })
}

#[test]
fn requests_get_their_own_replies_and_unanswered_ones_time_out() {
    let s = standalone();
    update_topic(&s.ns, &s.broker, "RpcTopic", 4);
    update_topic(&s.ns, &s.broker, "RpcNobody", 1);
    let ns: Vec<SocketAddr> = vec![s.ns.parse().unwrap()];
    let (timeout, vanished) = on_executor(move || async move {
        let outcomes = Rc::default();
        let replier =
            Rc::new(Producer::new("rpc_replier", ns.clone(), Duration::from_secs(5)).unwrap());
        let mut cfg = ConsumerConfig::new("rpc_cg", "RpcTopic", "*", "127.0.0.1@rpc-c");
        cfg.from = StartFrom::First;
        let consumer = Consumer::new(cfg, ns.clone()).unwrap();
        let run = glommio::spawn_local({
            let (c, l) = (consumer.clone(), answering(&replier, &outcomes));
            async move { c.run(l, Some(Duration::from_secs(180))).await }
        });
        let requester = Requester::new("rpc_pg", ns.clone(), Duration::from_secs(5)).unwrap();
        for i in 0..REQUESTS {
            let reply = requester
                .request(
                    &message("RpcTopic", format!("q{i}")),
                    Duration::from_secs(10),
                )
                .await
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
            assert_eq!(String::from_utf8_lossy(&reply.body), format!("re:q{i}"));
            assert_eq!(reply.topic, "DefaultCluster_REPLY_TOPIC");
        }
        let got: Rc<RefCell<Vec<(usize, String)>>> = Rc::default();
        for i in 0..CONCURRENT {
            let got = got.clone();
            requester.request_async(
                message("RpcTopic", format!("a{i}")),
                Duration::from_secs(10),
                move |r| {
                    let body =
                        String::from_utf8_lossy(&r.expect("async request").body).into_owned();
                    got.borrow_mut().push((i, body));
                },
            );
        }
        until(30, "100 async replies", || got.borrow().len() == CONCURRENT).await;
        for (i, body) in got.borrow().iter() {
            assert_eq!(
                body,
                &format!("re:a{i}"),
                "a reply went to the wrong request"
            );
        }
        let timeout = requester
            .request(
                &message("RpcNobody", "hello?".into()),
                Duration::from_millis(800),
            )
            .await;

        // A requester that is gone: its request is answered after its connection closed.
        let gone = Requester::new("rpc_gone", ns.clone(), Duration::from_secs(5)).unwrap();
        let lost = gone
            .request(
                &message("RpcNobody", "from a ghost".into()),
                Duration::from_millis(200),
            )
            .await;
        assert!(
            matches!(lost, Err(ClientError::ReplyTimeout { .. })),
            "{lost:?}"
        );
        drop(gone);
        glommio::timer::sleep(Duration::from_millis(500)).await;
        let pull =
            coremq::client::pull_consumer::PullConsumer::new("rpc_late", ns.clone()).unwrap();
        let queues = pull.queues("RpcNobody").await.unwrap();
        let sub =
            coremq::protocol::body::client::SubscriptionData::from_expression("RpcNobody", "*", 0);
        let pulled = pull
            .pull(&queues[0], &sub, 1, 1, Default::default())
            .await
            .unwrap();
        let ghost = pulled
            .messages
            .into_iter()
            .next()
            .expect("the ghost request");
        assert_eq!(ghost.body, b"from a ghost");
        let vanished = replier
            .send(&create_reply(&ghost, b"too late".to_vec()).unwrap())
            .await;
        consumer.shutdown();
        run.await.unwrap();
        assert!(
            outcomes.borrow().iter().all(Result::is_ok),
            "{:?}",
            outcomes.borrow().iter().find(|r| r.is_err())
        );
        (timeout.map(|r| r.body), vanished.map(|r| r.msg_id))
    });
    assert!(
        matches!(
            timeout,
            Err(ClientError::ReplyTimeout {
                timeout_ms: 800,
                ..
            })
        ),
        "{timeout:?}"
    );
    let err = vanished
        .expect_err("a reply to a vanished requester is refused")
        .to_string();
    assert!(err.contains("not found"), "{err}");
}
