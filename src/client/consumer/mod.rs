//! The push consumer (clustering), spec §7: it registers its subscriptions (the topic and
//! the group's `%RETRY%` topic) by heartbeat, takes its share of their queues with
//! AllocateMessageQueueAveragely every 20 s and whenever a broker sends
//! NOTIFY_CONSUMER_IDS_CHANGED, and runs two tasks per queue it owns:
//!
//! - a puller that long-polls the broker and pushes what it gets into a bounded channel of
//!   `pull_threshold_for_queue` messages — a full channel stops the pulling, which is
//!   RocketMQ's per-queue flow control without a separate counter;
//! - a consumer that hands each message to the listener in queue order and records the
//!   next offset to commit once the listener is done with it.
//!
//! A concurrent listener's failure (`Later`) sends the message back to the broker, which
//! redelivers it through `%RETRY%<group>` with a growing delay and moves it to
//! `%DLQ%<group>` after `max_reconsume_times`. An orderly listener holds a broker lock on
//! each queue it consumes (LOCK_BATCH_MQ, renewed at every rebalance), retries a failed
//! message in place after a pause, and sends it to the DLQ once retries run out, so a
//! queue's order is never broken by a retry. Offsets are committed every 5 s, when a queue
//! is given up, and on stop; delivery is at least once.

mod broker_calls;
mod locks;
mod retry;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};

use super::allocate::allocate_averagely;
use super::message::Received;
use super::pull_consumer::{PullConsumer, PullOptions, PullStatus, QueueAt};
use super::rpc::{request, Links, OnRequest};
use super::ClientError;
use crate::protocol::acl_signature::Credentials;
use crate::protocol::body::client::{
    ConsumerListBody, LockBatchRequestBody, LockBatchResponseBody, MessageQueue, SubscriptionData,
};
use crate::protocol::body::consumer_calls::{
    ConsumeDirectlyOutcome, ConsumeMessageDirectlyResult, ConsumerRunningInfo, ProcessQueueInfo,
};
use crate::protocol::body::fastjson::object_keyed_entries;
use crate::protocol::body::{from_json_lenient, to_json};
use crate::protocol::properties::keys;
use crate::protocol::topics::retry_topic;
use crate::protocol::{ExtFields, RemotingCommand, RequestCode, ResponseCode};

/// Allocation is recomputed this often (RocketMQ's rebalance interval).
pub const REBALANCE_INTERVAL_MS: u64 = 20_000;
/// Offsets are committed this often (persistConsumerOffsetInterval).
pub const COMMIT_INTERVAL_MS: u64 = 5_000;
/// A pull is parked this long on the broker when nothing is new (brokerSuspendMaxTimeMillis).
pub const PULL_SUSPEND_MS: u64 = 15_000;
/// Timeout of the consumer's other requests (heartbeat, locks, commits, send-back): a
/// broker that does not answer must not stall the control loop for long.
pub const CONTROL_TIMEOUT_MS: u64 = 3_000;
/// A broker lock is trusted this long after it was taken or renewed (RocketMQ's
/// client-side rebalance lock max live time; the broker keeps it 60 s).
pub const LOCK_VALID_MS: u64 = 30_000;
/// Wait after a failed pull (pullTimeDelayMillsWhenException).
pub const PULL_RETRY_DELAY_MS: u64 = 3_000;
/// Messages buffered per queue before pulling pauses (pullThresholdForQueue).
pub const PULL_THRESHOLD_FOR_QUEUE: usize = 1_000;
/// Pause before an orderly listener sees a failed message again
/// (suspendCurrentQueueTimeMillis), and before a message whose send-back failed is
/// retried locally.
pub const SUSPEND_CURRENT_QUEUE_MS: u64 = 1_000;
/// Deliveries before a message goes to the dead-letter queue (maxReconsumeTimes).
pub const MAX_RECONSUME_TIMES: i32 = 16;
/// Rebalance again this soon while a queue's lock or a broker is still out of reach.
pub const LOCK_RETRY_MS: u64 = 1_000;
/// Quick rebalances (LOCK_RETRY_MS apart) while the retry topic has no route yet.
const RETRY_ROUTE_WAITS: u32 = 10;
/// How often the control loop looks at its timers and flags.
const CONTROL_TICK_MS: u64 = 50;

