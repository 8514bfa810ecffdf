//! Master side: the HA listener, one sender and one report reader per slave link, and the
//! SYNC_MASTER wait.
//!
//! Shard 0 accepts on the HA port and reads the slave's HELLO; the link then moves (as a
//! duplicated descriptor) to the shard whose log it copies, which checks that the slave's
//! end is a point of its own log (same tail bytes) before streaming from there. The sender
//! reads ranges of up to haTransferBatchSize bytes (memory for recent data, one direct read
//! otherwise) and writes each as one DATA frame: catch-up is a sequence of large
//! sequential transfers, never a round trip per message.

use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_lite::future::{self, poll_fn};
use glommio::net::{TcpListener, TcpStream};

use super::wire::{self, Frame, RefuseReason, WIRE_VERSION};
use super::{dup_fd, stream_from_fd, LinkSocket};
use crate::broker::shard::Shard;
use crate::config::broker::BrokerRole;
use crate::store::FlushMode;

/// DATA frames up to this size go out as one write (header copied in front of the bytes);
/// larger ones as two, without the copy.
pub const SMALL_FRAME_BYTES: usize = 64 * 1024;
/// Time a new link has to send its HELLO.
pub const HELLO_TIMEOUT_MS: u64 = 10_000;

/// Why a SYNC_MASTER send was not confirmed by a slave (the message is stored either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaWaitError {
    /// No slave connected, or the best one is more than haSlaveFallbehindMax behind.
    NotAvailable,
    /// No slave report covered the send within slaveTimeout.
    Timeout,
}

