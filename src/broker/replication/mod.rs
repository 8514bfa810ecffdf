//! Master/slave replication, per shard: slave shard i follows master shard i's commit log
//! over the HA port (`haListenPort`, listenPort + 1), on coremq's own wire ([`wire`]).
//!
//! - [`master`]: the HA listener (shard 0 accepts and hands each link to the shard it
//!   names), one sender per link streaming log bytes as they are appended, and the
//!   SYNC_MASTER wait: a send is answered once a slave's report covers it.
//! - [`slave`]: one follower per shard: connect, say where its log ends, append what
//!   arrives, report received and durable ends; stop for good on divergence.
//! - [`meta_sync`]: topics, groups, consumer and delay offsets copied from the master every
//!   10 s (RocketMQ's SlaveSynchronize).
//!
//! Every link's state lives on the shard that owns the log it copies ([`Replication`]),
//! so acknowledgements never cross cores: one REPORT wakes every send waiting on that
//! shard whose end it covers (grouped acknowledgement).

pub mod master;
pub mod meta_sync;
pub mod slave;
pub mod wire;

use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::task::Waker;

use glommio::net::TcpStream;

use crate::broker::registration::Trigger;

/// Least time between two early metadata copies asked by one slave shard, ms.
pub const META_ASK_INTERVAL_MS: u64 = 500;

/// One slave connected to this (master) shard.
#[derive(Debug, Clone)]
pub struct SlaveLink {
    /// Link id on this shard.
    pub id: u64,
    /// The slave's broker address (from its HELLO).
    pub addr: String,
    /// The slave's appended end (its last report).
    pub received: u64,
    /// The slave's durable end (its last report).
    pub durable: u64,
    /// Where the transfer started.
    pub from: u64,
    /// Log bytes sent on this link.
    pub sent_bytes: u64,
    /// When the slave connected (ms since the epoch).
    pub since_ms: i64,
    /// When its last report arrived (ms since the epoch).
    pub last_report_ms: i64,
}

/// What a slave shard's follower is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowState {
    /// No master address known yet (the nameserver has none registered).
    WaitingForMaster,
    /// Connecting or handshaking.
    Connecting,
    /// Receiving the master's log.
    Following,
    /// The master refused this slave (shard count, retention): retried slowly.
    Refused(String),
    /// This slave holds bytes the master does not: it stopped following.
    Diverged(String),
    /// The link failed; reconnecting.
    Disconnected(String),
}

impl FollowState {
    /// One word for tables and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            FollowState::WaitingForMaster => "WAITING_FOR_MASTER",
            FollowState::Connecting => "CONNECTING",
            FollowState::Following => "FOLLOWING",
            FollowState::Refused(_) => "REFUSED",
            FollowState::Diverged(_) => "DIVERGED",
            FollowState::Disconnected(_) => "DISCONNECTED",
        }
    }

    /// The reason, when there is one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            FollowState::Refused(s) | FollowState::Diverged(s) | FollowState::Disconnected(s) => {
                Some(s)
            }
            _ => None,
        }
    }
}

/// A slave shard's view of its master.
#[derive(Debug, Clone)]
pub struct Follow {
    /// State.
    pub state: FollowState,
    /// The master's HA address in use.
    pub master_ha: Option<String>,
    /// The master's broker address (from registration): where metadata is copied from.
    pub master_addr: Option<String>,
    /// The master's log end, as last heard.
    pub master_end: u64,
    /// Log bytes received since start.
    pub received_bytes: u64,
    /// Last frame from the master (ms since the epoch).
    pub last_read_ms: i64,
    /// Last report sent (ms since the epoch).
    pub last_write_ms: i64,
}

