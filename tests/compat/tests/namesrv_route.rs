//! rocketmq-client-rust 1.0.0 (an unmodified third-party client) reads routes and cluster info
//! from the real `coremq namesrv` after a broker registered, and decodes them without error.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use coremq::protocol::body::{RegisterBrokerBody, TopicConfig};
use coremq::protocol::{frame, ExtFields, RemotingCommand};
use coremq_compat::{client_runtime, coremq_bin, free_port, spawn_until, Proc};
use rocketmq_client_rust::{DefaultMQAdminExt, RouteAdmin, TopicAdmin};

struct Namesrv {
    _proc: Proc,
    port: u16,
    _dir: tempfile::TempDir,
}

fn start_namesrv() -> Namesrv {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("ns.properties");
    std::fs::write(
        &conf,
        format!(
            "listenPort={port}\nbindAddress=127.0.0.1\nlogDir={0}/logs\nkvConfigPath={0}/kv.json\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let proc = spawn_until(
        Command::new(coremq_bin())
            .args(["namesrv", "-c"])
            .arg(&conf),
        dir.path(),
        "boot success",
    );
    Namesrv {
        _proc: proc,
        port,
        _dir: dir,
    }
}

/// Registers broker-a (master at 127.0.0.1:10911) with topic TopicTest over a raw socket and
/// keeps the socket open (closing it would unregister the broker).
fn register_broker(port: u16) -> TcpStream {
    let mut body = RegisterBrokerBody::default();
    let w = &mut body.topic_config_serialize_wrapper;
    w.data_version.counter = 1;
    w.topic_config_table.insert(
        "TopicTest".into(),
        TopicConfig {
            topic_name: "TopicTest".into(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            ..TopicConfig::default()
        },
    );
    let mut ext = ExtFields::new();
    for (k, v) in [
        ("brokerName", "broker-a"),
        ("brokerAddr", "127.0.0.1:10911"),
        ("clusterName", "DefaultCluster"),
        ("haServerAddr", "127.0.0.1:10912"),
        ("brokerId", "0"),
    ] {
        ext.insert(k, v);
    }
    let mut req = RemotingCommand::request(103, ext).with_body(serde_json::to_vec(&body).unwrap());
    req.opaque = 1;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&frame::encode_to_vec(&req)).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut rest = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut rest).unwrap();
    let mut whole = bytes::BytesMut::from(&len[..]);
    whole.extend_from_slice(&rest);
    let resp = frame::decode(&mut whole).unwrap().unwrap();
    assert_eq!(resp.code, 0, "register failed: {:?}", resp.remark);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_reads_route_and_cluster_info() {
    let ns = start_namesrv();
    let _broker = register_broker(ns.port);

    let mut admin = DefaultMQAdminExt::new(client_runtime("admin"));
    admin.set_namesrv_addr(format!("127.0.0.1:{}", ns.port));
    admin.start().await.expect("admin start");

    let route = admin
        .examine_topic_route_info("TopicTest".into())
        .await
        .expect("route request")
        .expect("route present");
    assert_eq!(route.broker_datas.len(), 1);
    let bd = &route.broker_datas[0];
    assert_eq!(bd.broker_name(), "broker-a");
    assert_eq!(bd.cluster(), "DefaultCluster");
    assert_eq!(
        bd.broker_addrs().get(&0).map(|a| a.as_str()),
        Some("127.0.0.1:10911")
    );
    assert_eq!(route.queue_datas.len(), 1);
    assert_eq!(route.queue_datas[0].write_queue_nums, 4);
    assert_eq!(route.queue_datas[0].read_queue_nums, 4);
    assert_eq!(route.queue_datas[0].perm, 6);

    // An unknown topic is TOPIC_NOT_EXIST, which this client reports as "no route".
    let missing = admin
        .examine_topic_route_info("NoSuchTopic".into())
        .await
        .expect("request");
    assert!(missing.is_none());

    let info = admin
        .examine_broker_cluster_info()
        .await
        .expect("cluster info");
    let clusters = info.cluster_addr_table.expect("clusterAddrTable");
    assert!(clusters["DefaultCluster"]
        .iter()
        .any(|b| b.as_str() == "broker-a"));
    let brokers = info.broker_addr_table.expect("brokerAddrTable");
    assert_eq!(brokers.len(), 1);

    admin.shutdown().await;
}
