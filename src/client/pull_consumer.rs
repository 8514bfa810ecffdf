//! The pull consumer (RocketMQ's DefaultMQPullConsumer, for tools and tests): the caller
//! names the queue and the offset, and keeps its own place. The push consumer is built on
//! the same calls.

use std::net::SocketAddr;
use std::time::Duration;

use super::message::{decode_pull_body, Received};
use super::rpc::{
    expect_success, fetch_route, request, resolve, subscribe_queues, Links, DEFAULT_TIMEOUT_MS,
};
use super::ClientError;
use crate::protocol::acl_signature::Credentials;
use crate::protocol::body::client::{MessageQueue, SubscriptionData};
use crate::protocol::header::broker::{
    PullMessageResponseHeader, PULL_FLAG_COMMIT_OFFSET, PULL_FLAG_SUBSCRIPTION, PULL_FLAG_SUSPEND,
};
use crate::protocol::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};

/// Messages a pull asks for by default (RocketMQ's pullBatchSize).
pub const PULL_BATCH_SIZE: i32 = 32;

/// A queue and the address of the master that serves it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueAt {
    /// The queue.
    pub mq: MessageQueue,
    /// Its broker's address.
    pub addr: SocketAddr,
}

/// What a pull found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStatus {
    /// Messages came back.
    Found,
    /// Nothing at or after the offset yet.
    NoNewMsg,
    /// Messages were there but none matched the subscription.
    NoMatchedMsg,
    /// The offset was outside the queue; continue from `next_begin_offset`.
    OffsetIllegal,
}

/// One pull's answer.
#[derive(Debug, Clone)]
pub struct PullResult {
    /// What was found.
    pub status: PullStatus,
    /// Where the next pull starts.
    pub next_begin_offset: i64,
    /// The queue's first kept offset.
    pub min_offset: i64,
    /// The queue's next offset to be written.
    pub max_offset: i64,
    /// Messages matching the subscription exactly (the broker filters by tag hash).
    pub messages: Vec<Received>,
}

/// How a pull waits and what it piggybacks.
#[derive(Debug, Clone, Copy, Default)]
pub struct PullOptions {
    /// Park on the broker this long when nothing is new.
    pub suspend_ms: Option<u64>,
    /// Commit this offset with the pull.
    pub commit_offset: Option<i64>,
    /// The group registered this subscription by heartbeat (a push consumer); otherwise
    /// the subscription travels in the request, as DefaultMQPullConsumer sends it.
    pub registered: bool,
}

/// A pull consumer of one group.
pub struct PullConsumer {
    group: String,
    namesrv: Vec<SocketAddr>,
    links: Links,
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

impl PullConsumer {
    /// A pull consumer with the default request timeout.
    pub fn new(group: &str, namesrv: Vec<SocketAddr>) -> Result<Self, ClientError> {
        Self::with_links(
            group,
            namesrv,
            Links::with_timeout(Duration::from_millis(DEFAULT_TIMEOUT_MS)),
        )
    }

    /// A pull consumer over `links` (the push consumer's, which answer broker requests).
    pub fn with_links(
        group: &str,
        namesrv: Vec<SocketAddr>,
        links: Links,
    ) -> Result<Self, ClientError> {
        if namesrv.is_empty() {
            return Err(ClientError::NoNamesrv);
        }
        Ok(PullConsumer {
            group: group.to_owned(),
            namesrv,
            links,
        })
    }

    /// Builder: signs every request with these ACL keys.
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> Self {
        self.links = self.links.signed(credentials);
        self
    }

    /// The group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The connections.
    pub fn links(&self) -> &Links {
        &self.links
    }

    /// The nameservers.
    pub fn namesrv(&self) -> &[SocketAddr] {
        &self.namesrv
    }

