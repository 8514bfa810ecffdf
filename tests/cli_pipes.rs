//! Every command-line role survives its own output being cut short (`| head`): a printing
//! command whose reader is gone ends quietly with status 0 (as mqadmin does), never with
//! "failed printing to stdout" and a backtrace; a server whose stdout is gone keeps serving.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Spawns `coremq args`, reads `lines` lines of its stdout, then closes the pipe.
fn cut_after(args: &[&str], lines: usize) -> Child {
    let mut child = Command::new(coremq_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut r = BufReader::new(out);
    for _ in 0..lines {
        let mut l = String::new();
        assert!(
            r.read_line(&mut l).unwrap() > 0,
            "{args:?} printed fewer than {lines} lines"
        );
    }
    drop(r);
    child
}

/// Waits (≤ `limit`) for the child; asserts a quiet, successful end.
fn ends_quietly(mut child: Child, what: &str, limit: Duration) {
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("{what} still running {limit:?} after its stdout was closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{what}: {err}"
    );
    assert!(status.success(), "{what} exited {status}: {err}");
}

#[test]
fn printing_roles_end_quietly_when_their_reader_goes_away() {
    let s = standalone();
    let ns = s.ns.as_str();
    // Closed before anything is printed: the first write meets the closed pipe.
    for args in [
        vec!["admin", "clusterList", "-n", ns],
        vec!["admin", "topicList", "-n", ns],
        vec!["broker", "-p"],
        vec!["namesrv", "-p"],
    ] {
        ends_quietly(
            cut_after(&args, 0),
            &args.join(" "),
            Duration::from_secs(30),
        );
    }
    // Cut mid-stream, as `| head -2` does.
    let produce = ["produce", "-n", ns, "-t", "PipeCut", "--count", "1000"];
    ends_quietly(cut_after(&produce, 2), "produce", Duration::from_secs(30));
    let bench_p = [
        "bench",
        "producer",
        "-n",
        ns,
        "-t",
        "PipeCut",
        "-w",
        "4",
        "--duration",
        "60",
    ];
    ends_quietly(
        cut_after(&bench_p, 2),
        "bench producer",
        Duration::from_secs(30),
    );
    let bench_c = [
        "bench",
        "consumer",
        "-n",
        ns,
        "-t",
        "PipeCut",
        "-g",
        "pipe_cut_bench",
        "--duration",
        "60",
    ];
    ends_quietly(
        cut_after(&bench_c, 1),
        "bench consumer",
        Duration::from_secs(30),
    );
    let consume = ["consume", "-n", ns, "-t", "PipeCut", "-g", "pipe_cut_quick"];
    ends_quietly(cut_after(&consume, 2), "consume", Duration::from_secs(60));
}

#[test]
fn a_server_whose_stdout_is_closed_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("ns.properties");
    std::fs::write(
        &conf,
        format!(
            "listenPort={port}\nkvConfigPath={d}/kv.json\nlogDir={d}/logs\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let mut child = Command::new(coremq_bin())
        .args(["namesrv", "-c"])
        .arg(&conf)
        .env("HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let end = Instant::now() + Duration::from_secs(20);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let answered = loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            // GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206): any answer shows it serves.
            break RawClient::connect(addr)
                .call_with(206, &[], Vec::new())
                .code;
        }
        assert!(Instant::now() < end, "the nameserver never listened");
        assert!(child.try_wait().unwrap().is_none(), "the nameserver exited");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(answered, 0);
    assert!(child.try_wait().unwrap().is_none(), "still running");
    let _ = child.kill();
    let _ = child.wait();
}
