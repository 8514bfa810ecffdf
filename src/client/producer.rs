//! The producer (spec §7.5): routes from the nameservers (cached 30 s, refreshed on errors),
//! round-robin over writable queues avoiding a broker that just failed, retries on the codes
//! RocketMQ retries, SEND_MESSAGE_V2 with RocketMQ's properties, zlib above 4 KiB, ordered
//! sends to a chosen queue, and batches.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::rpc::{request, resolve, Links, OnRequest};
use super::ClientError;
use crate::protocol::acl_signature::Credentials;
use crate::protocol::body::client::MessageQueue;
use crate::protocol::body::TopicRouteData;
use crate::protocol::codes::perm;
use crate::protocol::header::broker::{SendMessageRequestHeaderV2, SendMessageResponseHeader};
use crate::protocol::properties::{keys, Properties};
use crate::protocol::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};

/// A route is reused this long before asking the nameserver again.
pub const ROUTE_TTL_MS: u64 = 30_000;
/// Bodies at least this large are compressed (RocketMQ's compressMsgBodyOverHowmuch).
pub const COMPRESS_OVER_BYTES: usize = 4096;
/// sysFlag: body compressed (with 0x300: zlib).
const SYSFLAG_COMPRESSED_ZLIB: i32 = 0x1 | 0x300;
/// Async sends in flight before `send_async` waits for a slot.
pub const MAX_ASYNC_IN_FLIGHT: usize = 10_000;
/// Producer heartbeats to each broker it sends to (RocketMQ's heartbeatBrokerInterval).
pub const PRODUCER_HEARTBEAT_INTERVAL_MS: u64 = 30_000;
/// Queues asked for when a topic is auto-created from TBW102.
pub const DEFAULT_TOPIC_QUEUE_NUMS: i32 = 4;
/// Codes after which a send is tried again, elsewhere (RocketMQ 5's list; 204 and 205
/// are unit codes coremq never sends).
const RETRY_CODES: [ResponseCode; 5] = [
    ResponseCode::TOPIC_NOT_EXIST,
    ResponseCode::SERVICE_NOT_AVAILABLE,
    ResponseCode::SYSTEM_ERROR,
    ResponseCode::SYSTEM_BUSY,
    ResponseCode::NO_PERMISSION,
];

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// Topic.
    pub topic: String,
    /// Tag.
    pub tags: Option<String>,
    /// Business keys.
    pub keys: Vec<String>,
    /// Body, shared: clones and retries do not copy it (`Vec<u8>`, `&'static [u8]` and
    /// `String` convert with `.into()`).
    pub body: bytes::Bytes,
    /// User properties.
    pub properties: Vec<(String, String)>,
    /// User flag.
    pub flag: i32,
}

impl Message {
    /// A message with a received one's topic, tags, keys, body, flag and properties (the
    /// unique id among them), to send again.
    pub fn copy_of(m: &super::message::Received) -> Message {
        Message {
            topic: m.topic.clone(),
            tags: (!m.tags.is_empty()).then(|| m.tags.clone()),
            keys: m
                .keys
                .split(' ')
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
            body: bytes::Bytes::copy_from_slice(&m.body),
            // Tags, keys and wait-for-store are set from the fields at send time.
            properties: m
                .properties
                .iter()
                .filter(|(k, _)| ![keys::TAGS, keys::KEYS, keys::WAIT].contains(k))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            flag: m.flag,
        }
    }
}

/// Send outcome (RocketMQ's SendStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// Stored.
    SendOk,
    /// Stored, flush timed out.
    FlushDiskTimeout,
    /// Stored, replica wait timed out.
    FlushSlaveTimeout,
    /// Stored, no slave.
    SlaveNotAvailable,
}

impl SendStatus {
    fn of(code: i32) -> Option<Self> {
        match code {
            0 => Some(SendStatus::SendOk),
            10 => Some(SendStatus::FlushDiskTimeout),
            12 => Some(SendStatus::FlushSlaveTimeout),
            11 => Some(SendStatus::SlaveNotAvailable),
            _ => None,
        }
    }

