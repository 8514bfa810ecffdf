//! A clustering consumer (first cut for `coremq consume`): registers its subscription by
//! heartbeat, takes its share of the topic's queues with AllocateMessageQueueAveragely
//! (spec §7.1, recomputed every 20 s), starts each queue at its committed offset (else
//! first or last), long-polls every queue concurrently, and commits offsets every 5 s and
//! when it stops. Messages go to a callback in the order each queue delivers them.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::rpc::{expect_success, resolve, Links};
use super::ClientError;
use crate::broker::metadata::retry_topic;
use crate::protocol::body::client::{ConsumerListBody, MessageQueue, SubscriptionData};
use crate::protocol::body::{from_json_lenient, to_json, TopicRouteData};
use crate::protocol::header::broker::{
    PullMessageResponseHeader, PULL_FLAG_COMMIT_OFFSET, PULL_FLAG_SUSPEND,
};
use crate::protocol::properties::Properties;
use crate::protocol::{CommandHeader, ExtFields, RemotingCommand, RequestCode, ResponseCode};
use crate::store::record::Record;

/// Allocation is recomputed this often (RocketMQ's rebalance interval).
pub const REBALANCE_INTERVAL_MS: u64 = 20_000;
/// Offsets are committed this often.
pub const COMMIT_INTERVAL_MS: u64 = 5_000;
/// A pull is parked this long on the broker when nothing is new.
pub const PULL_SUSPEND_MS: u64 = 1_000;
/// Wait after a failed pull.
pub const PULL_RETRY_DELAY_MS: u64 = 1_000;

/// Where a group with no committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The oldest message kept.
    First,
    /// Only new messages.
    Last,
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    /// Topic.
    pub topic: String,
    /// Queue.
    pub queue_id: i32,
    /// Offset in the queue.
    pub queue_offset: i64,
    /// UNIQ_KEY, else the offset message id.
    pub msg_id: String,
    /// Tag.
    pub tags: String,
    /// Keys.
    pub keys: String,
    /// Body (decompressed).
    pub body: Vec<u8>,
    /// Producer time, ms.
    pub born_timestamp: i64,
    /// Broker time, ms.
    pub store_timestamp: i64,
}

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Tag expression (`*`, `a || b`).
    pub expr: String,
    /// Start of a fresh group.
    pub from: StartFrom,
    /// `ip@instance`.
    pub client_id: String,
}

/// The AllocateMessageQueueAveragely share of consumer `me` among `ids` (both sorted by
/// the caller's rules: queues by topic, broker, id; ids as strings).
pub fn allocate_averagely<T: Clone>(queues: &[T], ids: &[String], me: &str) -> Vec<T> {
    let Some(i) = ids.iter().position(|c| c == me) else {
        return Vec::new();
    };
    let (n, c) = (queues.len(), ids.len());
    let m = n % c;
    let size = if n <= c {
        1
    } else if i < m {
        n / c + 1
    } else {
        n / c
    };
    let start = if i < m { i * size } else { i * size + m };
    let take = size.min(n.saturating_sub(start));
    queues[start.min(n)..start.min(n) + take].to_vec()
}

/// Splits a pull body into messages.
pub fn decode_pull_body(body: &[u8]) -> Vec<Received> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= body.len() {
        let size = i32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
        let Ok(size) = usize::try_from(size) else {
            break;
        };
        if size < 4 || at + size > body.len() {
            break;
        }
        if let Ok(r) = Record::parse(&body[at..at + size]) {
            out.push(received(&r));
        }
        at += size;
    }
    out
}

fn received(r: &Record<'_>) -> Received {
    let props = Properties::parse(&r.properties());
    let body = if r.sys_flag() & 0x1 != 0 {
        let mut out = Vec::new();
        match flate2::read::ZlibDecoder::new(r.body()).read_to_end(&mut out) {
            Ok(_) => out,
            Err(_) => r.body().to_vec(),
        }
    } else {
        r.body().to_vec()
    };
    Received {
        topic: r.topic().into_owned(),
        queue_id: r.queue_id(),
        queue_offset: r.queue_offset(),
        msg_id: props.get("UNIQ_KEY").unwrap_or_default().to_owned(),
        tags: props.get("TAGS").unwrap_or_default().to_owned(),
        keys: props.get("KEYS").unwrap_or_default().to_owned(),
        body,
        born_timestamp: r.born_timestamp(),
        store_timestamp: r.store_timestamp(),
    }
}

