//! README's one-host recipe, as written: RocketMQ's conf/2m-2s-async broker-a master on
//! its defaults and its slave from broker-a-s.properties plus the two lines the README
//! names (`listenPort`, `storePathRootDir`), same user, same HOME. Its own test binary,
//! because it uses the fixed default ports (10909–10912, 5557, 8081 and the slave's
//! 10919–10922, 5567, 8091), which no other test here takes.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{admin, coremq_bin, scrape_metrics, spawn_until_line, start_namesrv, wait_until};

const MASTER_PORTS: [u16; 6] = [10909, 10911, 10912, 5557, 8081, 10910];
const SLAVE_PORTS: [u16; 5] = [10919, 10921, 10922, 5567, 8091];

/// RocketMQ's file plus `lines` (brokerIP1 keeps every connection on loopback).
fn conf_copy(home: &Path, name: &str, lines: &str) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conf/2m-2s-async")
        .join(name);
    let mut text = std::fs::read_to_string(&src).unwrap();
    text.push_str("\nbrokerIP1=127.0.0.1\n");
    text.push_str(lines);
    let dst = home.join(name);
    std::fs::write(&dst, text).unwrap();
    dst
}

#[test]
fn a_slave_beside_its_master_on_one_host_starts_from_the_readme_recipe() {
    for p in MASTER_PORTS.iter().chain(&SLAVE_PORTS) {
        assert!(
            TcpListener::bind(("0.0.0.0", *p)).is_ok(),
            "port {p} is in use on this host: this test needs the default broker ports"
        );
    }
    let ns = start_namesrv("");
    let ns_addr = ns.addr.to_string();
    let home = tempfile::tempdir().unwrap();
    let master_conf = conf_copy(home.path(), "broker-a.properties", "");
    let slave_store = home.path().join("store-broker-a-s");
    let slave_conf = conf_copy(
        home.path(),
        "broker-a-s.properties",
        &format!(
            "listenPort=10921\nstorePathRootDir={}\n",
            slave_store.display()
        ),
    );
    let _master = spawn_until_line(
        Command::new(coremq_bin())
            .args(["broker", "-n", &ns_addr, "-c"])
            .arg(&master_conf),
        home.path(),
        "The broker[",
    );
    let _slave = spawn_until_line(
        Command::new(coremq_bin())
            .args(["broker", "-n", &ns_addr, "-c"])
            .arg(&slave_conf),
        home.path(),
        "The broker[",
    );
    wait_until(Duration::from_secs(20), "the slave following", || {
        let (code, out, _) = admin(&ns_addr, &["haStatus", "-b", "127.0.0.1:10921"]);
        code == 0 && out.contains("FOLLOWING")
    });
    let (code, list, err) = admin(&ns_addr, &["clusterList"]);
    assert_eq!(code, 0, "{err}");
    let bids: Vec<&str> = list
        .lines()
        .filter(|l| l.contains("broker-a"))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(bids, ["0", "1"], "{list}");
    // Each serves its own /metrics and gRPC port: the slave's follow its listenPort.
    for (port, id) in [(5557, "0"), (5567, "1")] {
        let text = scrape_metrics(port);
        assert!(
            text.lines()
                .any(|l| l.starts_with("rocketmq_") || l.starts_with("coremq_")),
            "port {port} (broker {id}): {text}"
        );
    }
    for port in [8081, 8091] {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "no gRPC listener on {port}"
        );
    }
    assert!(
        slave_store.is_dir() && home.path().join("store").is_dir(),
        "each store is where its file says: the slave's under {}, the master's in ~/store",
        slave_store.display()
    );
}
