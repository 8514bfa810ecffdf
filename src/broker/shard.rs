//! One shard: the state a pinned core owns, and the only way other cores touch it.
//!
//! A `Shard` is `!Send` and lives on its executor. Another core gets something done here
//! with [`Shard::run_on`]: the closure crosses to this core's mailbox, runs on this core with
//! this core's `Rc<Shard>`, and its (`Send`) result comes back. What each core owns:
//! the store of its queues with their offsets, locks and parked pulls (by the queue map in
//! `shard_map`); the member lists of the client groups that hash to it (`clients`); the
//! client connections the kernel handed its listener (`connections`); a copy of the
//! metadata (shard 0 holds the original, see `metadata`).

use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::clients::{group_shard, ClientTables, Member};
use super::connections::{Joined, LocalConnections};
use super::locks::QueueLocks;
use super::long_polling::PullWaiters;
use super::metadata::{MetaChange, Metadata, MetadataFiles};
use super::offsets::ConsumerOffsets;
use super::router::{Router, RouterError, ShardService};
use super::shard_map::shard_for;
use super::throughput::Throughput;
use crate::config::broker::BrokerConfig;
use crate::protocol::header::broker::ConsumerGroupHeader;
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};
use crate::store::shard_store::AppendResult;
use crate::store::{NewMessage, ShardStore, StoreError};

/// Appends in flight on one shard before new sends are refused with SYSTEM_BUSY.
pub const MAX_INFLIGHT_APPENDS_PER_SHARD: usize = 32_768;
/// Message bytes of the appends in flight on one shard (those waiting for a SYNC_FLUSH
/// sync or a slave's ack) before new sends are refused with SYSTEM_BUSY: what a slow disk
/// or slave can make the shard hold, whatever the message sizes.
pub const MAX_INFLIGHT_APPEND_BYTES_PER_SHARD: u64 = 64 * 1024 * 1024;
/// How often a group's keeper drops silent clients.
pub const CLIENT_SCAN_INTERVAL_MS: u64 = 10_000;

/// A result crossing cores.
pub type JobResult = Box<dyn Any + Send>;
/// Work sent to another core: runs there with that core's shard.
pub type Job = Box<dyn FnOnce(Rc<Shard>) -> Pin<Box<dyn Future<Output = JobResult>>> + Send>;

/// What a job that could not run answers: a type no caller asks for, so `run_on` reports
/// [`CallError::NoAnswer`] (even for jobs returning `()`).
struct Failed;

/// The router service: runs jobs against this core's shard.
#[derive(Default)]
pub struct Jobs {
    shard: OnceCell<Weak<Shard>>,
}

impl ShardService for Jobs {
    type Request = Job;
    type Response = JobResult;
    async fn handle(&self, job: Job) -> JobResult {
        match self.shard.get().and_then(Weak::upgrade) {
            Some(s) => job(s).await,
            // The shard is shutting down: the caller sees a failed call.
            None => Box::new(Failed),
        }
    }
    fn failed() -> JobResult {
        Box::new(Failed)
    }
}

/// Why a cross-core call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The target core is gone.
    #[error(transparent)]
    Router(#[from] RouterError),
    /// The target answered with something else (it was shutting down).
    #[error("shard {0} did not answer")]
    NoAnswer(usize),
}

/// Why a command for a client connection was not delivered or answered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnSendError {
    /// The connection has closed.
    #[error("its connection closed")]
    Gone,
    /// Sending or waiting failed.
    #[error(transparent)]
    Remoting(#[from] crate::remoting::RemotingError),
}

/// Fixed facts every shard knows.
#[derive(Debug, Clone)]
pub struct BrokerIdentity {
    /// Effective config.
    pub cfg: BrokerConfig,
    /// `brokerIP1:listenPort`, what clients connect to.
    pub addr: String,
    /// The same as a socket address (store host of every record).
    pub store_host: SocketAddr,
    /// Nameservers to register with.
    pub namesrv: Vec<SocketAddr>,
    /// Where the metadata files are.
    pub meta_files: MetadataFiles,
    /// The `-c` file, where run-time config changes are written.
    pub config_file: Option<std::path::PathBuf>,
}