    /// A topic's readable queues, each on its master or, while the master is gone, a
    /// slave; sorted (fetchSubscribeMessageQueues); empty when no nameserver knows the topic.
    pub async fn queues(&self, topic: &str) -> Result<Vec<QueueAt>, ClientError> {
        let Some(route) = fetch_route(&self.links, &self.namesrv, topic).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (mq, addr) in subscribe_queues(topic, &route) {
            out.push(QueueAt {
                mq,
                addr: resolve(addr)?,
            });
        }
        out.sort();
        Ok(out)
    }

    /// CHECK_CLIENT_CONFIG (46) of a subscription on every broker group of its topic, as
    /// RocketMQ's consumer does at start for anything but tags: a SQL92 expression that
    /// does not compile, or a broker without `enablePropertyFilter`, fails here with the
    /// broker's answer.
    pub async fn check_subscription(&self, sub: &SubscriptionData) -> Result<(), ClientError> {
        let Some(route) = fetch_route(&self.links, &self.namesrv, &sub.topic).await? else {
            return Ok(());
        };
        let body = serde_json::json!({
            "clientID": "",
            "group": self.group,
            "subscriptionData": sub,
        });
        for b in &route.broker_datas {
            let Some(addr) = b.subscribe_addr() else {
                continue;
            };
            let req = request(RequestCode::CHECK_CLIENT_CONFIG, &[])
                .with_body(serde_json::to_vec(&body).unwrap_or_default());
            self.links.call(resolve(addr)?, req).await?;
        }
        Ok(())
    }

    /// Pulls up to `max` messages from `offset`.
    pub async fn pull(
        &self,
        q: &QueueAt,
        sub: &SubscriptionData,
        offset: i64,
        max: i32,
        opts: PullOptions,
    ) -> Result<PullResult, ClientError> {
        let mut sys_flag = 0;
        if opts.suspend_ms.is_some() {
            sys_flag |= PULL_FLAG_SUSPEND;
        }
        if opts.commit_offset.is_some() {
            sys_flag |= PULL_FLAG_COMMIT_OFFSET;
        }
        if !opts.registered {
            sys_flag |= PULL_FLAG_SUBSCRIPTION;
        }
        let (offset_s, max_s, flag_s) = (offset.to_string(), max.to_string(), sys_flag.to_string());
        let queue_id = q.mq.queue_id.to_string();
        let commit = opts.commit_offset.unwrap_or(0).to_string();
        let suspend = opts.suspend_ms.unwrap_or(0).to_string();
        let version = sub.sub_version.to_string();
        let req = request(
            RequestCode::PULL_MESSAGE,
            &[
                ("consumerGroup", &self.group),
                ("topic", &q.mq.topic),
                ("queueId", &queue_id),
                ("queueOffset", &offset_s),
                ("maxMsgNums", &max_s),
                ("sysFlag", &flag_s),
                ("commitOffset", &commit),
                ("suspendTimeoutMillis", &suspend),
                ("subscription", &sub.sub_string),
                ("subVersion", &version),
                ("expressionType", expression_type(sub)),
            ],
        );
        // A parked pull is answered after up to `suspend_ms`: wait that long and more.
        let timeout = self.links.timeout + Duration::from_millis(opts.suspend_ms.unwrap_or(0));
        let r = self.links.request_within(q.addr, req, timeout).await?;
        let status = match ResponseCode::from_code(r.code) {
            Some(ResponseCode::SUCCESS) => PullStatus::Found,
            Some(ResponseCode::PULL_NOT_FOUND) => PullStatus::NoNewMsg,
            Some(ResponseCode::PULL_RETRY_IMMEDIATELY) => PullStatus::NoMatchedMsg,
            Some(ResponseCode::PULL_OFFSET_MOVED) => PullStatus::OffsetIllegal,
            _ => {
                return Err(expect_success(q.addr, r)
                    .err()
                    .unwrap_or(ClientError::NoNamesrv))
            }
        };
        let h =
            PullMessageResponseHeader::from_ext(&r.ext).map_err(|e| ClientError::BadResponse {
                addr: q.addr.to_string(),
                reason: e.to_string(),
            })?;
        let mut messages = Vec::new();
        let mut next_begin_offset = h.next_begin_offset;
        if status == PullStatus::Found {
            let (decoded, complete) = decode_pull_body(&r.body);
            if !complete {
                // Never step past what was not delivered: continue after the last good one.
                next_begin_offset = decoded.last().map_or(offset, |m| m.queue_offset + 1);
                tracing::error!(
                    "{} returned a record that does not parse in {} queue {} after offset {}",
                    q.addr,
                    q.mq.topic,
                    q.mq.queue_id,
                    next_begin_offset
                );
            }
            messages = decoded;
            if !sub.takes_all() {
                messages.retain(|m| sub.tags_set.contains(&m.tags));
            }
        }
        Ok(PullResult {
            status,
            next_begin_offset,
            min_offset: h.min_offset,
            max_offset: h.max_offset,
            messages,
        })
    }