    /// Java's name.
    pub fn name(self) -> &'static str {
        match self {
            SendStatus::SendOk => "SEND_OK",
            SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
            SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
            SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
        }
    }
}

/// What a send returned.
#[derive(Debug, Clone)]
pub struct SendResult {
    /// Status.
    pub status: SendStatus,
    /// The client-side unique id (UNIQ_KEY).
    pub msg_id: String,
    /// The broker's offset message id.
    pub offset_msg_id: String,
    /// Queue it went to.
    pub queue: MessageQueue,
    /// Its offset there.
    pub queue_offset: i64,
}

impl std::fmt::Display for SendResult {
    /// RocketMQ's `SendResult.toString()`, what the quickstart prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SendResult [sendStatus={}, msgId={}, offsetMsgId={}, messageQueue=MessageQueue [topic={}, brokerName={}, queueId={}], queueOffset={}]",
            self.status.name(),
            self.msg_id,
            self.offset_msg_id,
            self.queue.topic,
            self.queue.broker_name,
            self.queue.queue_id,
            self.queue_offset
        )
    }
}

/// A topic's writable queues, computed once per route refresh.
struct Publish {
    /// Each queue with its master's address, in route order.
    with_addr: Vec<(MessageQueue, String)>,
    /// The same queues alone: what an ordered send's selector picks among.
    queues: Vec<MessageQueue>,
}

type PublishQueues = Rc<Publish>;

/// A producer.
pub struct Producer {
    group: String,
    namesrv: Vec<SocketAddr>,
    links: Links,
    routes: RefCell<HashMap<String, (Instant, TopicRouteData, PublishQueues)>>,
    next_queue: Cell<usize>,
    last_failed: RefCell<Option<String>>,
    /// Extra attempts after a failed send.
    pub retries: u32,
    ids: UniqueIds,
    /// Async sends in flight, at most `max_async_in_flight`.
    async_slots: Rc<glommio::sync::Semaphore>,
    max_async_in_flight: usize,
    /// `ip@pid`, as brokers list it in producerConnection.
    client_id: String,
    /// Last heartbeat sent to each broker.
    heartbeats: RefCell<HashMap<SocketAddr, Instant>>,
}

impl Producer {
    /// A producer in `group` using these nameservers.
    pub fn new(
        group: &str,
        namesrv: Vec<SocketAddr>,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        Self::with_links(group, namesrv, Links::with_timeout(timeout))
    }

    /// Like [`Self::new`], answering what brokers ask this producer with `on_request`
    /// (transaction check-backs).
    pub fn serving(
        group: &str,
        namesrv: Vec<SocketAddr>,
        timeout: Duration,
        on_request: OnRequest,
    ) -> Result<Self, ClientError> {
        Self::with_links(group, namesrv, Links::serving(timeout, on_request))
    }

    /// Builder: signs every request with these ACL keys.
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> Self {
        self.links = self.links.signed(credentials);
        self
    }

    fn with_links(
        group: &str,
        namesrv: Vec<SocketAddr>,
        links: Links,
    ) -> Result<Self, ClientError> {
        if namesrv.is_empty() {
            return Err(ClientError::NoNamesrv);
        }
        Ok(Producer {
            group: group.to_owned(),
            namesrv,
            links,
            routes: RefCell::default(),
            next_queue: Cell::new(0),
            last_failed: RefCell::default(),
            retries: 2,
            ids: UniqueIds::new(),
            async_slots: Rc::new(glommio::sync::Semaphore::new(MAX_ASYNC_IN_FLIGHT as u64)),
            max_async_in_flight: MAX_ASYNC_IN_FLIGHT,
            client_id: super::client_id(""),
            heartbeats: RefCell::default(),
        })
    }