/// One core's broker state.
pub struct Shard {
    /// This shard's index.
    pub id: usize,
    /// Number of shards.
    pub shards: usize,
    /// Broker identity and config.
    pub ident: Rc<BrokerIdentity>,
    /// The store of this shard's queues.
    pub store: Rc<ShardStore>,
    router: Rc<Router<Jobs>>,
    /// Topics and groups (authoritative on shard 0, a copy elsewhere).
    pub meta: RefCell<Metadata>,
    /// Consumer offsets of this shard's queues.
    pub offsets: RefCell<ConsumerOffsets>,
    /// Delivery progress of the delay levels this shard owns (delayOffset.json).
    pub delay_offsets: RefCell<ConsumerOffsets>,
    /// Orderly-consumer locks of this shard's queues.
    pub locks: RefCell<QueueLocks>,
    /// Pulls parked on this shard's queues.
    pub waiters: PullWaiters,
    /// Member lists of the groups this shard keeps.
    pub clients: RefCell<ClientTables>,
    /// Connections on this core.
    pub local: RefCell<LocalConnections>,
    /// Message counters.
    pub throughput: Rc<Throughput>,
    inflight_appends: Cell<usize>,
    /// Message bytes of those appends.
    inflight_append_bytes: Cell<u64>,
    /// One offsets persist at a time.
    offset_writes: glommio::sync::Semaphore,
    /// Set when the shard stops serving (shutdown): requests get SERVICE_NOT_AVAILABLE.
    pub closing: Cell<bool>,
    /// Shard 0: one metadata change written at a time.
    meta_writes: glommio::sync::Semaphore,
    /// Shard 0: wakes the registration loop after a topic change.
    pub register_now: super::registration::Trigger,
    /// The config as changed at run time by UPDATE_BROKER_CONFIG (the boot config in
    /// `ident` keeps the identity keys).
    live_cfg: RefCell<Rc<BrokerConfig>>,
    /// Send latency (metrics).
    pub send_latency: crate::latency_histogram::LatencyHistogram,
    /// Run-time config changes so far (folded into the registered data version, so
    /// nameservers take a permission change).
    pub cfg_changes: Cell<i64>,
    /// Master/slave links of this shard's log.
    pub replication: super::replication::Replication,
    /// Request-reply replies pushed to their requester, and dropped (requester gone).
    replies: Cell<(u64, u64)>,
    /// The ledger of this shard's transactional half messages.
    pub transactions: RefCell<super::transaction::book::TxBook>,
    /// Plain ACL (aclEnable=true): this core's rules snapshot.
    pub acl: Option<super::acl::AclGate>,
    /// POP receive state of this shard's queues (gRPC consumers).
    pub pop: RefCell<super::pop::book::PopBook>,
    /// Timer messages waiting on this shard (masters; set at start).
    pub timer: RefCell<Option<Rc<super::timer::TimerState>>>,
    /// The journal of POP acks (set once the store is open).
    pub pop_journal: RefCell<Option<Rc<super::pop::journal::AckJournal>>>,
    /// gRPC clients whose connection is on this core.
    pub grpc_clients: RefCell<super::grpc::clients::GrpcClients>,
    /// Deliveries this core's push consumers hold, whose leases it renews.
    pub grpc_renewals: RefCell<super::grpc::renewal::Renewals>,
    /// The other broker groups' gRPC endpoints and routes (QueryRoute).
    pub grpc_peers: super::grpc::peers::Peers,
}

impl Shard {
    /// Counts a request-reply reply: pushed to its requester, or dropped.
    pub fn count_reply(&self, pushed: bool) {
        let (p, d) = self.replies.get();
        self.replies
            .set(if pushed { (p + 1, d) } else { (p, d + 1) });
    }

    /// Replies pushed and dropped on this shard so far.
    pub fn replies(&self) -> (u64, u64) {
        self.replies.get()
    }

