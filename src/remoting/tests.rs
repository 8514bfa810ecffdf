//! Connection-layer tests over real loopback sockets on a real glommio executor.

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use super::*;
use crate::protocol::{ExtFields, RemotingCommand, ResponseCode};
use crate::runtime::{run_unpinned, NETWORK_ONLY_IO_MEMORY_BYTES};

const ECHO: i32 = 9001;
const SILENT: i32 = 9002;
const ASK_BACK: i32 = 9003;
const COUNT_ONEWAY: i32 = 9004;
const CALLBACK: i32 = 9005;
const BIG_REPLY: i32 = 9006;

/// Echoes `v` after `delayMs`, never answers SILENT, and for ASK_BACK asks the client
/// (server-initiated request) and returns what it said.
struct TestServer {
    oneways: Rc<Cell<u32>>,
}

impl RequestHandler for TestServer {
    async fn handle(&self, conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        match req.code {
            ECHO => {
                let delay: u64 = req
                    .ext
                    .get("delayMs")
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0);
                glommio::timer::sleep(Duration::from_millis(delay)).await;
                let mut ext = ExtFields::new();
                ext.insert("v", req.ext.get("v").unwrap_or_default());
                Some(req.success().with_ext(ext).with_body(req.body.clone()))
            }
            SILENT => None,
            BIG_REPLY => {
                glommio::timer::sleep(Duration::from_millis(300)).await;
                let size: usize = req.ext.get("size")?.parse().ok()?;
                Some(req.success().with_body(vec![7u8; size]))
            }
            COUNT_ONEWAY => {
                self.oneways.set(self.oneways.get() + 1);
                Some(req.success())
            }
            ASK_BACK => {
                let back = conn
                    .request(
                        RemotingCommand::request(CALLBACK, ExtFields::new()),
                        Duration::from_secs(5),
                    )
                    .await
                    .ok()?;
                Some(req.success().with_ext(back.ext))
            }
            _ => Some(not_supported(&req)),
        }
    }
}

/// The client side answers CALLBACK requests from the server.
struct TestClient;

impl RequestHandler for TestClient {
    async fn handle(&self, _conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        let mut ext = ExtFields::new();
        ext.insert("from", "client");
        Some(req.success().with_ext(ext))
    }
}

fn echo(v: &str, delay_ms: u64) -> RemotingCommand {
    let mut ext = ExtFields::new();
    ext.insert("v", v);
    ext.insert("delayMs", delay_ms.to_string());
    RemotingCommand::request(ECHO, ext).with_body(v.as_bytes().to_vec())
}

fn in_executor<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    run_unpinned("remoting-test", NETWORK_ONLY_IO_MEMORY_BYTES, f).unwrap();
}

async fn start_server() -> (std::net::SocketAddr, Rc<Cell<u32>>) {
    let listener = server::bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
    let addr = listener.local_addr().unwrap();
    let oneways = Rc::new(Cell::new(0));
    let handler = Rc::new(TestServer {
        oneways: oneways.clone(),
    });
    glommio::spawn_local(server::serve(
        listener,
        handler,
        ConnectionLimits::default(),
    ))
    .detach();
    (addr, oneways)
}

#[test]
fn responses_match_requests_by_opaque_out_of_order() {
    in_executor(|| async {
        let (addr, _) = start_server().await;
        let conn = Connection::connect(addr, Rc::new(TestClient), Duration::from_secs(3))
            .await
            .unwrap();
        // Later requests answer first; each reply must still reach its own caller.
        let calls: Vec<_> = (0..20u64)
            .map(|i| {
                let c = conn.clone();
                glommio::spawn_local(async move {
                    let r = c
                        .request(echo(&i.to_string(), 100 - i * 5), Duration::from_secs(5))
                        .await
                        .unwrap();
                    (i, r)
                })
            })
            .collect();
        for t in calls {
            let (i, r) = t.await;
            assert_eq!(r.code, 0);
            assert_eq!(r.ext.get("v"), Some(i.to_string().as_str()));
            assert_eq!(&r.body[..], i.to_string().as_bytes());
        }
    });
}