/// A consumer session.
pub struct Consumer {
    cfg: ConsumerConfig,
    namesrv: Vec<SocketAddr>,
    links: Links,
    sub: SubscriptionData,
    /// Next offset per owned queue (what is committed).
    offsets: RefCell<BTreeMap<MessageQueue, i64>>,
    stop: Cell<bool>,
}

fn request(code: RequestCode, ext: &[(&str, String)]) -> RemotingCommand {
    let mut e = ExtFields::new();
    for (k, v) in ext {
        e.insert(*k, v.clone());
    }
    RemotingCommand::request(code.code(), e)
}

impl Consumer {
    /// A consumer; nothing is sent until [`Consumer::run`].
    pub fn new(cfg: ConsumerConfig, namesrv: Vec<SocketAddr>) -> Result<Rc<Self>, ClientError> {
        if namesrv.is_empty() {
            return Err(ClientError::NoNamesrv);
        }
        let sub = SubscriptionData::from_expression(&cfg.topic, &cfg.expr, now_ms());
        Ok(Rc::new(Consumer {
            cfg,
            namesrv,
            links: Links::with_timeout(Duration::from_millis(PULL_SUSPEND_MS + 5_000)),
            sub,
            offsets: RefCell::default(),
            stop: Cell::new(false),
        }))
    }

    async fn route(&self) -> Result<TopicRouteData, ClientError> {
        let req = request(
            RequestCode::GET_ROUTEINFO_BY_TOPIC,
            &[("topic", self.cfg.topic.clone())],
        );
        let r = self.links.request_any(&self.namesrv, req).await?;
        let r = expect_success(self.namesrv[0], r)?;
        from_json_lenient(&r.body).map_err(|reason| ClientError::BadResponse {
            addr: "nameserver".into(),
            reason,
        })
    }

    fn heartbeat_body(&self) -> Vec<u8> {
        let retry = SubscriptionData::from_expression(
            &retry_topic(&self.cfg.group),
            "*",
            self.sub.sub_version,
        );
        let from = match self.cfg.from {
            StartFrom::First => "CONSUME_FROM_FIRST_OFFSET",
            StartFrom::Last => "CONSUME_FROM_LAST_OFFSET",
        };
        let v = serde_json::json!({
            "clientID": self.cfg.client_id,
            "consumerDataSet": [{
                "groupName": self.cfg.group, "consumeType": "CONSUME_PASSIVELY",
                "messageModel": "CLUSTERING", "consumeFromWhere": from, "unitMode": false,
                "subscriptionDataSet": [self.sub, retry],
            }],
            "producerDataSet": [],
        });
        to_json(&v)
    }