/// Where a group with no committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The oldest message kept.
    First,
    /// Only new messages.
    Last,
    /// The first message stored at or after this time (ms since the epoch).
    Timestamp(i64),
}

/// What the listener did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeStatus {
    /// Done: commit past it.
    Success,
    /// Failed: redeliver later (RECONSUME_LATER / SUSPEND_CURRENT_QUEUE_A_MOMENT).
    Later,
    /// Done, and stop the consumer.
    Stop,
}

/// The message listener.
pub type Listener = Rc<dyn Fn(&Received) -> ConsumeStatus>;

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Tag expression (`*`, `a || b`), or with `sql92` a SQL92 property filter.
    pub expr: String,
    /// `expr` is a SQL92 selector (MessageSelector.bySql); the broker needs
    /// `enablePropertyFilter=true`.
    pub sql92: bool,
    /// Start of a fresh group.
    pub from: StartFrom,
    /// `ip@instance`.
    pub client_id: String,
    /// Orderly listener: queue locks, in-place retries.
    pub orderly: bool,
    /// Deliveries before the DLQ (None: RocketMQ's default, 16 for a concurrent
    /// listener, unlimited for an orderly one).
    pub max_reconsume_times: Option<i32>,
    /// Per-queue buffer.
    pub pull_threshold_for_queue: usize,
    /// Messages per pull.
    pub pull_batch_size: i32,
    /// ACL keys every request is signed with.
    pub credentials: Option<Credentials>,
}

impl ConsumerConfig {
    /// The effective max reconsume times.
    pub fn max_reconsume(&self) -> i32 {
        self.max_reconsume_times.unwrap_or(if self.orderly {
            i32::MAX
        } else {
            MAX_RECONSUME_TIMES
        })
    }

    /// RocketMQ's defaults for a concurrent consumer starting from the last offset.
    pub fn new(group: &str, topic: &str, expr: &str, client_id: &str) -> Self {
        ConsumerConfig {
            group: group.to_owned(),
            topic: topic.to_owned(),
            expr: expr.to_owned(),
            sql92: false,
            from: StartFrom::Last,
            client_id: client_id.to_owned(),
            orderly: false,
            max_reconsume_times: None,
            pull_threshold_for_queue: PULL_THRESHOLD_FOR_QUEUE,
            pull_batch_size: super::pull_consumer::PULL_BATCH_SIZE,
            credentials: None,
        }
    }
}

/// What a puller hands its queue's consumer task, in queue order.
enum Item {
    /// A message for the listener (boxed: the channel holds up to a thousand slots).
    Message(Box<Received>),
    /// Everything before this offset is dealt with (filtered out or already handed over).
    Advance(i64),
    /// The broker moved the queue's start (the offset was out of range): continue here,
    /// even if it is behind.
    Reset(i64),
}

/// What a queue's two tasks and the control loop share.
struct QueueRun {
    /// Cleared when the queue is given up; both tasks end.
    alive: Cell<bool>,
    /// Next offset to commit.
    consumed: Cell<i64>,
    /// Orderly: the broker lock is trusted until then.
    locked_until: Cell<Instant>,
    /// Messages handed to the consumer task and not yet dealt with.
    cached: Cell<i32>,
    /// Offset of the last message handed over.
    cached_max: Cell<i64>,
    /// Last successful pull, ms since the epoch.
    last_pull_ms: Cell<i64>,
    /// Last message dealt with, ms since the epoch.
    last_consume_ms: Cell<i64>,
}

/// A queue this consumer owns now.
struct Owned {
    run: Rc<QueueRun>,
    /// Last offset committed to the broker.
    committed: Cell<i64>,
}

/// A push consumer of one topic.
pub struct Consumer {
    cfg: ConsumerConfig,
    pull: PullConsumer,
    /// The topic's subscription, then the retry topic's.
    subs: [SubscriptionData; 2],
    owned: RefCell<BTreeMap<QueueAt, Owned>>,
    stop: Cell<bool>,
    /// Set by NOTIFY_CONSUMER_IDS_CHANGED.
    rebalance_now: Rc<Cell<bool>>,
    /// Quick rebalances spent waiting for the retry topic's route.
    retry_route_waits: Cell<u32>,
    /// Brokers this client heartbeated (unregistered from on stop).
    registered_on: RefCell<BTreeSet<SocketAddr>>,
    /// Sends a failed message to the retry topic itself when the broker's send-back
    /// fails (RocketMQ's fallback); made on first use.
    fallback: RefCell<Option<Rc<super::producer::Producer>>>,
    /// When this consumer was made, ms since the epoch.
    started_ms: i64,
    /// The running listener (for CONSUME_MESSAGE_DIRECTLY).
    listener: RefCell<Option<Listener>>,
    /// Offset resets being committed: no rebalance until they are (it would take the
    /// dropped queues again from the old offsets).
    resets_in_flight: Cell<usize>,
}