/// One shard's replication state (this core only).
pub struct Replication {
    links: RefCell<Vec<SlaveLink>>,
    next_link: Cell<u64>,
    ack_waiters: RefCell<Vec<Waker>>,
    follow: RefCell<Follow>,
    /// Fired when the master's HA address changes (registration learnt it).
    pub master_changed: Trigger,
    /// Shard 0 of a slave: copy the master's metadata now (a record of a topic this
    /// slave does not know arrived).
    pub meta_sync_now: Trigger,
    /// When this shard last asked for such a copy.
    last_meta_ask: Cell<Option<std::time::Instant>>,
    /// Shard 0 of a slave: every shard has been told the master registration last named
    /// (a shard still starting cannot be; registration then asks again soon).
    followers_told: Cell<bool>,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            links: RefCell::new(Vec::new()),
            next_link: Cell::new(0),
            ack_waiters: RefCell::new(Vec::new()),
            follow: RefCell::new(Follow {
                state: FollowState::WaitingForMaster,
                master_ha: None,
                master_addr: None,
                master_end: 0,
                received_bytes: 0,
                last_read_ms: 0,
                last_write_ms: 0,
            }),
            master_changed: Trigger::default(),
            meta_sync_now: Trigger::default(),
            followers_told: Cell::new(false),
            last_meta_ask: Cell::new(None),
        }
    }
}

impl Replication {
    /// The slaves connected to this shard now.
    pub fn links(&self) -> Vec<SlaveLink> {
        self.links.borrow().clone()
    }

    /// A slave shard's follower state.
    pub fn follow(&self) -> Follow {
        self.follow.borrow().clone()
    }

    /// Changes the follower state (slave side).
    pub fn update_follow(&self, f: impl FnOnce(&mut Follow)) {
        f(&mut self.follow.borrow_mut());
    }

    /// Shard 0 of a slave: whether every shard knows the master registration last named.
    pub fn followers_told(&self) -> bool {
        self.followers_told.get()
    }

    /// Records whether telling every shard about the master succeeded.
    pub fn set_followers_told(&self, told: bool) {
        self.followers_told.set(told);
    }

    /// Sets the master's HA address (slave side); wakes the follower when it changed.
    pub fn set_master_ha(&self, addr: Option<String>) {
        let changed = {
            let mut f = self.follow.borrow_mut();
            let changed = f.master_ha != addr;
            f.master_ha = addr;
            changed
        };
        if changed {
            self.master_changed.fire();
        }
    }

    /// Whether to ask for a metadata copy now (at most every [`META_ASK_INTERVAL_MS`]).
    pub fn should_ask_for_meta(&self) -> bool {
        let now = std::time::Instant::now();
        let due = self.last_meta_ask.get().is_none_or(|t| {
            now.duration_since(t) >= std::time::Duration::from_millis(META_ASK_INTERVAL_MS)
        });
        if due {
            self.last_meta_ask.set(Some(now));
        }
        due
    }

    fn add_link(&self, addr: String, from: u64) -> u64 {
        let id = self.next_link.get();
        self.next_link.set(id + 1);
        let now = crate::clock::now_ms();
        self.links.borrow_mut().push(SlaveLink {
            id,
            addr,
            received: from,
            durable: from,
            from,
            sent_bytes: 0,
            since_ms: now,
            last_report_ms: now,
        });
        id
    }

    fn remove_link(&self, id: u64) {
        self.links.borrow_mut().retain(|l| l.id != id);
        self.wake_acks();
    }

    fn on_report(&self, id: u64, received: u64, durable: u64) {
        if let Some(l) = self.links.borrow_mut().iter_mut().find(|l| l.id == id) {
            // Paired with the slave's own check: its ends only move forward.
            debug_assert!(received >= l.received && durable >= l.durable);
            l.received = l.received.max(received);
            l.durable = l.durable.max(durable);
            l.last_report_ms = crate::clock::now_ms();
        }
        self.wake_acks();
    }

    fn on_sent(&self, id: u64, n: u64) {
        if let Some(l) = self.links.borrow_mut().iter_mut().find(|l| l.id == id) {
            l.sent_bytes += n;
        }
    }

    fn wake_acks(&self) {
        let ws: Vec<Waker> = self.ack_waiters.borrow_mut().drain(..).collect();
        ws.into_iter().for_each(Waker::wake);
    }

    /// The furthest acknowledged end among connected slaves (durable or received).
    pub fn best_ack(&self, durable: bool) -> Option<u64> {
        self.links
            .borrow()
            .iter()
            .map(|l| if durable { l.durable } else { l.received })
            .max()
    }
}

