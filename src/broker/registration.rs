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
/// Registration period of a slave that does not know its master yet, ms.
pub const SLAVE_ASK_FOR_MASTER_MS: u64 = 1_000;
/// Connect and request timeout towards a nameserver.
pub const NAMESRV_TIMEOUT_MS: u64 = 3_000;

/// A wake-up flag for one waiting task, counting the rounds asked for and finished so a
/// caller can wait until the work it asked for is done.
#[derive(Default)]
pub struct Trigger {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
    asked: Cell<u64>,
    done: Cell<u64>,
    done_wakers: RefCell<Vec<Waker>>,
}

impl Trigger {
    /// Wakes the waiter (or makes its next wait return at once).
    pub fn fire(&self) {
        self.asked.set(self.asked.get() + 1);
        self.fired.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Rounds asked for so far: a round the worker starts after reading this covers them.
    pub fn asked(&self) -> u64 {
        self.asked.get()
    }

    /// The worker finished a round that began when `asked` was `round`.
    pub fn finished(&self, round: u64) {
        debug_assert!(round <= self.asked.get());
        if round > self.done.get() {
            self.done.set(round);
        }
        for w in self.done_wakers.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// Waits until a round covering `round` has finished, or `timeout`; true when it has.
    pub async fn finished_through(&self, round: u64, timeout: Duration) -> bool {
        let done = std::future::poll_fn(|cx| {
            if self.done.get() >= round {
                return std::task::Poll::Ready(true);
            }
            self.done_wakers.borrow_mut().push(cx.waker().clone());
            std::task::Poll::Pending
        });
        future::or(done, async {
            glommio::timer::sleep(timeout).await;
            false
        })
        .await
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
    let ip = ident.store_host.ip();
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
        ha_server_addr: format!("{ip}:{}", shard.cfg().ha_port()),
        broker_id: ident.cfg.broker_id,
        compressed: Some(false),
        body_crc32: Some((crc32fast::hash(&bytes) & 0x7FFF_FFFF) as i32),
        heartbeat_timeout_millis: None,
    };
    RemotingCommand::request_with(RequestCode::REGISTER_BROKER.code(), &header).with_body(bytes)
}

/// Registers with every nameserver once; logs failures. A slave learns its master's
/// broker and HA addresses from the answers (RocketMQ's RegisterBrokerResult).
pub async fn register_all(shard: &Shard, links: &NamesrvLinks) {
    let mut master: Option<(Option<String>, Option<String>)> = None;
    for addr in shard.ident.namesrv.clone() {
        let req = register_request(shard);
        match links.request(addr, req).await {
            Ok(r) if r.code == ResponseCode::SUCCESS.code() => {
                tracing::debug!(namesrv = %addr, "registered");
                let non_empty = |k: &str| r.ext.get(k).filter(|v| !v.is_empty()).map(str::to_owned);
                let found = (non_empty("masterAddr"), non_empty("haServerAddr"));
                // The first nameserver that knows a master wins (RocketMQ takes the first).
                if master.as_ref().is_none_or(|m| m.0.is_none()) {
                    master = Some(found);
                }
            }
            Ok(r) => {
                tracing::warn!(namesrv = %addr, code = r.code, remark = ?r.remark, "registration refused")
            }
            Err(e) => tracing::warn!(namesrv = %addr, "registration failed: {e}"),
        }
    }
    if shard.cfg().broker_role == crate::config::broker::BrokerRole::Slave {
        if let Some((master_addr, ha)) = master {
            learn_master(shard, master_addr, ha).await;
        }
    }
}

/// Tells every shard of a slave where its master is (a nameserver answered).
async fn learn_master(shard: &Shard, master_addr: Option<String>, ha: Option<String>) {
    let fixed = !shard.cfg().ha_master_address.is_empty();
    let before = shard.replication.follow();
    let unchanged = before.master_addr == master_addr && (fixed || before.master_ha == ha);
    if unchanged && shard.replication.followers_told() {
        return;
    }
    tracing::info!(master = ?master_addr, ha = ?ha, "master of this slave");
    let r = shard
        .run_on_all(move |s| {
            let (m, h) = (master_addr.clone(), ha.clone());
            async move {
                s.replication.update_follow(|f| f.master_addr = m);
                // A configured haMasterAddress is kept (RocketMQ's rule); a master that left
                // the nameserver keeps its last address: the follower reconnects to it.
                if !fixed && h.is_some() {
                    s.replication.set_master_ha(h);
                }
            }
        })
        .await;
    // A shard that could not be told (it is stopping) is told again at the next
    // registration (soon, see `run`).
    shard.replication.set_followers_told(r.is_ok());
    if let Err(e) = r {
        tracing::warn!("cannot tell the shards where the master is yet: {e}");
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
        // A slave that has not heard of its master yet (or could not tell every shard) asks
        // again soon.
        let masterless = shard.cfg().broker_role == crate::config::broker::BrokerRole::Slave
            && (shard.replication.follow().master_addr.is_none()
                || !shard.replication.followers_told());
        let wait = if masterless {
            period.min(Duration::from_millis(SLAVE_ASK_FOR_MASTER_MS))
        } else {
            period
        };
        shard.register_now.wait(wait).await;
        let round = shard.register_now.asked();
        register_all(&shard, &links).await;
        shard.register_now.finished(round);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_returns_once_a_round_covering_its_ask_finished() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let t = Rc::new(Trigger::default());
                t.fire();
                let round = t.asked();
                assert_eq!(round, 1);
                // Nothing finished: the wait times out.
                assert!(!t.finished_through(round, Duration::from_millis(20)).await);
                let worker = t.clone();
                glommio::spawn_local(async move {
                    worker.wait(Duration::from_secs(5)).await;
                    let r = worker.asked();
                    worker.finished(r);
                })
                .detach();
                assert!(t.finished_through(round, Duration::from_secs(5)).await);
                // A later ask is not covered by the earlier round.
                t.fire();
                assert!(
                    !t.finished_through(t.asked(), Duration::from_millis(20))
                        .await
                );
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