/// Shard 0: accepts replication links for as long as the broker runs.
pub async fn serve(listener: TcpListener, shard: Rc<Shard>) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let s = shard.clone();
                glommio::spawn_local(async move {
                    if let Err(e) = accept_link(&s, stream).await {
                        tracing::warn!("replication link not set up: {e}");
                    }
                })
                .detach();
            }
            Err(e) => {
                tracing::warn!("HA accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads the HELLO and hands the link to the shard it copies.
async fn accept_link(shard: &Rc<Shard>, mut stream: TcpStream) -> Result<(), String> {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    let timeout = glommio::timer::sleep(Duration::from_millis(HELLO_TIMEOUT_MS));
    let hello = future::or(async { Some(wire::read_frame(&mut stream).await) }, async {
        timeout.await;
        None
    })
    .await
    .ok_or_else(|| format!("{peer} sent no HELLO within {HELLO_TIMEOUT_MS} ms"))?;
    let hello = match hello {
        Ok(Frame::Hello {
            version,
            shard: target,
            shards,
            end,
            tail_crc,
            addr,
        }) if version == WIRE_VERSION => Hello {
            target,
            shards,
            end,
            tail_crc,
            addr,
        },
        Ok(Frame::Hello { version, .. }) => {
            let text = format!(
                "replication wire version {version} is not spoken here (this master speaks {WIRE_VERSION})"
            );
            refuse(&mut stream, RefuseReason::BadHello, &text).await;
            return Err(format!("{peer}: {text}"));
        }
        Ok(other) => return Err(format!("{peer} opened with {other:?} instead of HELLO")),
        Err(e) => return Err(format!("{peer}: {e}")),
    };
    if shard.cfg().broker_role == BrokerRole::Slave {
        let text = format!("broker {} is a slave, not a master", shard.ident.addr);
        refuse(&mut stream, RefuseReason::NotMaster, &text).await;
        return Err(text);
    }
    if hello.shards as usize != shard.shards {
        let text = format!(
            "slave {} runs {} shards but master {} runs {}: a slave needs the master's shard count (set shardCount={} on the slave and give it an empty store)",
            hello.addr, hello.shards, shard.ident.addr, shard.shards, shard.shards
        );
        tracing::error!("{text}");
        refuse(&mut stream, RefuseReason::ShardCount, &text).await;
        return Err(text);
    }
    let target = hello.target as usize;
    if target == shard.id {
        super::spawn_link(run_link(shard.clone(), stream, hello));
        return Ok(());
    }
    let fd = dup_fd(&stream).map_err(|e| format!("dup of {peer}'s socket: {e}"))?;
    drop(stream);
    shard
        .run_on(target, move |s| async move {
            let stream = stream_from_fd(fd);
            super::spawn_link(run_link(s, stream, hello));
        })
        .await
        .map_err(|e| format!("handing {peer}'s link to shard {target}: {e}"))
}

/// What a slave said in its HELLO.
struct Hello {
    target: u32,
    shards: u32,
    end: u64,
    tail_crc: u32,
    addr: String,
}

async fn refuse(stream: &mut TcpStream, reason: RefuseReason, text: &str) {
    let f = Frame::Refuse {
        reason,
        text: text.to_owned(),
    };
    let _ = wire::write_frame(stream, &f).await;
}

/// The owner shard: checks the slave's end, then streams until the link fails.
async fn run_link(shard: Rc<Shard>, mut stream: TcpStream, hello: Hello) {
    // A large DATA frame goes out as two writes (header, then the log bytes as they are):
    // Nagle would hold the second for the peer's delayed ACK.
    let _ = stream.set_nodelay(true);
    let store = shard.store.clone();
    let pos = store.log_positions();
    let who = format!("slave {} (shard {})", hello.addr, shard.id);
    let problem = if hello.end > pos.end {
        Some((
            RefuseReason::Diverged,
            format!(
                "{who} holds log bytes up to local offset {} but this master's log ends at {}: the slave has bytes the master does not (an unflushed tail lost by the master?)",
                hello.end, pos.end
            ),
        ))
    } else if hello.end < pos.first {
        Some((
            RefuseReason::BehindRetention,
            format!(
                "{who} ends at local offset {} but this master keeps the log from {} on (older segments were removed by retention): give the slave an empty store of the master's age, or a copy of the master's",
                hello.end, pos.first
            ),
        ))
    } else {
        match store.tail_digest(hello.end).await {
            Ok(Some(crc)) if crc == hello.tail_crc => None,
            Ok(_) => Some((
                RefuseReason::Diverged,
                format!(
                    "{who}: the slave's last bytes before local offset {} differ from the master's: the logs diverged",
                    hello.end
                ),
            )),
            Err(e) => {
                tracing::warn!("{who}: cannot read the log tail: {e}");
                return;
            }
        }
    };
    if let Some((reason, text)) = problem {
        tracing::error!("replication refused: {text}");
        refuse(&mut stream, reason, &text).await;
        return;
    }
    let cfg = shard.cfg();
    let durable_acks =
        cfg.broker_role == BrokerRole::SyncMaster && store.flush_mode() == FlushMode::Sync;
    let welcome = Frame::Welcome {
        master_end: pos.end,
        durable_acks,
    };
    if let Err(e) = wire::write_frame(&mut stream, &welcome).await {
        tracing::warn!("{who}: {e}");
        return;
    }
    let reader = match dup_fd(&stream) {
        Ok(fd) => stream_from_fd(fd),
        Err(e) => {
            tracing::warn!("{who}: {e}");
            return;
        }
    };
    let socket = match LinkSocket::of(&stream) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("{who}: {e}");
            return;
        }
    };
    let repl = &shard.replication;
    let id = repl.add_link(hello.addr.clone(), hello.end);
    tracing::info!(from = hello.end, master_end = pos.end, "{who} connected");
    let reports = read_reports(&shard, reader, id);
    let sending = send_log(&shard, stream, id, hello.end);
    let why = future::or(reports, sending).await;
    // Whichever side ended first, end the other: the socket is shut for both descriptors.
    socket.shut();
    repl.remove_link(id);
    tracing::warn!("{who} disconnected: {why}");
}

/// Reads the slave's REPORTs until the link fails or stays silent past housekeeping.
async fn read_reports(shard: &Shard, mut rd: TcpStream, id: u64) -> String {
    let idle = Duration::from_millis(shard.cfg().ha_housekeeping_interval.max(1000));
    loop {
        let f = future::or(async { Some(wire::read_frame(&mut rd).await) }, async {
            glommio::timer::sleep(idle).await;
            None
        })
        .await;
        match f {
            None => return format!("no report for {} ms", idle.as_millis()),
            Some(Ok(Frame::Report { received, durable })) => {
                let end = shard.store.log_positions().end;
                if received > end || durable > received {
                    return format!(
                        "report of received {received} / durable {durable} does not fit this log (end {end})"
                    );
                }
                shard.replication.on_report(id, received, durable);
            }
            Some(Ok(other)) => return format!("unexpected frame {other:?}"),
            Some(Err(e)) => return e.to_string(),
        }
    }
}

