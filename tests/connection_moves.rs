//! Connection moves (src/remoting/handover.rs, src/broker/connection_moves.rs) on a real
//! 2-shard standalone over loopback: a client whose pipelined sends all target one queue
//! ends up served by that queue's shard, and no send is lost or duplicated on the way and
//! each stored message is the one its response named; with `connectionMoveEnable=false` it
//! stays where it was accepted. (Pipelined sends on one connection may be stored in any
//! order, moved or not, as RocketMQ's: ordered producers wait for each send.) Also: a
//! producer whose first sends start together opens one connection, not one per send.

mod common;

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use common::*;
use coremq::client::producer::{Message, Producer};
use coremq::protocol::{frame, ExtFields, RemotingCommand, ResponseCode};
use coremq::remoting::handover::MOVE_WINDOW_REQUESTS;
use coremq::store::record::Record;

const TOPIC: &str = "MoveTopic";
/// Two tally windows: a phase's windows hold its own sends only, and a move is decided
/// mid-burst, with frames of the burst still unread.
const SENDS_PER_PHASE: usize = 2 * MOVE_WINDOW_REQUESTS as usize;

/// A SEND_MESSAGE (10) frame of one message to `qid`.
fn send_frame(qid: i32, body: &str, opaque: i32) -> Vec<u8> {
    let mut cmd = send_command("move_pg", TOPIC, qid, body.as_bytes(), "WAIT\u{1}true");
    cmd.opaque = opaque;
    frame::encode_to_vec(&cmd)
}

/// Writes `SENDS_PER_PHASE` sends to `qid` back to back (one write), then reads every
/// response; the queue offset of each send, in the order they were written.
fn pipelined_sends(c: &mut RawClient, qid: i32, first_opaque: i32) -> Vec<i64> {
    let mut bytes = Vec::new();
    for i in 0..SENDS_PER_PHASE {
        bytes.extend(send_frame(
            qid,
            &format!("q{qid}-{i}"),
            first_opaque + i as i32,
        ));
    }
    c.send_raw(&bytes);
    let mut offsets: HashMap<i32, i64> = HashMap::new();
    while offsets.len() < SENDS_PER_PHASE {
        let r = c.read_frame().expect("the connection stays open");
        assert!(r.is_response(), "only responses come back");
        assert_eq!(r.code, ResponseCode::SUCCESS.code(), "{:?}", r.remark);
        let offset = r.ext.get("queueOffset").unwrap().parse().unwrap();
        assert!(
            offsets.insert(r.opaque, offset).is_none(),
            "one response per send"
        );
    }
    (0..SENDS_PER_PHASE)
        .map(|i| offsets[&(first_opaque + i as i32)])
        .collect()
}