    /// Heartbeats every broker, allocates, and returns (queue, broker address) owned now.
    async fn rebalance(&self) -> Result<Vec<(MessageQueue, SocketAddr)>, ClientError> {
        let route = self.route().await?;
        let mut all = Vec::new();
        let mut addrs = Vec::new();
        for b in &route.broker_datas {
            let Some(a) = b.master_addr() else { continue };
            let sa = resolve(a)?;
            let hb = RemotingCommand::request(RequestCode::HEART_BEAT.code(), ExtFields::new())
                .with_body(self.heartbeat_body());
            self.links.call(sa, hb).await?;
            addrs.push(sa);
            if let Some(q) = route
                .queue_datas
                .iter()
                .find(|q| q.broker_name == b.broker_name)
            {
                for qid in 0..q.read_queue_nums {
                    all.push((
                        MessageQueue {
                            broker_name: b.broker_name.clone(),
                            queue_id: qid,
                            topic: self.cfg.topic.clone(),
                        },
                        sa,
                    ));
                }
            }
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let Some(first) = addrs.first() else {
            return Ok(Vec::new());
        };
        let req = request(
            RequestCode::GET_CONSUMER_LIST_BY_GROUP,
            &[("consumerGroup", self.cfg.group.clone())],
        );
        let r = self.links.call(*first, req).await?;
        let mut ids = from_json_lenient::<ConsumerListBody>(&r.body)
            .map_err(|reason| ClientError::BadResponse {
                addr: first.to_string(),
                reason,
            })?
            .consumer_id_list;
        ids.sort();
        Ok(allocate_averagely(&all, &ids, &self.cfg.client_id))
    }

    async fn start_offset(&self, mq: &MessageQueue, addr: SocketAddr) -> Result<i64, ClientError> {
        let ext = [
            ("consumerGroup", self.cfg.group.clone()),
            ("topic", mq.topic.clone()),
            ("queueId", mq.queue_id.to_string()),
        ];
        let r = self
            .links
            .request(addr, request(RequestCode::QUERY_CONSUMER_OFFSET, &ext))
            .await?;
        if r.code == ResponseCode::SUCCESS.code() {
            return offset_of(addr, &r);
        }
        if r.code != ResponseCode::QUERY_NOT_FOUND.code() {
            return Err(expect_success(addr, r)
                .err()
                .unwrap_or(ClientError::NoNamesrv));
        }
        match self.cfg.from {
            StartFrom::First => Ok(0),
            StartFrom::Last => {
                let ext = [
                    ("topic", mq.topic.clone()),
                    ("queueId", mq.queue_id.to_string()),
                ];
                let r = self
                    .links
                    .call(addr, request(RequestCode::GET_MAX_OFFSET, &ext))
                    .await?;
                offset_of(addr, &r)
            }
        }
    }

    /// Commits every owned queue's offset.
    async fn commit(&self, owned: &[(MessageQueue, SocketAddr)]) {
        for (mq, addr) in owned {
            let Some(o) = self.offsets.borrow().get(mq).copied() else {
                continue;
            };
            let ext = [
                ("consumerGroup", self.cfg.group.clone()),
                ("topic", mq.topic.clone()),
                ("queueId", mq.queue_id.to_string()),
                ("commitOffset", o.to_string()),
            ];
            if let Err(e) = self
                .links
                .call(*addr, request(RequestCode::UPDATE_CONSUMER_OFFSET, &ext))
                .await
            {
                tracing::warn!("offset commit failed: {e}");
            }
        }
    }

    /// Pulls one queue until told to stop.
    async fn pull_loop(
        self: Rc<Self>,
        mq: MessageQueue,
        addr: SocketAddr,
        alive: Rc<Cell<bool>>,
        sink: Rc<dyn Fn(Received) -> bool>,
    ) {
        while alive.get() && !self.stop.get() {
            let Some(offset) = self.offsets.borrow().get(&mq).copied() else {
                return;
            };
            let ext = [
                ("consumerGroup", self.cfg.group.clone()),
                ("topic", mq.topic.clone()),
                ("queueId", mq.queue_id.to_string()),
                ("queueOffset", offset.to_string()),
                ("maxMsgNums", "32".to_string()),
                (
                    "sysFlag",
                    (PULL_FLAG_SUSPEND | PULL_FLAG_COMMIT_OFFSET).to_string(),
                ),
                ("commitOffset", offset.to_string()),
                ("suspendTimeoutMillis", PULL_SUSPEND_MS.to_string()),
                ("subscription", self.cfg.expr.clone()),
                ("subVersion", self.sub.sub_version.to_string()),
                ("expressionType", "TAG".to_string()),
            ];
            let r = match self
                .links
                .request(addr, request(RequestCode::PULL_MESSAGE, &ext))
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("pull failed: {e}");
                    glommio::timer::sleep(Duration::from_millis(PULL_RETRY_DELAY_MS)).await;
                    continue;
                }
            };
            let Ok(h) = PullMessageResponseHeader::from_ext(&r.ext) else {
                glommio::timer::sleep(Duration::from_millis(PULL_RETRY_DELAY_MS)).await;
                continue;
            };
            if r.code == ResponseCode::SUCCESS.code() {
                for m in decode_pull_body(&r.body) {
                    // The broker filters by tag hash; the exact tag is checked here.
                    if self.sub.takes_all() || self.sub.tags_set.contains(&m.tags) {
                        if !alive.get() || self.stop.get() {
                            return;
                        }
                        let next = m.queue_offset + 1;
                        let go_on = sink(m);
                        self.offsets.borrow_mut().insert(mq.clone(), next);
                        if !go_on {
                            self.stop.set(true);
                            return;
                        }
                    }
                }
            } else if ![19, 20, 21].contains(&r.code) {
                glommio::timer::sleep(Duration::from_millis(PULL_RETRY_DELAY_MS)).await;
                continue;
            }
            self.offsets
                .borrow_mut()
                .insert(mq.clone(), h.next_begin_offset);
        }
    }

    /// Consumes until `sink` returns false or `limit` passes; returns when stopped, after
    /// committing offsets and unregistering.
    pub async fn run(
        self: &Rc<Self>,
        sink: Rc<dyn Fn(Received) -> bool>,
        limit: Option<Duration>,
    ) -> Result<(), ClientError> {
        let deadline = limit.map(|l| Instant::now() + l);
        let mut owned: Vec<(MessageQueue, SocketAddr)> = Vec::new();
        let mut alive: Vec<Rc<Cell<bool>>> = Vec::new();
        let mut next_rebalance = Instant::now();
        let mut next_commit = Instant::now() + Duration::from_millis(COMMIT_INTERVAL_MS);
        while !self.stop.get() && deadline.is_none_or(|d| Instant::now() < d) {
            if Instant::now() >= next_rebalance {
                let now_owned = self.rebalance().await?;
                if now_owned != owned {
                    self.commit(&owned).await;
                    for a in alive.drain(..) {
                        a.set(false);
                    }
                    self.offsets.borrow_mut().clear();
                    for (mq, addr) in &now_owned {
                        let start = self.start_offset(mq, *addr).await?;
                        self.offsets.borrow_mut().insert(mq.clone(), start);
                        let flag = Rc::new(Cell::new(true));
                        alive.push(flag.clone());
                        glommio::spawn_local(self.clone().pull_loop(
                            mq.clone(),
                            *addr,
                            flag,
                            sink.clone(),
                        ))
                        .detach();
                    }
                    owned = now_owned;
                }
                next_rebalance = Instant::now() + Duration::from_millis(REBALANCE_INTERVAL_MS);
            }
            if Instant::now() >= next_commit {
                self.commit(&owned).await;
                next_commit = Instant::now() + Duration::from_millis(COMMIT_INTERVAL_MS);
            }
            glommio::timer::sleep(Duration::from_millis(50)).await;
        }
        self.stop.set(true);
        self.commit(&owned).await;
        let mut addrs: Vec<SocketAddr> = owned.iter().map(|(_, a)| *a).collect();
        addrs.dedup();
        for a in addrs {
            let ext = [
                ("clientID", self.cfg.client_id.clone()),
                ("consumerGroup", self.cfg.group.clone()),
            ];
            let _ = self
                .links
                .request(a, request(RequestCode::UNREGISTER_CLIENT, &ext))
                .await;
        }
        Ok(())
    }
}

fn offset_of(addr: SocketAddr, r: &RemotingCommand) -> Result<i64, ClientError> {
    r.ext
        .get("offset")
        .and_then(|o| o.parse().ok())
        .ok_or_else(|| ClientError::BadResponse {
            addr: addr.to_string(),
            reason: "no offset in the response".into(),
        })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averagely_like_rocketmq() {
        let q: Vec<i32> = (0..8).collect();
        let ids: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(allocate_averagely(&q, &ids, "a"), vec![0, 1, 2]);
        assert_eq!(allocate_averagely(&q, &ids, "b"), vec![3, 4, 5]);
        assert_eq!(allocate_averagely(&q, &ids, "c"), vec![6, 7]);
        assert!(allocate_averagely(&q, &ids, "z").is_empty());
        let two: Vec<i32> = (0..2).collect();
        assert_eq!(allocate_averagely(&two, &ids, "c"), Vec::<i32>::new());
        assert_eq!(allocate_averagely(&two, &ids, "b"), vec![1]);
    }
}