/// A second descriptor for the same socket, so a reader and a writer each own a stream
/// (owned: closed if dropped before it becomes one, as when a hand-over fails).
pub(crate) fn dup_fd(s: &impl AsRawFd) -> std::io::Result<OwnedFd> {
    // SAFETY: dup returns a new descriptor we own exclusively (or -1, checked).
    let fd = unsafe { libc::dup(s.as_raw_fd()) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is open and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One more descriptor of a link's socket, held while its reader and writer race: after
/// both streams are dropped, [`LinkSocket::shut`] ends the socket for every descriptor
/// through one this link still owns. Shutting down by the streams' raw number after the
/// drop could hit whatever socket reused that number meanwhile (descriptors are
/// process-wide: a client connection another shard just accepted), and did.
pub(crate) struct LinkSocket(OwnedFd);

impl LinkSocket {
    /// Holds a duplicate of `s`'s descriptor.
    pub(crate) fn of(s: &impl AsRawFd) -> std::io::Result<Self> {
        dup_fd(s).map(LinkSocket)
    }

    /// Shuts the socket for both directions and every descriptor (the peer reads end of
    /// file), then closes this one.
    pub(crate) fn shut(self) {
        // SAFETY: shutdown on a descriptor this value owns and keeps open for the call.
        unsafe { libc::shutdown(self.0.as_raw_fd(), libc::SHUT_RDWR) };
    }
}

/// A stream for a descriptor from [`dup_fd`], bound to this core's executor.
pub(crate) fn stream_from_fd(fd: OwnedFd) -> TcpStream {
    // SAFETY: `fd` is an open socket descriptor whose ownership passes to the stream.
    unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) }
}

/// One shard's replication status, gathered for brokerStatus, haStatus and metrics.
#[derive(Debug, Clone)]
pub struct ShardHa {
    /// Shard index.
    pub shard: usize,
    /// This broker is a slave.
    pub slave: bool,
    /// The shard's log.
    pub log: crate::store::replica::LogPositions,
    /// Master: the slaves connected to this shard.
    pub links: Vec<SlaveLink>,
    /// Slave: the follower.
    pub follow: Follow,
}

impl ShardHa {
    /// Reads this shard's status (run on the shard).
    pub fn of(s: &crate::broker::shard::Shard) -> ShardHa {
        ShardHa {
            shard: s.id,
            slave: s.cfg().broker_role == crate::config::broker::BrokerRole::Slave,
            log: s.store.log_positions(),
            links: s.replication.links(),
            follow: s.replication.follow(),
        }
    }

    /// Bytes behind: a slave behind its master's last heard end; a master's best slave
    /// behind this log's end. `None` for a master with no slave connected.
    pub fn lag_bytes(&self) -> Option<u64> {
        if self.slave {
            return Some(self.follow.master_end.saturating_sub(self.log.end));
        }
        self.links
            .iter()
            .map(|l| self.log.end.saturating_sub(l.received))
            .min()
    }
}