    /// Builds the shard and takes its ends of the mesh; peers' calls wait until
    /// `router.serve()`.
    pub fn start(
        id: usize,
        mesh: &super::router::Mesh<Jobs>,
        ident: Rc<BrokerIdentity>,
        store: Rc<ShardStore>,
        meta: Metadata,
        (offsets, delay_offsets): (ConsumerOffsets, ConsumerOffsets),
        acl: Option<super::acl::AclGate>,
    ) -> Rc<Shard> {
        let jobs = Rc::new(Jobs::default());
        let router = Router::join(mesh, id, jobs.clone());
        let shard = Rc::new(Shard {
            id,
            shards: router.shards(),
            ident: ident.clone(),
            store,
            router,
            meta: RefCell::new(meta),
            offsets: RefCell::new(offsets),
            delay_offsets: RefCell::new(delay_offsets),
            locks: RefCell::new(QueueLocks::default()),
            waiters: PullWaiters::default(),
            clients: RefCell::new(ClientTables::default()),
            local: RefCell::new(LocalConnections::default()),
            throughput: Rc::new(Throughput::default()),
            inflight_appends: Cell::new(0),
            inflight_append_bytes: Cell::new(0),
            meta_writes: glommio::sync::Semaphore::new(1),
            offset_writes: glommio::sync::Semaphore::new(1),
            closing: Cell::new(false),
            register_now: Default::default(),
            live_cfg: RefCell::new(Rc::new(ident.cfg.clone())),
            cfg_changes: Cell::new(0),
            replies: Cell::new((0, 0)),
            transactions: RefCell::default(),
            send_latency: super::send_latency::histogram(),
            replication: Default::default(),
            acl,
            pop: RefCell::new(super::pop::book::PopBook::new(
                crate::clock::now_ms().max(0) as u64 * 1_000,
            )),
            grpc_clients: RefCell::default(),
            grpc_renewals: RefCell::default(),
            grpc_peers: Default::default(),
            pop_journal: RefCell::new(None),
            timer: RefCell::new(None),
        });
        let _ = jobs.shard.set(Rc::downgrade(&shard));
        shard
    }

    /// Starts running peers' calls here, then waits until every shard does (start-up).
    pub async fn serve_peers(&self) {
        self.router.serve();
        self.router.all_serving().await;
    }

    /// The effective config (the boot config plus run-time changes).
    pub fn cfg(&self) -> Rc<BrokerConfig> {
        self.live_cfg.borrow().clone()
    }

