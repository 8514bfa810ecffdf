//! Slave side: one follower per shard copying master shard i's log.
//!
//! The follower connects to the master's HA address (haMasterAddress, else what the
//! nameserver answered at registration), says where its log ends (with the CRC32C of its
//! last bytes), and appends the DATA that follows: whole entries at the same offsets, each
//! verified and indexed ([`crate::store::replica`]). A second task reports the received
//! and durable ends after every change (the master releases SYNC_MASTER sends on them)
//! and at least every haSendHeartbeatInterval.
//!
//! A master that finds the slave's bytes are not its own refuses it as diverged; so does
//! the slave when a transfer does not continue its log. Either way the follower stops for
//! good, logs why and shows it (brokerStatus, haStatus, clusterList, metrics): appending on
//! top would make a log that is neither the master's nor the slave's.

use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future;
use glommio::net::TcpStream;

use super::wire::{self, Frame, RefuseReason, WIRE_VERSION};
use super::{dup_fd, stream_from_fd, FollowState, LinkSocket};
use crate::broker::shard::Shard;
use crate::store::StoreError;

/// Connect timeout towards the master's HA port.
pub const CONNECT_TIMEOUT_MS: u64 = 3_000;
/// Pause before reconnecting after a failed link.
pub const RECONNECT_DELAY_MS: u64 = 1_000;
/// Pause before asking again after a refusal that an operator must fix.
pub const REFUSED_RETRY_MS: u64 = 30_000;

/// How one connection ended.
enum Ended {
    /// The logs diverged: stop following.
    Diverged(String),
    /// The master refused (fixable by an operator): retry slowly.
    Refused(String),
    /// The link failed: reconnect.
    Failed(String),
}

/// Follows the master until the broker stops (or the logs diverge).
pub async fn run(shard: Rc<Shard>) {
    let repl = &shard.replication;
    let fixed = shard.cfg().ha_master_address.clone();
    if !fixed.is_empty() {
        repl.set_master_ha(Some(fixed));
    }
    loop {
        if shard.closing.get() {
            return;
        }
        let Some(addr) = repl.follow().master_ha else {
            repl.update_follow(|f| f.state = FollowState::WaitingForMaster);
            repl.master_changed
                .wait(Duration::from_millis(RECONNECT_DELAY_MS * 5))
                .await;
            continue;
        };
        repl.update_follow(|f| f.state = FollowState::Connecting);
        let ended = follow_once(&shard, &addr).await;
        if shard.closing.get() {
            return;
        }
        let (state, pause_ms) = match ended {
            Ended::Diverged(why) => {
                tracing::error!(
                    shard = shard.id,
                    master = addr,
                    "replication stopped, the slave's log diverged from the master's: {why}"
                );
                repl.update_follow(|f| f.state = FollowState::Diverged(why));
                return;
            }
            Ended::Refused(why) => {
                tracing::error!(
                    shard = shard.id,
                    master = addr,
                    "master refused this slave: {why}"
                );
                (FollowState::Refused(why), REFUSED_RETRY_MS)
            }
            Ended::Failed(why) => {
                tracing::warn!(
                    shard = shard.id,
                    master = addr,
                    "replication link ended: {why}"
                );
                (FollowState::Disconnected(why), RECONNECT_DELAY_MS)
            }
        };
        repl.update_follow(|f| f.state = state);
        repl.master_changed
            .wait(Duration::from_millis(pause_ms))
            .await;
    }
}

async fn follow_once(shard: &Rc<Shard>, addr: &str) -> Ended {
    let target: std::net::SocketAddr = match addr.parse() {
        Ok(a) => a,
        Err(_) => return Ended::Refused(format!("master HA address {addr:?} is not ip:port")),
    };
    let connect = TcpStream::connect_timeout(target, Duration::from_millis(CONNECT_TIMEOUT_MS));
    let mut stream = match connect.await {
        Ok(s) => s,
        Err(e) => return Ended::Failed(format!("connect {addr}: {e}")),
    };
    let _ = stream.set_nodelay(true);
    let store = &shard.store;
    let pos = store.log_positions();
    let tail_crc = match store.tail_digest(pos.end).await {
        Ok(Some(c)) => c,
        Ok(None) => return Ended::Failed("log end moved during the handshake".into()),
        Err(e) => return Ended::Failed(format!("reading this log's tail: {e}")),
    };
    let hello = Frame::Hello {
        version: WIRE_VERSION,
        shard: shard.id as u32,
        shards: shard.shards as u32,
        end: pos.end,
        tail_crc,
        addr: shard.ident.addr.clone(),
    };
    if let Err(e) = wire::write_frame(&mut stream, &hello).await {
        return Ended::Failed(format!("HELLO to {addr}: {e}"));
    }
    let idle = Duration::from_millis(shard.cfg().ha_housekeeping_interval.max(1000));
    let first = future::or(async { Some(wire::read_frame(&mut stream).await) }, async {
        glommio::timer::sleep(idle).await;
        None
    })
    .await;
    let master_end = match first {
        Some(Ok(Frame::Welcome {
            master_end,
            durable_acks,
        })) => {
            store.set_force_sync(durable_acks);
            master_end
        }
        Some(Ok(Frame::Refuse { reason, text })) => {
            return match reason {
                RefuseReason::Diverged => Ended::Diverged(text),
                _ => Ended::Refused(text),
            }
        }
        Some(Ok(other)) => return Ended::Failed(format!("master answered {other:?}")),
        Some(Err(e)) => return Ended::Failed(format!("reading WELCOME: {e}")),
        None => return Ended::Failed(format!("no WELCOME within {} ms", idle.as_millis())),
    };
    tracing::info!(
        shard = shard.id,
        master = addr,
        from = pos.end,
        master_end,
        "following the master"
    );
    shard.replication.update_follow(|f| {
        f.state = FollowState::Following;
        f.master_end = master_end;
        f.last_read_ms = crate::clock::now_ms();
    });
    let writer = match dup_fd(&stream) {
        Ok(fd) => stream_from_fd(fd),
        Err(e) => return Ended::Failed(e.to_string()),
    };
    let socket = match LinkSocket::of(&stream) {
        Ok(s) => s,
        Err(e) => return Ended::Failed(e.to_string()),
    };
    let backlog = CatchUp {
        from: pos.end,
        to: master_end,
        since: Instant::now(),
    };
    let ended = future::or(receive(shard, stream, backlog, idle), report(shard, writer)).await;
    socket.shut();
    store.set_force_sync(false);
    ended
}