/// The HA status table (GET_BROKER_HA_STATUS) from every shard's status.
pub fn ha_runtime_info(parts: &[&ShardHa], fallbehind_max: u64) -> HaRuntimeInfo {
    let slave = parts.first().is_some_and(|p| p.slave);
    let mut info = HaRuntimeInfo {
        master: !slave,
        master_commit_log_max_offset: parts.iter().map(|p| p.log.end as i64).sum(),
        ..HaRuntimeInfo::default()
    };
    let now = crate::clock::now_ms();
    if slave {
        info.shard_clients = parts
            .iter()
            .map(|p| {
                let f = &p.follow;
                let secs = ((now - f.last_read_ms).max(0) as f64 / 1000.0).max(1.0);
                HaClientRuntimeInfo {
                    master_addr: f.master_ha.clone().unwrap_or_default(),
                    transferred_byte_in_second: (f.received_bytes as f64 / secs) as i64,
                    max_offset: p.log.end as i64,
                    last_read_timestamp: f.last_read_ms,
                    last_write_timestamp: f.last_write_ms,
                    master_flush_offset: f.master_end as i64,
                    is_activated: f.state == FollowState::Following,
                    shard: p.shard as u32,
                    state: f.state.name().to_owned(),
                    detail: f.state.detail().unwrap_or_default().to_owned(),
                    lag_bytes: p.lag_bytes().unwrap_or(0) as i64,
                }
            })
            .collect();
        info.ha_client_runtime_info = info.shard_clients.first().cloned().unwrap_or_default();
        return info;
    }
    let mut in_sync: std::collections::BTreeMap<String, bool> = Default::default();
    for p in parts {
        for l in &p.links {
            let diff = p.log.end.saturating_sub(l.received);
            let ok = diff < fallbehind_max;
            let secs = ((now - l.since_ms).max(0) as f64 / 1000.0).max(1.0);
            *in_sync.entry(l.addr.clone()).or_insert(true) &= ok;
            info.ha_connection_info.push(HaConnectionRuntimeInfo {
                addr: l.addr.clone(),
                slave_ack_offset: l.received as i64,
                diff: diff as i64,
                in_sync: ok,
                transferred_byte_in_second: (l.sent_bytes as f64 / secs) as i64,
                transfer_from_where: l.from as i64,
                shard: p.shard as u32,
            });
        }
    }
    // A slave is in sync when every shard of it is, and every shard has a link from it.
    info.in_sync_slave_nums = in_sync
        .iter()
        .filter(|(addr, ok)| {
            **ok && parts
                .iter()
                .all(|p| p.links.iter().any(|l| &l.addr == *addr))
        })
        .count() as i32;
    info
}

use crate::protocol::body::ha::{HaClientRuntimeInfo, HaConnectionRuntimeInfo, HaRuntimeInfo};

/// The remark a slave answers writes with (RocketMQ answers SERVICE_NOT_AVAILABLE).
pub fn slave_write_refusal(cfg: &crate::config::broker::BrokerConfig, addr: &str) -> String {
    format!(
        "service not available now: messages are put to the slave (broker {}, {addr}, brokerRole=SLAVE); send to the master of {}",
        cfg.broker_name, cfg.broker_name
    )
}

/// RocketMQ's answer to a topic or group change sent to a slave (SYSTEM_ERROR).
pub const SLAVE_ADMIN_REFUSAL: &str =
    "Can't modify topic or subscription group from slave broker, please execute it from master broker.";

thread_local! {
    static LINK_QUEUE: std::cell::OnceCell<glommio::TaskQueueHandle> = const { std::cell::OnceCell::new() };
}

/// Spawns a replication link task (sender, report reader, follower) on this core's
/// replication queue ([`crate::runtime::prompt_queue`]). A SYNC_MASTER send waits for a
/// slave's report, so the link tasks sit on its acknowledgement path: a queue of their own
/// gets its share of the core when the request handlers yield.
pub fn spawn_link<F>(f: F)
where
    F: std::future::Future<Output = ()> + 'static,
{
    let tq = LINK_QUEUE.with(|q| *q.get_or_init(|| crate::runtime::prompt_queue("replication")));
    match glommio::spawn_local_into(f, tq) {
        Ok(t) => {
            t.detach();
        }
        Err(e) => tracing::error!("replication task not started: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::LinkSocket;

    /// The link's socket is shut through a descriptor the link still owns, after both of
    /// its streams are dropped: the peer reads end of file, and a connection opened in
    /// between (on the lowest free numbers: the ones the streams freed) keeps working.
    #[test]
    fn a_link_shuts_its_own_socket_and_no_other() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut peer = TcpStream::connect(addr).unwrap();
        let (link, _) = listener.accept().unwrap();
        let reader = link.try_clone().unwrap();
        let socket = LinkSocket::of(&link).unwrap();
        drop(link);
        drop(reader);
        let mut other = TcpStream::connect(addr).unwrap();
        let (mut other_end, _) = listener.accept().unwrap();
        socket.shut();
        let mut buf = [0u8; 4];
        assert_eq!(
            peer.read(&mut buf).unwrap(),
            0,
            "the link's peer reads end of file"
        );
        other.write_all(b"ping").unwrap();
        other_end.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        other_end.write_all(b"pong").unwrap();
        other.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
    }
}