    /// Registers this producer with `broker` (HEART_BEAT with its group), once and then
    /// every [`PRODUCER_HEARTBEAT_INTERVAL_MS`], as RocketMQ's clients do: brokers list
    /// live producers in `producerConnection` from it. Oneway, so a send never waits on it.
    async fn heartbeat_if_due(&self, broker: SocketAddr) {
        let now = Instant::now();
        let due = self.heartbeats.borrow().get(&broker).is_none_or(|at| {
            now.duration_since(*at) >= Duration::from_millis(PRODUCER_HEARTBEAT_INTERVAL_MS)
        });
        if !due {
            return;
        }
        self.heartbeats.borrow_mut().insert(broker, now);
        let body = serde_json::json!({
            "clientID": self.client_id,
            "consumerDataSet": [],
            "producerDataSet": [{"groupName": self.group}],
        });
        let req = request(RequestCode::HEART_BEAT, &[])
            .with_body(crate::protocol::body::to_json(&body))
            .oneway();
        if let Err(e) = self.links.oneway(broker, req).await {
            tracing::debug!("producer heartbeat to {broker} failed: {e}");
            // Try again with the next send.
            self.heartbeats.borrow_mut().remove(&broker);
        }
    }

    /// The producer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The client id brokers know this producer by (`ip@pid`).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Tells brokers this producer apart from others of the process: its client id
    /// becomes `ip@pid<suffix>` (a request's reply is pushed to the client id's connection).
    pub fn set_client_suffix(&mut self, suffix: &str) {
        self.client_id = super::client_id(suffix);
    }

    /// The address of the broker serving `mq` (for END_TRANSACTION after a half send).
    pub(super) async fn broker_addr_of(
        &self,
        mq: &MessageQueue,
    ) -> Result<SocketAddr, ClientError> {
        let queues = self.writable(&mq.topic).await?;
        let addr = queues
            .with_addr
            .iter()
            .find(|(q, _)| q.broker_name == mq.broker_name)
            .map(|(_, a)| a.clone())
            .ok_or_else(|| ClientError::BadResponse {
                addr: "nameserver".into(),
                reason: format!("no master of broker {} in the route", mq.broker_name),
            })?;
        resolve(&addr)
    }

    /// Sends a oneway request to `addr` on this producer's connection to it.
    pub(super) async fn oneway_to(
        &self,
        addr: SocketAddr,
        req: RemotingCommand,
    ) -> Result<(), ClientError> {
        self.links.oneway(addr, req).await
    }

    /// Allows `n` async sends in flight (before any is sent).
    pub fn set_max_async_in_flight(&mut self, n: usize) {
        let n = n.max(1);
        self.async_slots = Rc::new(glommio::sync::Semaphore::new(n as u64));
        self.max_async_in_flight = n;
    }