/// The backlog a link starts with: the slave's end and the master's at WELCOME.
struct CatchUp {
    from: u64,
    to: u64,
    since: Instant,
}

impl CatchUp {
    /// Logs once when the slave's end reaches the master's end at WELCOME.
    fn check(&mut self, shard: usize, end: u64) {
        if self.to <= self.from || end < self.to {
            return;
        }
        let bytes = self.to - self.from;
        let secs = self.since.elapsed().as_secs_f64();
        tracing::info!(
            shard,
            bytes,
            ms = (secs * 1000.0) as u64,
            mb_per_sec = (bytes as f64 / secs.max(1e-6) / 1e6) as u64,
            "caught up with the master's end at connect"
        );
        self.to = 0;
    }
}

/// Appends what the master sends, keeping a partial entry for the next frame.
async fn receive(
    shard: &Rc<Shard>,
    mut rd: TcpStream,
    mut backlog: CatchUp,
    idle: Duration,
) -> Ended {
    let store = &shard.store;
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_from = backlog.from;
    let mut frames = wire::FrameReader::default();
    loop {
        let f = future::or(async { Some(frames.read(&mut rd).await) }, async {
            glommio::timer::sleep(idle).await;
            None
        })
        .await;
        let now = crate::clock::now_ms();
        match f {
            None => return Ended::Failed(format!("master silent for {} ms", idle.as_millis())),
            Some(Err(e)) => return Ended::Failed(e.to_string()),
            Some(Ok(Frame::Heartbeat { master_end })) => {
                shard.replication.update_follow(|f| {
                    f.master_end = master_end;
                    f.last_read_ms = now;
                });
            }
            Some(Ok(Frame::Data {
                from,
                master_end,
                bytes,
            })) => {
                let expected = pending_from + pending.len() as u64;
                if from != expected {
                    return Ended::Failed(format!(
                        "master sent bytes from local offset {from}, expected {expected}"
                    ));
                }
                // Usually nothing is pending: append from the frame itself, keep the rest.
                let r = if pending.is_empty() {
                    store
                        .append_replicated(pending_from, &bytes)
                        .await
                        .inspect(|r| pending.extend_from_slice(&bytes[r.consumed..]))
                } else {
                    pending.extend_from_slice(&bytes);
                    store
                        .append_replicated(pending_from, &pending)
                        .await
                        .inspect(|r| {
                            pending.drain(..r.consumed);
                        })
                };
                let r = match r {
                    Ok(r) => r,
                    Err(StoreError::Replica(why)) => return Ended::Diverged(why),
                    Err(e) => return Ended::Failed(format!("storing replicated bytes: {e}")),
                };
                pending_from += r.consumed as u64;
                backlog.check(shard.id, pending_from);
                for (topic, qid) in &r.touched {
                    shard.waiters.notify(topic, *qid);
                }
                let unknown = r
                    .touched
                    .iter()
                    .any(|(t, _)| !shard.meta.borrow().topics.contains_key(t));
                if unknown && shard.replication.should_ask_for_meta() {
                    // A topic created on the master since the last copy: copy now, so
                    // consumers that move here find it.
                    let s = shard.clone();
                    glommio::spawn_local(async move {
                        let _ = s
                            .run_on(0, |s0| async move { s0.replication.meta_sync_now.fire() })
                            .await;
                    })
                    .detach();
                }
                shard.replication.update_follow(|f| {
                    f.master_end = master_end;
                    f.received_bytes += bytes.len() as u64;
                    f.last_read_ms = now;
                });
            }
            Some(Ok(other)) => return Ended::Failed(format!("unexpected frame {other:?}")),
        }
    }
}

/// Reports the received and durable ends whenever they move, and every heartbeat.
async fn report(shard: &Rc<Shard>, mut w: TcpStream) -> Ended {
    let heartbeat = Duration::from_millis(shard.cfg().ha_send_heartbeat_interval.max(100));
    let store = &shard.store;
    let mut sent: Option<(u64, u64)> = None;
    let mut last = Instant::now();
    loop {
        let p = store.log_positions();
        if sent != Some((p.end, p.durable)) || last.elapsed() >= heartbeat {
            let f = Frame::Report {
                received: p.end,
                durable: p.durable,
            };
            if let Err(e) = wire::write_frame(&mut w, &f).await {
                return Ended::Failed(format!("report: {e}"));
            }
            sent = Some((p.end, p.durable));
            last = Instant::now();
            shard
                .replication
                .update_follow(|f| f.last_write_ms = crate::clock::now_ms());
        }
        let left = heartbeat.saturating_sub(last.elapsed());
        if store.wait_progress(p, left).await.is_none() {
            return Ended::Failed("the broker is stopping".into());
        }
    }
}
