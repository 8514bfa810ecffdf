//! Registration with the nameservers (REGISTER_BROKER 103): at start, every
//! `registerNameServerPeriod` (clamped to 10–60 s like RocketMQ) and right after a topic
//! change; UNREGISTER_BROKER (104) on clean shutdown. Runs on shard 0, which holds the
//! authoritative topic table. The full table is always sent (the nameserver upserts).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Waker;
use std::time::Duration;

use futures_lite::future;

use super::shard::Shard;
use crate::client::rpc::Links;
use crate::protocol::body::RegisterBrokerBody;
use crate::protocol::codes::perm;
use crate::protocol::header::namesrv::{BrokerIdentityHeader, RegisterBrokerRequestHeader};
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};

/// Shortest and longest registration period, ms.
pub const REGISTER_PERIOD_MIN_MS: u64 = 10_000;
/// See [`REGISTER_PERIOD_MIN_MS`].
pub const REGISTER_PERIOD_MAX_MS: u64 = 60_000;
/// Connect and request timeout towards a nameserver.
pub const NAMESRV_TIMEOUT_MS: u64 = 3_000;

/// A wake-up flag for one waiting task.
#[derive(Default)]
pub struct Trigger {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Trigger {
    /// Wakes the waiter (or makes its next wait return at once).
    pub fn fire(&self) {
        self.fired.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Waits for `fire` or `timeout`.
    pub async fn wait(&self, timeout: Duration) {
        let fired = std::future::poll_fn(|cx| {
            if self.fired.replace(false) {
                return std::task::Poll::Ready(());
            }
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            std::task::Poll::Pending
        });
        future::or(fired, glommio::timer::sleep(timeout)).await;
    }
}

/// Connections to the nameservers (reconnected when they drop).
pub type NamesrvLinks = Links;

/// Links with the nameserver timeout.
pub fn namesrv_links() -> Links {
    Links::with_timeout(Duration::from_millis(NAMESRV_TIMEOUT_MS))
}

fn register_request(shard: &Shard) -> RemotingCommand {
    let ident = &shard.ident;
    let (ip, port) = (ident.store_host.ip(), ident.store_host.port());
    let meta = shard.meta.borrow();
    // A broker without read or write permission registers its topics with only what it
    // grants (how wipeWritePerm and updateBrokerConfig brokerPermission take effect).
    let granted = shard.cfg().broker_permission as i32;
    let topics = meta.topics.values().cloned().map(|mut t| {
        if granted & (perm::READ | perm::WRITE) != perm::READ | perm::WRITE {
            t.perm &= granted;
        }
        t
    });
    let mut version = meta.topics_version;
    version.counter += shard.cfg_changes.get();
    let body = RegisterBrokerBody::new(topics, version);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let header = RegisterBrokerRequestHeader {
        broker_name: ident.cfg.broker_name.clone(),
        broker_addr: ident.addr.clone(),
        cluster_name: ident.cfg.broker_cluster_name.clone(),
        ha_server_addr: format!("{ip}:{}", port.saturating_add(1)),
        broker_id: ident.cfg.broker_id,
        compressed: Some(false),
        body_crc32: Some((crc32fast::hash(&bytes) & 0x7FFF_FFFF) as i32),
        heartbeat_timeout_millis: None,
    };
    RemotingCommand::request_with(RequestCode::REGISTER_BROKER.code(), &header).with_body(bytes)
}

/// Registers with every nameserver once; logs failures.
pub async fn register_all(shard: &Shard, links: &NamesrvLinks) {
    for addr in shard.ident.namesrv.clone() {
        let req = register_request(shard);
        match links.request(addr, req).await {
            Ok(r) if r.code == ResponseCode::SUCCESS.code() => {
                tracing::debug!(namesrv = %addr, "registered");
            }
            Ok(r) => {
                tracing::warn!(namesrv = %addr, code = r.code, remark = ?r.remark, "registration refused")
            }
            Err(e) => tracing::warn!(namesrv = %addr, "registration failed: {e}"),
        }
    }
}

/// Shard 0's registration loop (runs until the process ends), after the first
/// registration, which start-up awaits before the boot line.
pub async fn run(shard: Rc<Shard>, links: Rc<NamesrvLinks>) {
    let period = Duration::from_millis(
        shard
            .cfg()
            .register_name_server_period
            .clamp(REGISTER_PERIOD_MIN_MS, REGISTER_PERIOD_MAX_MS),
    );
    loop {
        shard.register_now.wait(period).await;
        register_all(&shard, &links).await;
    }
}

/// Unregisters from every nameserver (clean shutdown).
pub async fn unregister_all(shard: &Shard, links: &NamesrvLinks) {
    let ident = &shard.ident;
    for addr in ident.namesrv.clone() {
        let header = BrokerIdentityHeader {
            broker_name: ident.cfg.broker_name.clone(),
            broker_addr: ident.addr.clone(),
            cluster_name: ident.cfg.broker_cluster_name.clone(),
            broker_id: ident.cfg.broker_id,
        };
        let req = RemotingCommand::request_with(RequestCode::UNREGISTER_BROKER.code(), &header);
        if let Err(e) = links.request(addr, req).await {
            tracing::warn!(namesrv = %addr, "unregister failed: {e}");
        }
    }
}