    /// The topic's route (cached); an unknown topic gets TBW102's, so the broker creates it.
    pub async fn route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        if let Some((at, r, _)) = self.routes.borrow().get(topic) {
            if at.elapsed() < Duration::from_millis(ROUTE_TTL_MS) {
                return Ok(r.clone());
            }
        }
        let mut route = match self.fetch_route(topic).await? {
            Some(r) => r,
            None => {
                let mut r =
                    self.fetch_route("TBW102")
                        .await?
                        .ok_or_else(|| ClientError::Refused {
                            addr: "nameserver".into(),
                            code: ResponseCode::TOPIC_NOT_EXIST.code(),
                            name: "TOPIC_NOT_EXIST".into(),
                            remark: format!("No route info of this topic: {topic}"),
                        })?;
                for q in &mut r.queue_datas {
                    q.read_queue_nums = q.read_queue_nums.min(DEFAULT_TOPIC_QUEUE_NUMS);
                    q.write_queue_nums = q.write_queue_nums.min(DEFAULT_TOPIC_QUEUE_NUMS);
                }
                r
            }
        };
        route
            .queue_datas
            .sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
        let with_addr = Self::publish_queues(topic, &route);
        let queues = with_addr.iter().map(|(q, _)| q.clone()).collect();
        let publish = Rc::new(Publish { with_addr, queues });
        self.routes
            .borrow_mut()
            .insert(topic.to_owned(), (Instant::now(), route.clone(), publish));
        Ok(route)
    }

    /// The topic's writable queues (cached with the route: computed once per refresh,
    /// not once per send).
    async fn writable(&self, topic: &str) -> Result<PublishQueues, ClientError> {
        if let Some((at, _, q)) = self.routes.borrow().get(topic) {
            if at.elapsed() < Duration::from_millis(ROUTE_TTL_MS) {
                return Ok(q.clone());
            }
        }
        self.route(topic).await?;
        self.routes
            .borrow()
            .get(topic)
            .map(|(_, _, q)| q.clone())
            .ok_or(ClientError::NoNamesrv)
    }

    async fn fetch_route(&self, topic: &str) -> Result<Option<TopicRouteData>, ClientError> {
        super::rpc::fetch_route(&self.links, &self.namesrv, topic).await
    }

    /// Writable queues of a route, with their master's address, in route order.
    pub fn publish_queues(topic: &str, route: &TopicRouteData) -> Vec<(MessageQueue, String)> {
        super::rpc::master_queues(topic, route, perm::WRITE)
            .into_iter()
            .map(|(mq, addr)| (mq, addr.to_owned()))
            .collect()
    }

    /// The next queue round-robin, skipping the broker that failed last when another
    /// is writable.
    async fn pick(&self, topic: &str) -> Result<(MessageQueue, String), ClientError> {
        let publish = self.writable(topic).await?;
        let queues = &publish.with_addr;
        if queues.is_empty() {
            return Err(ClientError::BadResponse {
                addr: "nameserver".into(),
                reason: format!("no writable queue for topic {topic}"),
            });
        }
        let failed = self.last_failed.borrow().clone();
        let start = self.next_queue.get();
        self.next_queue.set(start.wrapping_add(1));
        Ok((0..queues.len())
            .map(|i| &queues[(start + i) % queues.len()])
            .find(|(q, _)| Some(&q.broker_name) != failed.as_ref())
            .unwrap_or(&queues[start % queues.len()])
            .clone())
    }

    /// Runs `attempt` on picked queues until it succeeds, fails for good, or the retries
    /// run out; a failed broker is avoided and the route refreshed.
    async fn with_retries<F, Fut>(&self, topic: &str, attempt: F) -> Result<SendResult, ClientError>
    where
        F: Fn(MessageQueue, String) -> Fut,
        Fut: std::future::Future<Output = Result<SendResult, ClientError>>,
    {
        let mut last = None;
        for _ in 0..=self.retries {
            let (mq, addr) = self.pick(topic).await?;
            let broker = mq.broker_name.clone();
            match attempt(mq, addr).await {
                Ok(r) => {
                    // Avoid a failed broker only until it answers again.
                    self.last_failed.borrow_mut().take();
                    return Ok(r);
                }
                Err(e) if retryable(&e) => {
                    *self.last_failed.borrow_mut() = Some(broker);
                    self.routes.borrow_mut().remove(topic);
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(ClientError::NoNamesrv))
    }

    /// Sends to the next queue round-robin, retrying elsewhere on failure (sync send).
    pub async fn send(&self, msg: &Message) -> Result<SendResult, ClientError> {
        // One id for every attempt: a duplicate left by a timed-out attempt is
        // recognisable by it.
        let uniq = self.uniq_of(msg);
        self.with_retries(&msg.topic, |mq, addr| {
            let uniq = uniq.clone();
            async move {
                let req = self.single_request(msg, &mq, &uniq);
                self.exchange(req, &mq, &addr, uniq).await
            }
        })
        .await
    }

    /// Sends without waiting for the broker (oneway): no result, no retry.
    pub async fn send_oneway(&self, msg: &Message) -> Result<(), ClientError> {
        let (mq, addr) = self.pick(&msg.topic).await?;
        let req = self.single_request(msg, &mq, &self.uniq_of(msg));
        let sa = resolve(&addr)?;
        self.heartbeat_if_due(sa).await;
        self.links.oneway(sa, req).await
    }

    /// Sends in the background and calls `done` with the outcome (async send). At most
    /// `max_async_in_flight` sends run at once; past that this waits for a slot, so a
    /// fast caller is slowed instead of queueing without bound.
    pub async fn send_async(
        self: &Rc<Self>,
        msg: Message,
        done: impl FnOnce(Result<SendResult, ClientError>) + 'static,
    ) {
        let permit = self.async_slots.clone().acquire_static_permit(1).await;
        let this = self.clone();
        glommio::spawn_local(async move {
            let _permit = permit;
            done(this.send(&msg).await);
        })
        .detach();
    }

    /// Waits until every async send has completed.
    pub async fn flush_async(&self) {
        let _all = self
            .async_slots
            .acquire_permit(self.max_async_in_flight as u64)
            .await;
    }

    /// Sends messages of one topic as one batch to one queue (SEND_BATCH_MESSAGE), with
    /// retries; they get consecutive offsets. Not compressed, not delayed (as RocketMQ).
    pub async fn send_batch(&self, msgs: &[Message]) -> Result<SendResult, ClientError> {
        let Some(first) = msgs.first() else {
            return Err(ClientError::Invalid("an empty batch".into()));
        };
        if let Some(m) = msgs.iter().find(|m| m.topic != first.topic) {
            return Err(ClientError::Invalid(format!(
                "a batch holds one topic: {} and {}",
                first.topic, m.topic
            )));
        }
        let mut ids = Vec::with_capacity(msgs.len());
        let mut props = Vec::with_capacity(msgs.len());
        for m in msgs {
            let uniq = self.uniq_of(m);
            let p = self.properties(m, &uniq).encode();
            if p.len() > i16::MAX as usize {
                return Err(ClientError::Invalid(format!(
                    "properties of message {uniq} are {} bytes; at most {}",
                    p.len(),
                    i16::MAX
                )));
            }
            ids.push(uniq);
            props.push(p);
        }
        // Sized once: a body grown by doubling copied a 1 MiB batch twice more. Retries
        // share it (`Bytes`), and the connection sends it without another copy.
        let size = msgs
            .iter()
            .zip(&props)
            .map(|(m, p)| crate::protocol::body::batch::entry_len(m.body.len(), p.len()))
            .sum();
        let mut body = Vec::with_capacity(size);
        for (m, p) in msgs.iter().zip(&props) {
            crate::protocol::body::batch::encode_entry(m.flag, &m.body, p, &mut body);
        }
        debug_assert_eq!(body.len(), size);
        let body = bytes::Bytes::from(body);
        let msg_id = ids.join(",");
        self.with_retries(&first.topic, |mq, addr| {
            let (body, msg_id) = (body.clone(), msg_id.clone());
            async move {
                let h = self.header(&first.topic, &mq, 0, 0, String::new(), true);
                let req = RemotingCommand::request_with(RequestCode::SEND_BATCH_MESSAGE.code(), &h)
                    .with_body(body);
                self.exchange(req, &mq, &addr, msg_id).await
            }
        })
        .await
    }

    /// Sends to the queue `select` picks among the topic's writable queues (ordered
    /// messages: same key, same queue); not retried on another queue.
    pub async fn send_ordered(
        &self,
        msg: &Message,
        select: impl Fn(&[MessageQueue]) -> usize,
    ) -> Result<SendResult, ClientError> {
        let publish = self.writable(&msg.topic).await?;
        let (queues, mqs) = (&publish.with_addr, &publish.queues);
        if mqs.is_empty() {
            return Err(ClientError::BadResponse {
                addr: "nameserver".into(),
                reason: format!("no writable queue for topic {}", msg.topic),
            });
        }
        let (mq, addr) = &queues[select(mqs) % queues.len()];
        self.send_to(msg, mq, addr).await
    }

    /// Ordered send by key (RocketMQ's SelectMessageQueueByHash): messages with the same
    /// key go to the same queue while the topic's queue count stays the same.
    pub async fn send_by_key(&self, msg: &Message, key: &str) -> Result<SendResult, ClientError> {
        let hash = java_string_hash(key);
        self.send_ordered(msg, |qs| (hash.unsigned_abs() as usize) % qs.len().max(1))
            .await
    }

    /// The message's unique id: its own UNIQ_KEY when it carries one (a message resent as it
    /// was stored keeps its id, as RocketMQ's producer does), else a fresh one.
    fn uniq_of(&self, msg: &Message) -> String {
        msg.properties
            .iter()
            .find(|(k, _)| k == keys::UNIQ_KEY)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| self.ids.next())
    }

    /// RocketMQ's properties of a message: tag, keys, unique id, wait-for-store, user's.
    fn properties(&self, msg: &Message, uniq: &str) -> Properties {
        let mut props = Properties::default();
        if let Some(t) = &msg.tags {
            props.set(keys::TAGS, t.clone());
        }
        if !msg.keys.is_empty() {
            props.set(keys::KEYS, msg.keys.join(" "));
        }
        props.set(keys::UNIQ_KEY, uniq);
        props.set(keys::WAIT, "true");
        for (k, v) in &msg.properties {
            props.set(k, v.clone());
        }
        props
    }

    fn header(
        &self,
        topic: &str,
        mq: &MessageQueue,
        sys_flag: i32,
        flag: i32,
        props: String,
        batch: bool,
    ) -> SendMessageRequestHeaderV2 {
        SendMessageRequestHeaderV2 {
            a: self.group.clone(),
            b: topic.to_owned(),
            c: "TBW102".into(),
            d: DEFAULT_TOPIC_QUEUE_NUMS,
            e: mq.queue_id,
            f: sys_flag,
            g: crate::clock::now_ms(),
            h: flag,
            i: Some(props),
            j: Some(0),
            k: Some(false),
            l: None,
            m: Some(batch),
            n: Some(mq.broker_name.clone()),
        }
    }

    /// SEND_MESSAGE_V2 for one message (compressed when large) with unique id `uniq`.
    fn single_request(&self, msg: &Message, mq: &MessageQueue, uniq: &str) -> RemotingCommand {
        let mut props = self.properties(msg, uniq);
        // A consumer's resend to its retry topic carries its counts in the header.
        let retry_counts = msg
            .topic
            .starts_with(crate::protocol::topics::RETRY_PREFIX)
            .then(|| {
                let n = |k: &str, p: &mut Properties| p.remove(k).and_then(|v| v.parse().ok());
                (
                    n(keys::RECONSUME_TIME, &mut props),
                    n(keys::MAX_RECONSUME_TIMES, &mut props),
                )
            });
        let (body, sys_flag) = if msg.body.len() >= COMPRESS_OVER_BYTES {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(5));
            let compressed = z.write_all(&msg.body).and_then(|()| z.finish());
            match compressed {
                Ok(c) if c.len() < msg.body.len() => (c.into(), SYSFLAG_COMPRESSED_ZLIB),
                _ => (msg.body.clone(), 0),
            }
        } else {
            (msg.body.clone(), 0)
        };
        // A half message says so in its sysFlag too, as RocketMQ's producers send it.
        let sys_flag = if props.get(keys::TRAN_MSG) == Some("true") {
            sys_flag | crate::protocol::sys_flag::TRANSACTION_PREPARED_TYPE
        } else {
            sys_flag
        };
        let mut h = self.header(&msg.topic, mq, sys_flag, msg.flag, props.encode(), false);
        if let Some((times, max)) = retry_counts {
            h.j = times.or(h.j);
            h.l = max;
        }
        // A reply to a request goes with the reply code, so the broker pushes it on.
        let code = if props.get(keys::MESSAGE_TYPE) == Some(keys::MESSAGE_TYPE_REPLY) {
            RequestCode::SEND_REPLY_MESSAGE_V2
        } else {
            RequestCode::SEND_MESSAGE_V2
        };
        RemotingCommand::request_with(code.code(), &h).with_body(body)
    }

    /// Sends one message to one queue.
    pub async fn send_to(
        &self,
        msg: &Message,
        mq: &MessageQueue,
        addr: &str,
    ) -> Result<SendResult, ClientError> {
        let uniq = self.uniq_of(msg);
        let req = self.single_request(msg, mq, &uniq);
        self.exchange(req, mq, addr, uniq).await
    }

    /// Sends a built send request and reads the SendResult from the response.
    async fn exchange(
        &self,
        req: RemotingCommand,
        mq: &MessageQueue,
        addr: &str,
        msg_id: String,
    ) -> Result<SendResult, ClientError> {
        let sa = resolve(addr)?;
        self.heartbeat_if_due(sa).await;
        let r = self.links.request(sa, req).await?;
        let Some(status) = SendStatus::of(r.code) else {
            return Err(super::rpc::expect_success(sa, r).err().unwrap_or(
                ClientError::BadResponse {
                    addr: addr.to_owned(),
                    reason: "unknown send status".into(),
                },
            ));
        };
        let rh =
            SendMessageResponseHeader::from_ext(&r.ext).map_err(|e| ClientError::BadResponse {
                addr: addr.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(SendResult {
            status,
            msg_id,
            offset_msg_id: rh.msg_id,
            queue: MessageQueue {
                queue_id: rh.queue_id,
                ..mq.clone()
            },
            queue_offset: rh.queue_offset,
        })
    }
}

/// Java's `String.hashCode()` (UTF-16 code units), so a key picks the queue a Java
/// producer would pick.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

fn retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Unreachable { .. } => true,
        ClientError::Refused { code, .. } => RETRY_CODES.iter().any(|c| c.code() == *code),
        _ => false,
    }
}