#[test]
fn oneway_gets_no_response_and_timeouts_fire() {
    in_executor(|| async {
        let (addr, oneways) = start_server().await;
        let conn = Connection::connect(addr, Rc::new(TestClient), Duration::from_secs(3))
            .await
            .unwrap();
        for _ in 0..3 {
            conn.oneway(RemotingCommand::request(COUNT_ONEWAY, ExtFields::new()))
                .unwrap();
        }
        let err = conn
            .request(
                RemotingCommand::request(SILENT, ExtFields::new()),
                Duration::from_millis(200),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, RemotingError::Timeout { code: SILENT, .. }),
            "{err}"
        );
        assert_eq!(oneways.get(), 3);
        // The connection still works after a timeout, and unknown codes get code 3.
        let r = conn
            .request(
                RemotingCommand::request(1234, ExtFields::new()),
                Duration::from_secs(3),
            )
            .await
            .unwrap();
        assert_eq!(r.code, ResponseCode::REQUEST_CODE_NOT_SUPPORTED.code());
        assert_eq!(
            r.remark.as_deref(),
            Some(" request type 1234 not supported")
        );
    });
}

#[test]
fn server_initiated_request_reaches_the_client_handler() {
    in_executor(|| async {
        let (addr, _) = start_server().await;
        let conn = Connection::connect(addr, Rc::new(TestClient), Duration::from_secs(3))
            .await
            .unwrap();
        let r = conn
            .request(
                RemotingCommand::request(ASK_BACK, ExtFields::new()),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(r.ext.get("from"), Some("client"));
    });
}

#[test]
fn malformed_frame_closes_only_that_connection() {
    in_executor(|| async {
        let (addr, _) = start_server().await;
        let good = Connection::connect(addr, Rc::new(TestClient), Duration::from_secs(3))
            .await
            .unwrap();
        // A blocking peer on another thread sends a frame whose header length runs past it.
        let bad = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(&[0, 0, 0, 8, 0, 0, 0, 200, 1, 2, 3, 4])
                .unwrap();
            let mut b = [0u8; 16];
            s.read(&mut b).unwrap() // 0 = closed by the server
        });
        while !bad.is_finished() {
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(bad.join().unwrap(), 0);
        let r = good
            .request(echo("still", 0), Duration::from_secs(3))
            .await
            .unwrap();
        assert_eq!(r.ext.get("v"), Some("still"));
    });
}

#[test]
fn pending_requests_fail_when_the_connection_closes() {
    in_executor(|| async {
        let (addr, _) = start_server().await;
        let conn = Connection::connect(addr, Rc::new(TestClient), Duration::from_secs(3))
            .await
            .unwrap();
        let c = conn.clone();
        let waiting = glommio::spawn_local(async move {
            c.request(
                RemotingCommand::request(SILENT, ExtFields::new()),
                Duration::from_secs(30),
            )
            .await
        });
        glommio::timer::sleep(Duration::from_millis(50)).await;
        conn.close();
        assert!(matches!(waiting.await, Err(RemotingError::Closed { .. })));
        assert!(conn
            .oneway(RemotingCommand::request(ECHO, ExtFields::new()))
            .is_err());
    });
}

/// From a plain socket on another thread, asks for `requests` responses of `reply_bytes`
/// each and reads none of them; returns the socket once everything is written.
async fn ask_big_replies_unread(
    addr: std::net::SocketAddr,
    requests: usize,
    reply_bytes: usize,
) -> std::net::TcpStream {
    let peer = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        for i in 0..requests {
            let mut ext = ExtFields::new();
            ext.insert("size", reply_bytes.to_string());
            let mut cmd = RemotingCommand::request(BIG_REPLY, ext);
            cmd.opaque = i as i32 + 1;
            s.write_all(&crate::protocol::frame::encode_to_vec(&cmd))
                .unwrap();
        }
        s
    });
    while !peer.is_finished() {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    peer.join().unwrap()
}