impl Consumer {
    /// A consumer; nothing is sent until [`Consumer::run`].
    pub fn new(cfg: ConsumerConfig, namesrv: Vec<SocketAddr>) -> Result<Rc<Self>, ClientError> {
        let rebalance_now = Rc::new(Cell::new(false));
        // Set once the consumer exists: brokers' requests that read its state.
        let this: Rc<RefCell<Weak<Consumer>>> = Rc::default();
        let on_request: OnRequest = {
            let flag = rebalance_now.clone();
            let this = this.clone();
            Rc::new(move |_broker, req: &RemotingCommand| {
                if req.code == RequestCode::NOTIFY_CONSUMER_IDS_CHANGED.code() {
                    flag.set(true);
                    return Some(req.success());
                }
                let code = RequestCode::from_code(req.code)?;
                // Requests that read or change this consumer's state (mqadmin's, relayed).
                let group_key = match code {
                    RequestCode::RESET_CONSUMER_CLIENT_OFFSET => "group",
                    RequestCode::GET_CONSUMER_RUNNING_INFO
                    | RequestCode::CONSUME_MESSAGE_DIRECTLY => "consumerGroup",
                    _ => return None,
                };
                let Some(c) = this.borrow().upgrade() else {
                    return Some(req.error(ResponseCode::SYSTEM_ERROR, "the consumer has stopped"));
                };
                let group = req.ext.get(group_key).unwrap_or_default();
                if group != c.cfg.group {
                    return Some(req.error(
                        ResponseCode::SYSTEM_ERROR,
                        format!("The Consumer Group <{group}> not exist in this consumer"),
                    ));
                }
                Some(match code {
                    RequestCode::RESET_CONSUMER_CLIENT_OFFSET => c.reset_offsets(req),
                    RequestCode::GET_CONSUMER_RUNNING_INFO => c.running_info(req),
                    _ => c.consume_directly(req),
                })
            })
        };
        let links = Links::serving(Duration::from_millis(CONTROL_TIMEOUT_MS), on_request)
            .signed(cfg.credentials.clone());
        let pull = PullConsumer::with_links(&cfg.group, namesrv, links)?;
        let version = crate::clock::now_ms();
        let main = if cfg.sql92 {
            SubscriptionData::sql92(&cfg.topic, &cfg.expr, version)
        } else {
            SubscriptionData::from_expression(&cfg.topic, &cfg.expr, version)
        };
        let subs = [
            main,
            SubscriptionData::from_expression(&retry_topic(&cfg.group), "*", version),
        ];
        let consumer = Rc::new(Consumer {
            cfg,
            pull,
            subs,
            owned: RefCell::default(),
            stop: Cell::new(false),
            rebalance_now,
            retry_route_waits: Cell::new(0),
            registered_on: RefCell::default(),
            fallback: RefCell::default(),
            started_ms: version,
            listener: RefCell::default(),
            resets_in_flight: Cell::new(0),
        });
        *this.borrow_mut() = Rc::downgrade(&consumer);
        Ok(consumer)
    }

    /// Queues owned now.
    pub fn owned(&self) -> Vec<MessageQueue> {
        self.owned.borrow().keys().map(|q| q.mq.clone()).collect()
    }

    fn links(&self) -> &Links {
        self.pull.links()
    }

