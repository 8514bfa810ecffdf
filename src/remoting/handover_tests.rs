//! Connection moves between two real executors (threads) over a real loopback socket: a
//! pipelined burst keeps every request answered once, byte for byte, as the connection
//! leaves core A for core B; a request parked on A keeps the connection there.

use std::io::{Read, Write};
use std::net::TcpStream as StdStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use bytes::BytesMut;

use super::handover::MOVE_WINDOW_REQUESTS;
use super::*;
use crate::protocol::{frame, ExtFields, RemotingCommand};
use crate::runtime::{run_unpinned, NETWORK_ONLY_IO_MEMORY_BYTES};

const ECHO: i32 = 9101;

/// Echoes the body after `delayMs`, naming its core in `servedBy`. On core "A" it counts
/// every request as work of core 1 and asks to move there; a moved connection goes down
/// `to_b`.
struct Core {
    name: &'static str,
    to_b: Option<mpsc::Sender<Detached>>,
}

impl RequestHandler for Core {
    async fn handle(&self, conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        if self.to_b.is_some() {
            if let Some(core) = conn.note_core(1, 0) {
                conn.request_move(core);
            }
        }
        let delay: u64 = req.ext.get("delayMs").and_then(|d| d.parse().ok())?;
        if delay > 0 {
            glommio::timer::sleep(Duration::from_millis(delay)).await;
        }
        let mut ext = ExtFields::new();
        ext.insert("servedBy", self.name);
        Some(req.success().with_ext(ext).with_body(req.body.clone()))
    }

    fn moved(&self, _conn: &Connection, core: usize, detached: Detached) {
        assert_eq!(core, 1);
        if let Some(tx) = &self.to_b {
            let _ = tx.send(detached);
        }
    }
}

/// Starts core A (a server) and core B (adopting what A moves); the server's address and
/// B's count of adopted connections. Both run until the test process ends.
fn start_cores() -> (std::net::SocketAddr, mpsc::Receiver<u64>) {
    let (to_b, moved) = mpsc::channel::<Detached>();
    let (addr_tx, addr_rx) = mpsc::channel();
    std::thread::spawn(move || {
        run_unpinned("core-a", NETWORK_ONLY_IO_MEMORY_BYTES, move || async move {
            let listener = server::bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let handler = Rc::new(Core {
                name: "A",
                to_b: Some(to_b),
            });
            server::serve(listener, handler, ConnectionLimits::default()).await;
        })
    });
    let (adopted_tx, adopted) = mpsc::channel();
    std::thread::spawn(move || {
        run_unpinned("core-b", NETWORK_ONLY_IO_MEMORY_BYTES, move || async move {
            loop {
                match moved.try_recv() {
                    Ok(d) => {
                        let id = d.id();
                        let handler = Rc::new(Core {
                            name: "B",
                            to_b: None,
                        });
                        Connection::adopt(d, handler).unwrap();
                        let _ = adopted_tx.send(id);
                    }
                    Err(mpsc::TryRecvError::Empty) => {
                        glommio::timer::sleep(Duration::from_millis(1)).await;
                    }
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
        })
    });
    (addr_rx.recv().unwrap(), adopted)
}

fn echo_frame(i: usize, delay_ms: u64) -> Vec<u8> {
    let mut ext = ExtFields::new();
    ext.insert("delayMs", delay_ms.to_string());
    let mut cmd = RemotingCommand::request(ECHO, ext).with_body(format!("body-{i}").into_bytes());
    cmd.opaque = i as i32 + 1;
    frame::encode_to_vec(&cmd)
}

/// Reads `n` responses: (opaque, servedBy, body).
fn read_responses(s: &mut StdStream, n: usize) -> Vec<(i32, String, Vec<u8>)> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    while out.len() < n {
        while let Some(r) = frame::decode(&mut buf).unwrap() {
            let by = r.ext.get("servedBy").unwrap_or_default().to_owned();
            out.push((r.opaque, by, r.body.to_vec()));
        }
        if out.len() >= n {
            break;
        }
        let mut chunk = [0u8; 65536];
        let got = s.read(&mut chunk).unwrap();
        assert!(got > 0, "connection closed after {} responses", out.len());
        buf.extend_from_slice(&chunk[..got]);
    }
    out
}

#[test]
fn a_pipelined_burst_is_answered_whole_across_a_move() {
    let (addr, adopted) = start_cores();
    let mut s = StdStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let n = 3 * MOVE_WINDOW_REQUESTS as usize;
    let burst: Vec<u8> = (0..n).flat_map(|i| echo_frame(i, 0)).collect();
    s.write_all(&burst).unwrap();
    let mut got = read_responses(&mut s, n);
    got.sort_by_key(|(opaque, _, _)| *opaque);
    for (i, (opaque, _, body)) in got.iter().enumerate() {
        assert_eq!(*opaque, i as i32 + 1, "one answer per request");
        assert_eq!(body, format!("body-{i}").as_bytes());
    }
    // The first window was all A's; after the move, B answers.
    let by_a = got.iter().filter(|(_, by, _)| by == "A").count();
    assert!(by_a >= MOVE_WINDOW_REQUESTS as usize, "A answered {by_a}");
    assert!(by_a < n, "B answered none");
    assert!(adopted.recv_timeout(Duration::from_secs(5)).is_ok());
    // The moved connection goes on serving.
    s.write_all(&echo_frame(n, 0)).unwrap();
    let last = read_responses(&mut s, 1);
    assert_eq!(last[0].1, "B");
    assert!(adopted.try_recv().is_err(), "one move");
}

#[test]
fn a_parked_request_keeps_the_connection_where_it_is() {
    let (addr, adopted) = start_cores();
    let mut s = StdStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // Parked longer than the settle wait; then a full window asking to move.
    s.write_all(&echo_frame(0, 2_000)).unwrap();
    let n = MOVE_WINDOW_REQUESTS as usize;
    let burst: Vec<u8> = (1..=n).flat_map(|i| echo_frame(i, 0)).collect();
    s.write_all(&burst).unwrap();
    let got = read_responses(&mut s, n + 1);
    assert!(
        got.iter().all(|(_, by, _)| by == "A"),
        "every answer from A"
    );
    assert_eq!(
        got.last().unwrap().0,
        1,
        "the parked request is answered last"
    );
    // A full window more: the failed try holds the next one off (MOVE_MIN_INTERVAL_MS).
    let burst: Vec<u8> = (n + 1..=2 * n).flat_map(|i| echo_frame(i, 0)).collect();
    s.write_all(&burst).unwrap();
    let got = read_responses(&mut s, n);
    assert!(got.iter().all(|(_, by, _)| by == "A"));
    assert!(adopted.try_recv().is_err(), "no move");
}