fn metric_sum(port: u16, family: &str) -> u64 {
    scrape_metrics(port)
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// Two phases on one connection: all sends to queue 0, then all to queue 1 (queues the
/// two shards own in turn). Whichever shard accepted the connection, exactly one phase
/// is remote and moves it: either the first (and the second may not move again within
/// MOVE_MIN_INTERVAL_MS) or the second. Returns the moves counted.
fn two_phases(extra: &str) -> u64 {
    let port = free_port();
    let s = standalone_with(&format!("metricsPort={port}\n{extra}"));
    update_topic(&s.ns, &s.broker, TOPIC, 8);
    let broker = s.broker.parse().unwrap();
    let mut c = RawClient::connect(broker);
    // A producer's heartbeat: its group membership moves with the connection.
    let hb = serde_json::json!({
        "clientID": "127.0.0.1@mover",
        "consumerDataSet": [],
        "producerDataSet": [{"groupName": "move_pg"}]
    });
    let r = c.call_with(34, &[], serde_json::to_vec(&hb).unwrap());
    assert_eq!(r.code, ResponseCode::SUCCESS.code(), "{:?}", r.remark);
    // Reads go over a second connection: one that joined a consumer group never moves.
    let mut reader = RawClient::connect(broker);
    let hb = serde_json::json!({
        "clientID": "127.0.0.1@reader",
        "consumerDataSet": [{
            "groupName": "move_cg", "consumeType": "CONSUME_PASSIVELY", "messageModel": "CLUSTERING",
            "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET", "unitMode": false,
            "subscriptionDataSet": [{"topic": TOPIC, "subString": "*", "tagsSet": [], "codeSet": [],
                "subVersion": 1, "expressionType": "TAG", "classFilterMode": false}]
        }],
        "producerDataSet": []
    });
    assert_eq!(
        reader
            .call_with(34, &[], serde_json::to_vec(&hb).unwrap())
            .code,
        0
    );
    for (phase, qid) in [0, 1].into_iter().enumerate() {
        let offsets = pipelined_sends(&mut c, qid, 1 + (phase * SENDS_PER_PHASE) as i32);
        let mut sorted = offsets.clone();
        sorted.sort_unstable();
        let expected: Vec<i64> = (0..SENDS_PER_PHASE as i64).collect();
        assert_eq!(sorted, expected, "queue {qid}: every send stored once");
        // The connection still serves (pulls), and the message at each reported offset is
        // the send it was reported for: around the window's end (where the move happens)
        // and across the rest.
        let window = MOVE_WINDOW_REQUESTS as usize;
        let samples = (0..SENDS_PER_PHASE)
            .step_by(97)
            .chain(window - 25..window + 25);
        for i in samples.chain([SENDS_PER_PHASE - 1]) {
            let r = raw_pull(&mut reader, "move_cg", TOPIC, qid, offsets[i], 0, 0);
            assert_eq!(r.code, ResponseCode::SUCCESS.code(), "{:?}", r.remark);
            // The first record of the answer (each starts with its total size).
            let size = i32::from_be_bytes(r.body[..4].try_into().unwrap()) as usize;
            let first = Record::parse(&r.body[..size]).unwrap();
            assert_eq!(
                first.body(),
                format!("q{qid}-{i}").as_bytes(),
                "offset {}",
                offsets[i]
            );
        }
    }
    // The moved connection still serves, and its producer group knows where it is: it is
    // listed while open, and gone once it closes (the close is matched to the member on
    // the shard now holding it).
    let producers = |c: &mut RawClient| {
        let r = c.call_with(204, &[("producerGroup", "move_pg")], Vec::new());
        if r.remark.as_deref() == Some("the producer group[move_pg] not exist") {
            return 0; // RocketMQ's answer for a group with no connection
        }
        assert_eq!(r.code, ResponseCode::SUCCESS.code(), "{:?}", r.remark);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["connectionSet"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(producers(&mut c), 1);
    let moves = metric_sum(port, "coremq_shard_connections_moved_total");
    c.shutdown();
    drop(c);
    wait_until(
        Duration::from_secs(10),
        "the producer's close to reach its group",
        || producers(&mut reader) == 0,
    );
    moves
}

#[test]
fn a_connection_moves_to_the_shard_owning_its_sends_without_losing_order() {
    assert_eq!(
        two_phases(""),
        1,
        "exactly one of the two phases moves the connection"
    );
}

#[test]
fn connection_moves_can_be_turned_off() {
    assert_eq!(two_phases("connectionMoveEnable=false"), 0);
}

#[test]
fn concurrent_first_sends_share_one_connection() {
    let port = free_port();
    let s = standalone_with(&format!("metricsPort={port}"));
    update_topic(&s.ns, &s.broker, TOPIC, 8);
    let before = metric_sum(port, "coremq_shard_connections");
    let ns = vec![s.ns.parse().unwrap()];
    let during = on_executor(move || async move {
        let producer = Rc::new(Producer::new("move_pg", ns, Duration::from_secs(5)).unwrap());
        let sends: Vec<_> = (0..32)
            .map(|i| {
                let p = producer.clone();
                glommio::spawn_local(async move {
                    let m = Message {
                        topic: TOPIC.into(),
                        tags: None,
                        keys: Vec::new(),
                        body: format!("m{i}").into_bytes().into(),
                        properties: Vec::new(),
                        flag: 0,
                    };
                    p.send(&m).await.unwrap();
                })
            })
            .collect();
        for s in sends {
            s.await;
        }
        // Counted while the producer (and its connection) is alive.
        metric_sum(port, "coremq_shard_connections")
    });
    assert_eq!(
        during,
        before + 1,
        "32 sends started together open one connection"
    );
}

#[test]
fn concurrent_first_requests_to_a_refusing_address_all_fail() {
    // A port nothing listens on: every waiter gets the shared connect error, none hangs.
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let errors = on_executor(move || async move {
        let links = Rc::new(coremq::client::rpc::Links::with_timeout(
            Duration::from_secs(2),
        ));
        let calls: Vec<_> = (0..16)
            .map(|_| {
                let links = links.clone();
                glommio::spawn_local(async move {
                    let req = RemotingCommand::request(34, ExtFields::new());
                    links.request(addr, req).await.is_err()
                })
            })
            .collect();
        let mut errors = 0;
        for c in calls {
            errors += usize::from(c.await);
        }
        errors
    });
    assert_eq!(errors, 16);
}