    /// One metadata or config write at a time (shard 0).
    pub async fn config_writes(&self) -> Result<glommio::sync::Permit<'_>, String> {
        self.meta_writes
            .acquire_permit(1)
            .await
            .map_err(|e| e.to_string())
    }

    /// Cross-shard requests sent so far, awaiting an answer now, and the batches that
    /// carried them (with the replies).
    pub fn router_stats(&self) -> (u64, usize, u64) {
        let (sent, waiting) = self.router.stats();
        (sent, waiting, self.router.batches_sent())
    }

    /// Appends waiting on the store now.
    pub fn inflight_appends(&self) -> usize {
        self.inflight_appends.get()
    }

    /// Message bytes of the appends waiting on the store now.
    pub fn inflight_append_bytes(&self) -> u64 {
        self.inflight_append_bytes.get()
    }

    /// Swaps in a changed config (UPDATE_BROKER_CONFIG, on every shard).
    pub fn replace_cfg(&self, cfg: BrokerConfig) {
        *self.live_cfg.borrow_mut() = Rc::new(cfg);
        self.cfg_changes.set(self.cfg_changes.get() + 1);
    }

    /// Runs `f` on shard `target` with that shard's state and returns its result.
    pub async fn run_on<T, F, Fut>(&self, target: usize, f: F) -> Result<T, CallError>
    where
        T: Send + 'static,
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let job: Job =
            Box::new(move |s| Box::pin(async move { Box::new(f(s).await) as JobResult }));
        let out = self.router.call(target, job).await?;
        out.downcast::<T>()
            .map(|b| *b)
            .map_err(|_| CallError::NoAnswer(target))
    }

    /// Runs `f` on every shard; results in shard order.
    pub async fn run_on_all<T, F, Fut>(&self, f: F) -> Result<Vec<T>, CallError>
    where
        T: Send + 'static,
        F: Fn(Rc<Shard>) -> Fut + Send + Clone + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let calls = (0..self.shards).map(|i| self.run_on(i, f.clone()));
        let mut out = Vec::with_capacity(self.shards);
        for r in futures_join_all(calls).await {
            out.push(r?);
        }
        Ok(out)
    }

    /// The shard owning a queue.
    pub fn queue_owner(&self, topic: &str, qid: i32) -> usize {
        shard_for(topic, qid, self.shards as u32) as usize
    }

    /// The shard keeping a group's members.
    pub fn group_owner(&self, group: &str) -> usize {
        group_shard(group, self.shards)
    }

    /// Applies a metadata change everywhere (through shard 0, persisted first).
    pub async fn change_meta(&self, change: MetaChange) -> Result<(), String> {
        self.run_on(
            0,
            move |s| async move { s.apply_meta_as_keeper(change).await },
        )
        .await
        .map_err(|e| e.to_string())?
    }

    /// Shard 0: apply, persist, copy to the other shards, re-register on topic changes.
    async fn apply_meta_as_keeper(&self, change: MetaChange) -> Result<(), String> {
        debug_assert_eq!(self.id, 0);
        // One change at a time: files are written in the order changes are applied.
        let _turn = self
            .meta_writes
            .acquire_permit(1)
            .await
            .map_err(|e| e.to_string())?;
        if self.meta.borrow().is_noop(&change) {
            return Ok(());
        }
        // Applied to a copy, written, then swapped in: nothing sees a change before it
        // is on disk.
        let mut next = self.meta.borrow().clone();
        next.apply(&change);
        let (path, bytes) = next.snapshot_for(&self.ident.meta_files, &change);
        // The fsync runs on glommio's blocking pool, not on this core.
        glommio::executor()
            .spawn_blocking(move || super::persist::write_atomic(&path, &bytes))
            .await
            .map_err(|e| format!("cannot persist broker metadata: {e}"))?;
        *self.meta.borrow_mut() = next;
        for i in 1..self.shards {
            let c = change.clone();
            self.run_on(i, move |s| async move { s.meta.borrow_mut().apply(&c) })
                .await
                .map_err(|e| e.to_string())?;
        }
        if change.changes_topics() {
            self.register_now.fire();
        }
        Ok(())
    }

    /// Owner side of a send: stores the messages (one queue) and wakes parked pulls. The
    /// status is SUCCESS, or (stored all the same) FLUSH_DISK_TIMEOUT when not synced in
    /// time, SLAVE_NOT_AVAILABLE / FLUSH_SLAVE_TIMEOUT when a SYNC_MASTER's slave did not
    /// confirm. The local sync and the slave's confirmation are awaited together.
    pub async fn append(
        &self,
        msgs: Vec<NewMessage>,
    ) -> Result<(Vec<AppendResult>, ResponseCode), AppendError> {
        let cfg = self.cfg();
        if cfg.broker_role == crate::config::broker::BrokerRole::Slave {
            // Only replication writes a slave's log: anything else would fork it.
            return Err(AppendError::Slave(super::replication::slave_write_refusal(
                &cfg,
                &self.ident.addr,
            )));
        }
        let held: u64 = msgs.iter().map(NewMessage::held_bytes).sum();
        let bytes: usize = msgs.iter().map(|m| m.body.len()).sum();
        // One message alone always fits: a send larger than the bound is the store's to
        // refuse (maxMessageSize), not flow control's.
        if self.inflight_appends.get() >= MAX_INFLIGHT_APPENDS_PER_SHARD
            || (self.inflight_append_bytes.get() > 0
                && self.inflight_append_bytes.get() + held > MAX_INFLIGHT_APPEND_BYTES_PER_SHARD)
        {
            return Err(AppendError::Busy);
        }
        self.inflight_appends.set(self.inflight_appends.get() + 1);
        self.inflight_append_bytes
            .set(self.inflight_append_bytes.get() + held);
        let r = self.wait_stored(&msgs, &cfg).await;
        self.inflight_appends.set(self.inflight_appends.get() - 1);
        self.inflight_append_bytes
            .set(self.inflight_append_bytes.get() - held);
        let (results, durable, replicated) = r?;
        if msgs
            .first()
            .is_some_and(|m| m.topic == crate::protocol::topics::TIMER_TOPIC)
        {
            super::timer::index(self, &msgs, &results).await;
        }
        self.throughput.put(results.len() as u64, bytes as u64);
        if let Some(m) = msgs.first() {
            self.throughput
                .put_topic(&m.topic, results.len() as u64, bytes as u64);
            self.waiters.notify(&m.topic, m.queue_id);
        }
        use super::replication::master::ReplicaWaitError;
        let status = match (durable, replicated) {
            (_, Err(ReplicaWaitError::NotAvailable)) => ResponseCode::SLAVE_NOT_AVAILABLE,
            (_, Err(ReplicaWaitError::Timeout)) => ResponseCode::FLUSH_SLAVE_TIMEOUT,
            (Err(e), Ok(())) => {
                tracing::warn!(shard = self.id, "{e}");
                ResponseCode::FLUSH_DISK_TIMEOUT
            }
            (Ok(()), Ok(())) => ResponseCode::SUCCESS,
        };
        Ok((results, status))
    }

    /// Appends, then waits (together) for the local sync under SYNC_FLUSH and for a slave
    /// under SYNC_MASTER.
    #[allow(clippy::type_complexity)]
    async fn wait_stored(
        &self,
        msgs: &[NewMessage],
        cfg: &BrokerConfig,
    ) -> Result<
        (
            Vec<AppendResult>,
            Result<(), StoreError>,
            Result<(), super::replication::master::ReplicaWaitError>,
        ),
        AppendError,
    > {
        let results = self
            .store
            .append_unsynced(msgs)
            .await
            .map_err(AppendError::Store)?;
        let Some(end) = results.last().map(|a| a.log_end) else {
            return Ok((results, Ok(()), Ok(())));
        };
        let local = async {
            if self.store.flush_mode() == crate::store::FlushMode::Sync {
                self.store.wait_durable(end).await
            } else {
                Ok(())
            }
        };
        let remote = async {
            if cfg.broker_role == crate::config::broker::BrokerRole::SyncMaster {
                // Slaves are sent written bytes only: write now, not at the interval.
                self.store.request_write();
                super::replication::master::wait_for_slaves(self, end).await
            } else {
                Ok(())
            }
        };
        let (durable, replicated) = futures_lite::future::zip(local, remote).await;
        match durable {
            Err(StoreError::FlushTimeout(ms)) => {
                Ok((results, Err(StoreError::FlushTimeout(ms)), replicated))
            }
            Err(e) => Err(AppendError::Store(e)),
            Ok(()) => Ok((results, Ok(()), replicated)),
        }
    }

    /// Keeper side of a consumer heartbeat; tells the group when its members changed.
    pub fn register_consumer(
        self: &Rc<Self>,
        data: crate::protocol::body::client::ConsumerData,
        member: Member,
    ) {
        let group = data.group_name.clone();
        let changed = self
            .clients
            .borrow_mut()
            .register_consumer(data, member, Instant::now());
        if changed {
            let members = self.clients.borrow().consumers_of(&group);
            self.notify_members(group, members);
        }
    }

    /// Sends NOTIFY_CONSUMER_IDS_CHANGED to every member, on the shards holding their
    /// connections (fire and forget: clients rebalance every 20 s anyway).
    pub fn notify_members(self: &Rc<Self>, group: String, members: Vec<Member>) {
        let notify_enabled = self
            .meta
            .borrow()
            .groups
            .get(&group)
            .is_none_or(|g| g.notify_consumer_ids_changed_enable);
        if !notify_enabled {
            return;
        }
        let header = ConsumerGroupHeader {
            consumer_group: group,
        };
        let notice =
            RemotingCommand::request_with(RequestCode::NOTIFY_CONSUMER_IDS_CHANGED.code(), &header)
                .oneway();
        for m in members {
            let me = self.clone();
            let notice = notice.clone();
            glommio::spawn_local(async move {
                let sent = me.oneway_on_conn(m.shard, m.conn_id, notice).await;
                if let Ok(Err(e @ ConnSendError::Remoting(_))) = sent {
                    tracing::debug!(client = %m.client_id, "notify failed: {e}");
                }
            })
            .detach();
        }
    }

    /// The first core (asked in turn) holding a client connection that `pick` chooses among
    /// its own: (core, connection id).
    pub async fn find_connection<F>(&self, pick: F) -> Result<Option<(usize, u64)>, CallError>
    where
        F: Fn(&LocalConnections) -> Option<u64> + Clone + Send + 'static,
    {
        for target in 0..self.shards {
            let pick = pick.clone();
            let found = self
                .run_on(target, move |s| async move { pick(&s.local.borrow()) })
                .await?;
            if let Some(conn_id) = found {
                return Ok(Some((target, conn_id)));
            }
        }
        Ok(None)
    }

    /// Sends a oneway command on connection `conn_id` of shard `target`.
    pub async fn oneway_on_conn(
        &self,
        target: usize,
        conn_id: u64,
        cmd: RemotingCommand,
    ) -> Result<Result<(), ConnSendError>, CallError> {
        self.run_on(target, move |s| async move {
            let conn = s.local.borrow().get(conn_id);
            let conn = conn.ok_or(ConnSendError::Gone)?;
            Ok(conn.oneway(cmd)?)
        })
        .await
    }

    /// Sends a request on connection `conn_id` of shard `target` and waits (≤ `timeout`)
    /// for the client's answer.
    pub async fn request_on_conn(
        &self,
        target: usize,
        conn_id: u64,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<Result<RemotingCommand, ConnSendError>, CallError> {
        self.run_on(target, move |s| async move {
            let conn = s.local.borrow().get(conn_id);
            let conn = conn.ok_or(ConnSendError::Gone)?;
            Ok(conn.request(cmd, timeout).await?)
        })
        .await
    }

    /// A connection of this core closed: leave its groups.
    pub fn connection_closed(self: &Rc<Self>, conn_id: u64) {
        let joined = self.local.borrow_mut().closed(conn_id);
        self.leave_groups(conn_id, joined);
    }

    /// Removes connection `conn_id` of this core from the groups it joined (it closed, or
    /// failed to move).
    pub fn leave_groups(self: &Rc<Self>, conn_id: u64, joined: Joined) {
        let me = self.id;
        for group in joined.consumers.into_iter().chain(joined.producers) {
            let this = self.clone();
            glommio::spawn_local(async move {
                let owner = this.group_owner(&group);
                let _ = this
                    .run_on(owner, move |s| async move {
                        let rest = s
                            .clients
                            .borrow_mut()
                            .connection_closed(&group, me, conn_id);
                        if let Some(rest) = rest {
                            s.notify_members(group, rest);
                        }
                    })
                    .await;
            })
            .detach();
        }
    }

    /// Drops silent clients of the groups this shard keeps, every
    /// [`CLIENT_SCAN_INTERVAL_MS`].
    pub async fn run_client_expiry(self: Rc<Self>) {
        loop {
            glommio::timer::sleep(Duration::from_millis(CLIENT_SCAN_INTERVAL_MS)).await;
            let now = Instant::now();
            self.locks.borrow_mut().prune(now);
            self.grpc_clients
                .borrow_mut()
                .expire(crate::clock::now_ms());
            let changed = self.clients.borrow_mut().expire(now);
            for (group, rest) in changed {
                tracing::info!(group, "consumers expired: no heartbeat");
                self.notify_members(group, rest);
            }
        }
    }

    /// Persists consumer offsets every `flushConsumerOffsetInterval`.
    pub async fn run_offset_flush(self: Rc<Self>) {
        let every = Duration::from_millis(self.cfg().flush_consumer_offset_interval.max(100));
        loop {
            glommio::timer::sleep(every).await;
            self.persist_offsets().await;
        }
    }
}