/// Streams the log from `next` as it grows; heartbeats when idle. While one range is on
/// the socket the next is read (catch-up overlaps the device and the network).
async fn send_log(shard: &Shard, mut w: TcpStream, id: u64, mut next: u64) -> String {
    let cfg = shard.cfg();
    let batch = cfg.ha_transfer_batch_size as usize;
    let heartbeat = Duration::from_millis(cfg.ha_send_heartbeat_interval.max(100));
    let write_limit = Duration::from_millis(cfg.ha_housekeeping_interval.max(1000));
    let store = &shard.store;
    let sync_flush = store.flush_mode() == FlushMode::Sync;
    let mut last_write = Instant::now();
    let mut prefetched: Option<(u64, Result<bytes::Bytes, crate::store::StoreError>)> = None;
    loop {
        let pos = store.log_positions();
        let until = pos.replicable(sync_flush);
        let read = |from: u64| store.read_log_bytes(from, batch.min((until - from) as usize));
        let (header, bytes) = if next < until {
            let got = match prefetched.take() {
                Some((at, r)) if at == next => r,
                _ => read(next).await,
            };
            let bytes = match got {
                Ok(b) if !b.is_empty() => b,
                Ok(_) => return format!("nothing readable at local offset {next}"),
                Err(e) => return e.to_string(),
            };
            let header = wire::data_header(next, pos.end, bytes.len());
            next += bytes.len() as u64;
            (header, Some(bytes))
        } else if last_write.elapsed() >= heartbeat {
            let mut b = bytes::BytesMut::new();
            Frame::Heartbeat {
                master_end: pos.end,
            }
            .encode(&mut b);
            (b.to_vec(), None)
        } else {
            let left = heartbeat.saturating_sub(last_write.elapsed());
            if store.wait_progress(pos, left).await.is_none() {
                return "the broker is stopping".into();
            }
            continue;
        };
        let n = bytes.as_ref().map_or(0, |b| b.len() as u64);
        let write = async {
            use futures_lite::AsyncWriteExt;
            match &bytes {
                // The common SYNC_MASTER frame (one group commit's bytes): one send, so
                // the slave gets header and bytes in one segment.
                Some(b) if b.len() <= SMALL_FRAME_BYTES => {
                    let mut one = Vec::with_capacity(header.len() + b.len());
                    one.extend_from_slice(&header);
                    one.extend_from_slice(b);
                    w.write_all(&one).await?;
                }
                Some(b) => {
                    w.write_all(&header).await?;
                    w.write_all(b).await?;
                }
                None => w.write_all(&header).await?,
            }
            Ok::<(), std::io::Error>(())
        };
        let write = async {
            future::or(async { Some(write.await) }, async {
                glommio::timer::sleep(write_limit).await;
                None
            })
            .await
        };
        let wrote = if next < until {
            let (wrote, ahead) = future::zip(write, read(next)).await;
            prefetched = Some((next, ahead));
            wrote
        } else {
            write.await
        };
        match wrote {
            Some(Ok(())) => {}
            Some(Err(e)) => return e.to_string(),
            None => {
                return format!(
                    "a write made no progress for {} ms",
                    write_limit.as_millis()
                )
            }
        }
        shard.replication.on_sent(id, n);
        last_write = Instant::now();
    }
}

/// SYNC_MASTER: waits until a slave's report covers local log end `end` (its durable end
/// when this master syncs every send), at most slaveTimeout.
pub async fn wait_for_slaves(shard: &Shard, end: u64) -> Result<(), ReplicaWaitError> {
    let cfg = shard.cfg();
    let durable = shard.store.flush_mode() == FlushMode::Sync;
    let repl = &shard.replication;
    let master_end = shard.store.log_positions().end;
    // RocketMQ's isSlaveOK: someone connected and not too far behind (by what it received).
    match repl.best_ack(false) {
        Some(a) if master_end.saturating_sub(a) < cfg.ha_slave_fallbehind_max => {}
        _ => return Err(ReplicaWaitError::NotAvailable),
    }
    let covered = poll_fn(|cx| {
        if repl.best_ack(durable).is_some_and(|a| a >= end) {
            return Poll::Ready(Ok(()));
        }
        repl.ack_waiters.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    });
    let timeout = async {
        glommio::timer::sleep(Duration::from_millis(cfg.slave_timeout.max(1))).await;
        Err(ReplicaWaitError::Timeout)
    };
    future::or(covered, timeout).await
}