    fn consume_from_where(&self) -> &'static str {
        match self.cfg.from {
            StartFrom::First => "CONSUME_FROM_FIRST_OFFSET",
            StartFrom::Last => "CONSUME_FROM_LAST_OFFSET",
            StartFrom::Timestamp(_) => "CONSUME_FROM_TIMESTAMP",
        }
    }

    fn heartbeat_body(&self) -> Vec<u8> {
        let from = self.consume_from_where();
        let v = serde_json::json!({
            "clientID": self.cfg.client_id,
            "consumerDataSet": [{
                "groupName": self.cfg.group, "consumeType": "CONSUME_PASSIVELY",
                "messageModel": "CLUSTERING", "consumeFromWhere": from, "unitMode": false,
                "subscriptionDataSet": self.subs,
            }],
            "producerDataSet": [],
        });
        to_json(&v)
    }

    /// Heartbeats every broker of the subscribed topics and returns this consumer's share
    /// of their queues, with the subscription each is pulled with, and whether the retry
    /// topic is still unknown to the nameservers.
    async fn allocation(&self) -> Result<(Vec<(QueueAt, usize)>, bool), ClientError> {
        let topic = self.pull.queues(&self.subs[0].topic).await?;
        let brokers: BTreeSet<SocketAddr> = topic.iter().map(|q| q.addr).collect();
        let reached = self.heartbeat(&brokers).await;
        // The first heartbeat creates the retry topic, so its route is read after it.
        let retry = self.pull.queues(&self.subs[1].topic).await?;
        let no_retry_route = retry.is_empty() && !topic.is_empty();
        if topic.is_empty() {
            if !self.owned.borrow().is_empty() {
                // A nameserver that just restarted knows no route yet: keep what we have.
                return Err(ClientError::BadResponse {
                    addr: "nameserver".into(),
                    reason: format!(
                        "no route for {} (keeping the current queues)",
                        self.cfg.topic
                    ),
                });
            }
            return Ok((Vec::new(), false));
        }
        let Some(first) = reached else {
            return Err(ClientError::Unreachable {
                addr: format!("{brokers:?}"),
                reason: "no broker answered the heartbeat (keeping the current queues)".into(),
            });
        };
        let req = request(
            RequestCode::GET_CONSUMER_LIST_BY_GROUP,
            &[("consumerGroup", &self.cfg.group)],
        );
        let r = self.links().call(first, req).await?;
        let mut ids = from_json_lenient::<ConsumerListBody>(&r.body)
            .map_err(|reason| ClientError::BadResponse {
                addr: first.to_string(),
                reason,
            })?
            .consumer_id_list;
        ids.sort();
        let mut share = Vec::new();
        for (i, queues) in [topic, retry].iter().enumerate() {
            let mine = allocate_averagely(queues, &ids, &self.cfg.client_id);
            share.extend(mine.into_iter().map(|q| (q, i)));
        }
        Ok((share, no_retry_route))
    }

    /// Heartbeats `brokers`; returns the first that answered.
    async fn heartbeat(&self, brokers: &BTreeSet<SocketAddr>) -> Option<SocketAddr> {
        let mut reached = None;
        for addr in brokers {
            let hb = RemotingCommand::request(RequestCode::HEART_BEAT.code(), ExtFields::new())
                .with_body(self.heartbeat_body());
            match self.links().call(*addr, hb).await {
                Ok(_) => {
                    self.registered_on.borrow_mut().insert(*addr);
                    reached = reached.or(Some(*addr));
                }
                Err(e) => tracing::warn!("heartbeat to {addr} failed: {e}"),
            }
        }
        reached
    }

    /// Where a newly owned queue starts: the group's committed offset, else per `from`
    /// (a retry topic always from its start, as RocketMQ does).
    async fn start_offset(&self, q: &QueueAt, sub: usize) -> Result<i64, ClientError> {
        if let Some(o) = self.pull.committed(q).await? {
            return Ok(o);
        }
        if sub == 1 {
            return match self.cfg.from {
                StartFrom::Timestamp(_) => self.pull.max_offset(q).await,
                StartFrom::First | StartFrom::Last => Ok(0),
            };
        }
        match self.cfg.from {
            StartFrom::First => Ok(0),
            StartFrom::Last => self.pull.max_offset(q).await,
            StartFrom::Timestamp(ts) => self.pull.offset_at(q, ts).await,
        }
    }

    /// Commits every owned queue whose offset moved.
    async fn commit_all(&self) {
        let due: Vec<(QueueAt, i64)> = self
            .owned
            .borrow()
            .iter()
            .filter(|(_, o)| o.run.consumed.get() != o.committed.get())
            .map(|(q, o)| (q.clone(), o.run.consumed.get()))
            .collect();
        for (q, offset) in due {
            match self.pull.commit(&q, offset).await {
                Ok(()) => {
                    if let Some(o) = self.owned.borrow().get(&q) {
                        o.committed.set(offset);
                    }
                }
                Err(e) => tracing::warn!("offset commit failed: {e}"),
            }
        }
    }

    /// Gives up `gone`: stops their tasks, commits where they got to, unlocks them.
    async fn release(&self, gone: Vec<QueueAt>) {
        for q in &gone {
            let Some(o) = self.owned.borrow_mut().remove(q) else {
                continue;
            };
            o.run.alive.set(false);
            if o.run.consumed.get() != o.committed.get() {
                if let Err(e) = self.pull.commit(q, o.run.consumed.get()).await {
                    tracing::warn!("offset commit failed: {e}");
                }
            }
        }
        if self.cfg.orderly && !gone.is_empty() {
            self.unlock(&gone).await;
        }
    }

    /// Recomputes the allocation and starts or stops queues to match; true when a queue
    /// it should own could not be started yet (its lock is still held by its last owner,
    /// its broker did not answer, the retry topic is not routed yet).
    async fn rebalance(self: &Rc<Self>, listener: &Listener) -> Result<bool, ClientError> {
        if self.cfg.orderly {
            self.renew_locks().await;
        }
        let (share, no_retry_route) = self.allocation().await?;
        // Ask again soon while the retry topic's registration is on its way, but not
        // forever (a group may have no retry queues).
        let mut pending = no_retry_route && self.retry_route_waits.get() < RETRY_ROUTE_WAITS && {
            self.retry_route_waits.set(self.retry_route_waits.get() + 1);
            true
        };
        let wanted: BTreeMap<QueueAt, usize> = share.into_iter().collect();
        let gone: Vec<QueueAt> = self
            .owned
            .borrow()
            .keys()
            .filter(|q| !wanted.contains_key(*q))
            .cloned()
            .collect();
        // A queue that moved to another broker of its group (master down: a slave; back
        // again) continues from where this consumer got to, not from that broker's commit,
        // which may be older: nothing is replayed beyond what was never committed anywhere.
        let moved: BTreeMap<MessageQueue, i64> = {
            let owned = self.owned.borrow();
            gone.iter()
                .filter(|q| wanted.keys().any(|w| w.mq == q.mq))
                .filter_map(|q| owned.get(q).map(|o| (q.mq.clone(), o.run.consumed.get())))
                .collect()
        };
        self.release(gone).await;
        let mut fresh: Vec<QueueAt> = wanted
            .keys()
            .filter(|q| !self.owned.borrow().contains_key(*q))
            .cloned()
            .collect();
        let locked_at = Instant::now();
        if self.cfg.orderly && !fresh.is_empty() {
            let locked = self.lock(&fresh).await;
            pending |= locked.len() < fresh.len();
            fresh.retain(|q| locked.contains(q));
        }
        for q in fresh {
            let sub = wanted[&q];
            let carried = moved.get(&q.mq).copied();
            if let Some(o) = carried {
                tracing::info!(
                    "{} queue {} now read from {} (from offset {o})",
                    q.mq.topic,
                    q.mq.queue_id,
                    q.addr
                );
            }
            let start = match carried {
                Some(o) => Ok(o),
                None => self.start_offset(&q, sub).await,
            };
            let start = match start {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!("cannot start {} queue {}: {e}", q.mq.topic, q.mq.queue_id);
                    pending = true;
                    continue;
                }
            };
            let run = Rc::new(QueueRun {
                alive: Cell::new(true),
                consumed: Cell::new(start),
                locked_until: Cell::new(locked_at + Duration::from_millis(LOCK_VALID_MS)),
                cached: Cell::new(0),
                cached_max: Cell::new(start - 1),
                last_pull_ms: Cell::new(0),
                last_consume_ms: Cell::new(0),
            });
            let (tx, rx) = local_channel::new_bounded(self.cfg.pull_threshold_for_queue.max(1));
            glommio::spawn_local(
                self.clone()
                    .pull_queue(q.clone(), sub, start, run.clone(), tx),
            )
            .detach();
            glommio::spawn_local(self.clone().consume_queue(
                q.clone(),
                run.clone(),
                rx,
                listener.clone(),
            ))
            .detach();
            let owned = Owned {
                run,
                // A moved queue's offset is committed to its new broker at the next round,
                // which may not know it yet.
                committed: Cell::new(if carried.is_some() { -1 } else { start }),
            };
            self.owned.borrow_mut().insert(q, owned);
        }
        Ok(pending)
    }

    /// Long-polls one queue into its channel until the queue is given up.
    async fn pull_queue(
        self: Rc<Self>,
        q: QueueAt,
        sub: usize,
        mut offset: i64,
        run: Rc<QueueRun>,
        tx: LocalSender<Item>,
    ) {
        while run.alive.get() && !self.stop.get() {
            let opts = PullOptions {
                suspend_ms: Some(PULL_SUSPEND_MS),
                commit_offset: Some(run.consumed.get()),
                registered: true,
            };
            let r = self
                .pull
                .pull(&q, &self.subs[sub], offset, self.cfg.pull_batch_size, opts)
                .await;
            let r = match r {
                Ok(r) => {
                    run.last_pull_ms.set(crate::clock::now_ms());
                    r
                }
                Err(e) => {
                    tracing::warn!("pull of {} failed: {e}", q.mq.topic);
                    glommio::timer::sleep(Duration::from_millis(PULL_RETRY_DELAY_MS)).await;
                    continue;
                }
            };
            let last = if r.status == PullStatus::OffsetIllegal {
                tracing::warn!(
                    "offset {offset} of {} queue {} is out of range; continuing from {}",
                    q.mq.topic,
                    q.mq.queue_id,
                    r.next_begin_offset
                );
                Item::Reset(r.next_begin_offset)
            } else {
                Item::Advance(r.next_begin_offset)
            };
            let stuck = r.status == PullStatus::Found && r.next_begin_offset == offset;
            for mut m in r.messages {
                m.restore_retry_topic();
                let at = m.queue_offset;
                if !self.hand_over(&tx, Item::Message(Box::new(m)), &run).await {
                    return;
                }
                run.cached.set(run.cached.get() + 1);
                run.cached_max.set(at);
            }
            if !self.hand_over(&tx, last, &run).await {
                return;
            }
            offset = r.next_begin_offset;
            if stuck {
                // A record that does not decode: do not spin on it.
                glommio::timer::sleep(Duration::from_millis(PULL_RETRY_DELAY_MS)).await;
            }
        }
    }

    /// Puts `item` in the queue's channel, waiting while it is full (flow control); false
    /// once the queue is given up or the consumer stops, so a puller never waits on a
    /// channel nobody reads.
    async fn hand_over(&self, tx: &LocalSender<Item>, item: Item, run: &QueueRun) -> bool {
        futures_lite::future::or(async { tx.send(item).await.is_ok() }, async {
            while run.alive.get() && !self.stop.get() {
                glommio::timer::sleep(Duration::from_millis(CONTROL_TICK_MS)).await;
            }
            false
        })
        .await
    }

    /// Hands one queue's messages to the listener, in order.
    async fn consume_queue(
        self: Rc<Self>,
        q: QueueAt,
        run: Rc<QueueRun>,
        rx: LocalReceiver<Item>,
        listener: Listener,
    ) {
        while let Some(item) = rx.recv().await {
            if !run.alive.get() || self.stop.get() {
                return;
            }
            match item {
                Item::Advance(o) => run.consumed.set(run.consumed.get().max(o)),
                Item::Reset(o) => run.consumed.set(o),
                Item::Message(m) => {
                    if !self.deliver(&q, &m, &run, &listener).await {
                        return;
                    }
                    run.consumed.set(run.consumed.get().max(m.queue_offset + 1));
                    run.cached.set(run.cached.get() - 1);
                    run.last_consume_ms.set(crate::clock::now_ms());
                }
            }
        }
    }

    /// Runs the listener on one message until it is dealt with; false when the consumer
    /// or this queue stops instead.
    async fn deliver(
        &self,
        q: &QueueAt,
        m: &Received,
        run: &QueueRun,
        listener: &Listener,
    ) -> bool {
        let max = self.cfg.max_reconsume();
        let mut local_retries = 0;
        loop {
            if !run.alive.get() || self.stop.get() {
                return false;
            }
            if self.cfg.orderly && Instant::now() >= run.locked_until.get() {
                // The lock may have lapsed on the broker: another consumer could own the
                // queue now. Wait for the renewal (or for the queue to be given up).
                glommio::timer::sleep(Duration::from_millis(CONTROL_TICK_MS)).await;
                continue;
            }
            let attempt;
            let shown = if local_retries == 0 {
                m
            } else {
                attempt = Received {
                    reconsume_times: m.reconsume_times.saturating_add(local_retries),
                    ..m.clone()
                };
                &attempt
            };
            match listener(shown) {
                ConsumeStatus::Success => return true,
                ConsumeStatus::Stop => {
                    self.stop.set(true);
                    return true;
                }
                ConsumeStatus::Later => {}
            }
            if self.cfg.orderly {
                if shown.reconsume_times < max {
                    local_retries += 1;
                    glommio::timer::sleep(Duration::from_millis(SUSPEND_CURRENT_QUEUE_MS)).await;
                    continue;
                }
                // Retries spent: to the dead-letter queue, so the queue can move on.
                if self.send_back(q, shown, -1).await {
                    return true;
                }
            } else if self.send_back(q, m, 0).await || self.resend_to_retry(m).await {
                return true;
            }
            glommio::timer::sleep(Duration::from_millis(SUSPEND_CURRENT_QUEUE_MS)).await;
        }
    }

    /// Stops the consumer soon (from another task).
    pub fn shutdown(&self) {
        self.stop.set(true);
    }

    /// Consumes until the listener says `Stop`, [`Consumer::shutdown`] is called, or
    /// `limit` passes; then commits, unlocks and unregisters. Fails only if the first
    /// rebalance does (nothing reachable); later failures are retried.
    pub async fn run(
        self: &Rc<Self>,
        listener: Listener,
        limit: Option<Duration>,
    ) -> Result<(), ClientError> {
        if self.subs[0].is_sql92() {
            self.pull.check_subscription(&self.subs[0]).await?;
        }
        *self.listener.borrow_mut() = Some(listener.clone());
        let deadline = limit.map(|l| Instant::now() + l);
        let soon = |pending: bool| {
            let ms = if pending {
                LOCK_RETRY_MS
            } else {
                REBALANCE_INTERVAL_MS
            };
            Instant::now() + Duration::from_millis(ms)
        };
        let first = self.rebalance(&listener).await;
        let Ok(pending) = first else {
            *self.listener.borrow_mut() = None;
            return first.map(|_| ());
        };
        let mut next_rebalance = soon(pending);
        let mut next_commit = Instant::now() + Duration::from_millis(COMMIT_INTERVAL_MS);
        while !self.stop.get() && deadline.is_none_or(|d| Instant::now() < d) {
            let due = Instant::now() >= next_rebalance || self.rebalance_now.get();
            if due && self.resets_in_flight.get() == 0 {
                self.rebalance_now.set(false);
                next_rebalance = soon(self.rebalance(&listener).await.unwrap_or_else(|e| {
                    tracing::warn!("rebalance failed: {e}");
                    true
                }));
            }
            if Instant::now() >= next_commit {
                self.commit_all().await;
                next_commit = Instant::now() + Duration::from_millis(COMMIT_INTERVAL_MS);
            }
            glommio::timer::sleep(Duration::from_millis(CONTROL_TICK_MS)).await;
        }
        self.stop.set(true);
        // Not running any more: CONSUME_MESSAGE_DIRECTLY is refused from here on.
        *self.listener.borrow_mut() = None;
        let all: Vec<QueueAt> = self.owned.borrow().keys().cloned().collect();
        // Every broker that knows this client, not just those of its queues, so the group's
        // other members rebalance at once.
        let brokers: BTreeSet<SocketAddr> = self.registered_on.borrow().clone();
        self.release(all).await;
        for addr in brokers {
            let req = request(
                RequestCode::UNREGISTER_CLIENT,
                &[
                    ("clientID", &self.cfg.client_id),
                    ("consumerGroup", &self.cfg.group),
                ],
            );
            let _ = self.links().request(addr, req).await;
        }
        Ok(())
    }
}

fn by_broker(queues: &[QueueAt]) -> BTreeMap<SocketAddr, Vec<MessageQueue>> {
    let mut out: BTreeMap<SocketAddr, Vec<MessageQueue>> = BTreeMap::new();
    for q in queues {
        out.entry(q.addr).or_default().push(q.mq.clone());
    }
    out
}