/// A send the owner did not store (or stored with a non-OK status), as the response code
/// and remark the client gets.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Response code.
    pub code: ResponseCode,
    /// Remark.
    pub remark: String,
}

impl From<AppendError> for Refusal {
    fn from(e: AppendError) -> Self {
        let code = match &e {
            AppendError::Busy => ResponseCode::SYSTEM_BUSY,
            AppendError::Slave(_) => ResponseCode::SERVICE_NOT_AVAILABLE,
            AppendError::Store(StoreError::Message(_)) => ResponseCode::MESSAGE_ILLEGAL,
            AppendError::Store(StoreError::FlushTimeout(_)) => ResponseCode::FLUSH_DISK_TIMEOUT,
            AppendError::Store(_) => ResponseCode::SERVICE_NOT_AVAILABLE,
        };
        Refusal {
            code,
            remark: e.to_string(),
        }
    }
}

impl Shard {
    /// Stores messages of one queue on the shard that owns it.
    pub async fn store_routed(
        &self,
        msgs: Vec<NewMessage>,
    ) -> Result<(Vec<AppendResult>, ResponseCode), Refusal> {
        let Some(first) = msgs.first() else {
            return Ok((Vec::new(), ResponseCode::SUCCESS));
        };
        let owner = self.queue_owner(&first.topic, first.queue_id);
        self.store_on(owner, msgs).await
    }