/// The counter part of client-side message ids, shared by every producer of the process.
static NEXT_UNIQ_COUNTER: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

/// Client-side message ids (UNIQ_KEY, spec §4.5): address ‖ pid ‖ a per-process hash ‖
/// time ‖ counter, as 32 upper-case hex characters. Opaque to brokers; unique per process.
struct UniqueIds {
    prefix: String,
    start_ms: i64,
}

impl UniqueIds {
    fn new() -> Self {
        let start_ms = crate::clock::now_ms();
        let ip: [u8; 4] = match crate::broker::placement::local_ipv4() {
            std::net::IpAddr::V4(v4) => v4.octets(),
            std::net::IpAddr::V6(_) => [127, 0, 0, 1],
        };
        let pid = std::process::id() as u16;
        let hash = crc32c::crc32c(&start_ms.to_be_bytes());
        let prefix = format!(
            "{:02X}{:02X}{:02X}{:02X}{pid:04X}{hash:08X}",
            ip[0], ip[1], ip[2], ip[3]
        );
        UniqueIds { prefix, start_ms }
    }

    fn next(&self) -> String {
        // Process-wide: two producers made in the same millisecond share a prefix.
        let n = NEXT_UNIQ_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = (crate::clock::now_ms() - self.start_ms) as u32;
        format!("{}{t:08X}{n:04X}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::{BrokerData, QueueData};

    #[test]
    fn keys_hash_like_java() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn ids_and_publish_queues() {
        let ids = UniqueIds::new();
        let (a, b) = (ids.next(), ids.next());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        let route = TopicRouteData {
            queue_datas: vec![
                QueueData {
                    broker_name: "b".into(),
                    read_queue_nums: 2,
                    write_queue_nums: 2,
                    perm: 6,
                    ..Default::default()
                },
                QueueData {
                    broker_name: "ro".into(),
                    read_queue_nums: 2,
                    write_queue_nums: 2,
                    perm: 4,
                    ..Default::default()
                },
            ],
            broker_datas: vec![BrokerData {
                broker_name: "b".into(),
                broker_addrs: [(0, "127.0.0.1:1".to_string())].into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let q = Producer::publish_queues("T", &route);
        assert_eq!(q.len(), 2, "read-only broker skipped");
        assert_eq!(q[1].0.queue_id, 1);
        assert!(retryable(&ClientError::Refused {
            addr: String::new(),
            code: 17,
            name: String::new(),
            remark: String::new()
        }));
        assert!(!retryable(&ClientError::Refused {
            addr: String::new(),
            code: 13,
            name: String::new(),
            remark: String::new()
        }));
    }
}