#[test]
fn a_peer_that_reads_no_responses_is_closed_at_the_unsent_limit() {
    in_executor(|| async {
        let (addr, _) = start_server().await;
        let before = connection::stats().closed_unsent;
        const REPLY_BYTES: usize = 1 << 20;
        // Enough answers in flight to pass the limit once they all come back.
        let requests = connection::MAX_UNSENT_RESPONSE_BYTES / REPLY_BYTES + 16;
        let mut s = ask_big_replies_unread(addr, requests, REPLY_BYTES).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while connection::stats().closed_unsent == before {
            assert!(std::time::Instant::now() < deadline, "never closed");
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
        // The peer, reading at last, finds the connection closed well short of every answer.
        let reader = std::thread::spawn(move || {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut total = 0usize;
            let mut b = vec![0u8; 1 << 16];
            while let Ok(n @ 1..) = s.read(&mut b) {
                total += n;
            }
            total
        });
        while !reader.is_finished() {
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
        let read = reader.join().unwrap();
        assert!(
            read < requests * REPLY_BYTES,
            "{read} bytes: all answers arrived"
        );
    });
}

#[test]
fn unsent_bytes_are_counted_while_a_peer_reads_nothing_and_freed_when_it_leaves() {
    in_executor(|| async {
        let (addr, _) = start_server().await;
        assert_eq!(connection::stats().unsent_bytes, 0);
        const REPLY_BYTES: usize = 1 << 20;
        // Twice the pause threshold asked for, nothing read: the responses pile up here.
        let requests = 2 * connection::MAX_QUEUED_WRITE_BYTES / REPLY_BYTES;
        let s = ask_big_replies_unread(addr, requests, REPLY_BYTES).await;
        // Loopback socket buffers take a few MiB; the rest waits in the connection's queue,
        // and the reader pauses once that passes the threshold.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut peak = 0;
        while peak <= connection::MAX_QUEUED_WRITE_BYTES as u64 {
            assert!(
                std::time::Instant::now() < deadline,
                "unsent bytes stayed at {peak}"
            );
            glommio::timer::sleep(Duration::from_millis(10)).await;
            peak = peak.max(connection::stats().unsent_bytes);
        }
        assert!(peak <= connection::MAX_UNSENT_RESPONSE_BYTES as u64);
        drop(s);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while connection::stats().unsent_bytes != 0 || connection::stats().open != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{} bytes still held after the peer left",
                connection::stats().unsent_bytes
            );
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
    });
}

/// Large bodies (sent uncopied, read into their own buffers) and small frames interleave
/// on one connection in both directions; every body comes back byte for byte.
#[test]
fn large_and_small_frames_interleave_intact_over_a_real_socket() {
    in_executor(|| async {
        let (addr, _) = start_server().await;
        let conn = Connection::connect(addr, Rc::new(TestClient), Duration::from_secs(3))
            .await
            .unwrap();
        let sizes = [
            10usize,
            64 * 1024,
            5,
            1 << 20,
            64 * 1024 - 1,
            3 << 20,
            200,
            70_001,
        ];
        let calls: Vec<_> = (0..3)
            .flat_map(|round| sizes.iter().map(move |&size| (round, size)))
            .map(|(round, size)| {
                let c = conn.clone();
                glommio::spawn_local(async move {
                    let body: Vec<u8> = (0..size).map(|i| (i * 31 + size + round) as u8).collect();
                    let mut ext = ExtFields::new();
                    ext.insert("v", format!("{round}-{size}"));
                    let req = RemotingCommand::request(ECHO, ext).with_body(body.clone());
                    let r = c.request(req, Duration::from_secs(10)).await.unwrap();
                    (round, size, body, r)
                })
            })
            .collect();
        for t in calls {
            let (round, size, body, r) = t.await;
            assert_eq!(r.code, 0);
            assert_eq!(r.ext.get("v"), Some(format!("{round}-{size}").as_str()));
            assert_eq!(r.body.len(), size);
            assert!(
                r.body[..] == body[..],
                "body of {size} bytes (round {round}) changed"
            );
        }
    });
}