    /// Stores messages of one queue on `owner`, the shard owning it (already known).
    pub async fn store_on(
        &self,
        owner: usize,
        msgs: Vec<NewMessage>,
    ) -> Result<(Vec<AppendResult>, ResponseCode), Refusal> {
        debug_assert!(msgs
            .first()
            .is_none_or(|m| self.queue_owner(&m.topic, m.queue_id) == owner));
        match self
            .run_on(owner, move |s| async move {
                s.append(msgs).await.map_err(Refusal::from)
            })
            .await
        {
            Ok(r) => r,
            Err(e) => Err(Refusal {
                code: ResponseCode::SERVICE_NOT_AVAILABLE,
                remark: e.to_string(),
            }),
        }
    }
}

impl Shard {
    /// Writes changed consumer and delay offsets, on glommio's blocking pool (an fsync
    /// must not stall the core's connections). One persist at a time, so the last one
    /// (at shutdown) waits for a periodic one still writing.
    pub async fn persist_offsets(&self) {
        let Ok(_turn) = self.offset_writes.acquire_permit(1).await else {
            return;
        };
        // POP acks first: a snapshot taken before the offsets covers every ack at or
        // above the committed offsets written next (src/broker/pop/journal.rs).
        let journal = self.pop_journal.borrow().clone();
        let mut pop_snapshot = None;
        if let Some(j) = journal.as_ref().filter(|j| j.has_new_records()) {
            match j.rotate().await {
                Ok(gen) => pop_snapshot = Some((gen, self.pop.borrow().acked_snapshot())),
                Err(e) => tracing::warn!(shard = self.id, "cannot rotate the POP ack journal: {e}"),
            }
        }
        for table in [&self.offsets, &self.delay_offsets] {
            let Some((path, bytes)) = table.borrow_mut().take_snapshot() else {
                continue;
            };
            let shown = path.display().to_string();
            let r = glommio::executor()
                .spawn_blocking(move || super::persist::write_atomic(&path, &bytes))
                .await;
            if let Err(e) = r {
                table.borrow_mut().mark_dirty();
                tracing::warn!(shard = self.id, "cannot persist {shown}: {e}");
            }
        }
        if let (Some(j), Some((gen, acks))) = (journal, pop_snapshot) {
            let mut bytes = Vec::new();
            for (k, o) in &acks {
                super::pop::journal::encode(k, *o, &mut bytes);
            }
            let path = j.snapshot_path();
            let r = glommio::executor()
                .spawn_blocking(move || super::persist::write_atomic(&path, &bytes))
                .await;
            match r {
                Ok(()) => j.finish_snapshot(gen),
                Err(e) => tracing::warn!(shard = self.id, "cannot write the POP ack snapshot: {e}"),
            }
        }
    }
}

/// Why the owner did not store a send.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Too many appends in flight on the shard.
    #[error("[PCBUSY_CLEAN_QUEUE]broker busy, start flow control for a while")]
    Busy,
    /// The store refused or failed.
    #[error(transparent)]
    Store(StoreError),
    /// This broker is a slave: only replication writes its log.
    #[error("{0}")]
    Slave(String),
}

/// Awaits every future, concurrently, results in order.
pub async fn futures_join_all<F: Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let tasks: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut outs: Vec<Option<F::Output>> = tasks.iter().map(|_| None).collect();
    let mut tasks: Vec<Option<Pin<Box<F>>>> = tasks.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, slot) in tasks.iter_mut().enumerate() {
            if let Some(t) = slot {
                match t.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        outs[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outs.into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}