    /// The group's committed offset of a queue, `None` when it has none (14).
    pub async fn committed(&self, q: &QueueAt) -> Result<Option<i64>, ClientError> {
        let queue_id = q.mq.queue_id.to_string();
        let req = request(
            RequestCode::QUERY_CONSUMER_OFFSET,
            &[
                ("consumerGroup", &self.group),
                ("topic", &q.mq.topic),
                ("queueId", &queue_id),
            ],
        );
        let r = self.links.request(q.addr, req).await?;
        if r.code == ResponseCode::QUERY_NOT_FOUND.code() {
            return Ok(None);
        }
        let r = expect_success(q.addr, r)?;
        offset_of(q.addr, &r).map(Some)
    }

    /// Commits the group's offset of a queue (15).
    pub async fn commit(&self, q: &QueueAt, offset: i64) -> Result<(), ClientError> {
        let (queue_id, offset) = (q.mq.queue_id.to_string(), offset.to_string());
        let req = request(
            RequestCode::UPDATE_CONSUMER_OFFSET,
            &[
                ("consumerGroup", &self.group),
                ("topic", &q.mq.topic),
                ("queueId", &queue_id),
                ("commitOffset", &offset),
            ],
        );
        self.links.call(q.addr, req).await.map(drop)
    }

    async fn queue_offset(
        &self,
        code: RequestCode,
        q: &QueueAt,
        extra: Option<(&str, &str)>,
    ) -> Result<i64, ClientError> {
        let queue_id = q.mq.queue_id.to_string();
        let mut ext = vec![("topic", q.mq.topic.as_str()), ("queueId", &queue_id)];
        ext.extend(extra);
        let r = self.links.call(q.addr, request(code, &ext)).await?;
        offset_of(q.addr, &r)
    }

    /// The queue's next offset to be written (30).
    pub async fn max_offset(&self, q: &QueueAt) -> Result<i64, ClientError> {
        self.queue_offset(RequestCode::GET_MAX_OFFSET, q, None)
            .await
    }

    /// The queue's first kept offset (31).
    pub async fn min_offset(&self, q: &QueueAt) -> Result<i64, ClientError> {
        self.queue_offset(RequestCode::GET_MIN_OFFSET, q, None)
            .await
    }

    /// The first offset stored at or after `timestamp_ms` (29).
    pub async fn offset_at(&self, q: &QueueAt, timestamp_ms: i64) -> Result<i64, ClientError> {
        let ts = timestamp_ms.to_string();
        self.queue_offset(
            RequestCode::SEARCH_OFFSET_BY_TIMESTAMP,
            q,
            Some(("timestamp", &ts)),
        )
        .await
    }
}

/// The header's expressionType: TAG unless the subscription says otherwise.
fn expression_type(sub: &SubscriptionData) -> &str {
    if sub.expression_type.is_empty() {
        "TAG"
    } else {
        &sub.expression_type
    }
}
