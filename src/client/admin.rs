//! The admin API (what mqadmin's commands call): nameserver queries with failover, and the
//! broker's admin requests, decoded into plain data.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use super::message::{decode_pull_body, Received};
use super::rpc::{expect_success, fetch_route, request, resolve, Links};
use super::ClientError;
use crate::protocol::acl_signature::Credentials;
use crate::protocol::body::client::{
    ConsumerConnection, MessageQueue, ProducerConnection, SubscriptionGroupConfig,
    SubscriptionGroupWrapper,
};
use crate::protocol::body::consumer_calls::{ConsumeMessageDirectlyResult, ProcessQueueInfo};
use crate::protocol::body::fastjson::object_keyed_entries;
use crate::protocol::body::stats::{OffsetWrapper, TopicOffset};
use crate::protocol::body::{
    from_json_lenient, to_json, ClusterInfo, KvTable, TopicConfig, TopicList, TopicRouteData,
};
use crate::protocol::header::broker::UNIQUE_MSG_QUERY_FLAG;
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};

/// An admin session: nameservers and the connections it opened.
pub struct AdminClient {
    namesrv: Vec<SocketAddr>,
    links: Links,
    credentials: Option<Credentials>,
}

fn decode<T: serde::de::DeserializeOwned>(addr: &str, body: &[u8]) -> Result<T, ClientError> {
    from_json_lenient(body).map_err(|reason| ClientError::BadResponse {
        addr: addr.to_owned(),
        reason,
    })
}

/// How long the admin waits for a call the broker relays to a consumer: longer than the
/// broker waits for the client, so the broker's own answer (a timeout code) arrives.
fn relayed_call_timeout() -> Duration {
    Duration::from_millis(
        crate::broker::handlers::CALL_CONSUMER_TIMEOUT_MS + RELAYED_CALL_MARGIN_MS,
    )
}

/// What the admin adds to the broker's wait for a relayed call (RocketMQ's admin waits
/// 3 × its 5 s timeout for the broker's 10 s).
const RELAYED_CALL_MARGIN_MS: u64 = 5_000;

/// The `offset` field of an offset answer.
fn offset_of(addr: &str, r: &RemotingCommand) -> Result<i64, ClientError> {
    r.ext
        .get("offset")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ClientError::BadResponse {
            addr: addr.to_owned(),
            reason: "no offset in the answer".into(),
        })
}

/// Reads a fastjson map keyed by MessageQueue objects.
fn queue_map<T: serde::de::DeserializeOwned>(
    addr: &str,
    v: &Value,
) -> Result<Vec<(MessageQueue, T)>, ClientError> {
    let mut out = object_keyed_entries::<MessageQueue, T>(v)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| ClientError::BadResponse {
            addr: addr.to_owned(),
            reason: format!("queue {reason}"),
        })?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

impl AdminClient {
    /// A session with these nameservers.
    pub fn new(namesrv: Vec<SocketAddr>) -> Result<Self, ClientError> {
        if namesrv.is_empty() {
            return Err(ClientError::NoNamesrv);
        }
        Ok(AdminClient {
            namesrv,
            links: Links::default(),
            credentials: None,
        })
    }

    /// Builder: signs every request with these ACL keys.
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> Self {
        self.links = self.links.signed(credentials.clone());
        self.credentials = credentials;
        self
    }

    /// The keys this session signs with, for the producers and pull consumers the admin
    /// commands make (resend, queryMsgByOffset, lag by store time).
    pub fn credentials(&self) -> Option<Credentials> {
        self.credentials.clone()
    }

    /// The nameservers.
    pub fn namesrv(&self) -> &[SocketAddr] {
        &self.namesrv
    }

    async fn namesrv_call(&self, req: RemotingCommand) -> Result<RemotingCommand, ClientError> {
        self.links.request_any(&self.namesrv, req).await
    }

    pub(super) async fn broker_call(
        &self,
        addr: &str,
        req: RemotingCommand,
    ) -> Result<RemotingCommand, ClientError> {
        self.links.call(resolve(addr)?, req).await
    }

    /// Every cluster and broker group (106).
    pub async fn cluster_info(&self) -> Result<ClusterInfo, ClientError> {
        let r = self
            .namesrv_call(request(RequestCode::GET_BROKER_CLUSTER_INFO, &[]))
            .await?;
        let r = expect_success(self.namesrv[0], r)?;
        decode("nameserver", &r.body)
    }

    /// A topic's route; `None` when the nameserver knows no such topic (105).
    pub async fn topic_route(&self, topic: &str) -> Result<Option<TopicRouteData>, ClientError> {
        fetch_route(&self.links, &self.namesrv, topic).await
    }

    /// Every topic the nameservers know (206).
    pub async fn topic_list(&self) -> Result<Vec<String>, ClientError> {
        let r = self
            .namesrv_call(request(
                RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
                &[],
            ))
            .await?;
        let r = expect_success(self.namesrv[0], r)?;
        let mut l: TopicList = decode("nameserver", &r.body)?;
        l.topic_list.sort();
        Ok(l.topic_list)
    }

    /// Removes a topic's route from every nameserver (216).
    pub async fn delete_topic_in_namesrv(
        &self,
        topic: &str,
        cluster: &str,
    ) -> Result<(), ClientError> {
        for ns in &self.namesrv {
            let req = request(
                RequestCode::DELETE_TOPIC_IN_NAMESRV,
                &[("topic", topic), ("clusterName", cluster)],
            );
            self.links.call(*ns, req).await?;
        }
        Ok(())
    }

    /// A broker's replication status (907).
    pub async fn ha_status(
        &self,
        addr: &str,
    ) -> Result<crate::protocol::body::ha::HaRuntimeInfo, ClientError> {
        let r = self
            .broker_call(addr, request(RequestCode::GET_BROKER_HA_STATUS, &[]))
            .await?;
        decode(addr, &r.body)
    }

    /// A broker's runtime table (28).
    pub async fn runtime_info(&self, addr: &str) -> Result<BTreeMap<String, String>, ClientError> {
        let r = self
            .broker_call(addr, request(RequestCode::GET_BROKER_RUNTIME_INFO, &[]))
            .await?;
        let t: KvTable = decode(addr, &r.body)?;
        Ok(t.table)
    }

    /// A topic's queues on one broker (202).
    pub async fn topic_stats(
        &self,
        addr: &str,
        topic: &str,
    ) -> Result<Vec<(MessageQueue, TopicOffset)>, ClientError> {
        let r = self
            .broker_call(
                addr,
                request(RequestCode::GET_TOPIC_STATS_INFO, &[("topic", topic)]),
            )
            .await?;
        let v: Value = decode(addr, &r.body)?;
        queue_map(addr, &v["offsetTable"])
    }

    /// Creates or updates a topic on one broker (17).
    pub async fn create_topic(&self, addr: &str, t: &TopicConfig) -> Result<(), ClientError> {
        let (r, w, p) = (
            t.read_queue_nums.to_string(),
            t.write_queue_nums.to_string(),
            t.perm.to_string(),
        );
        let attrs = crate::protocol::topic_attributes::encode(&t.attributes);
        let mut req = request(
            RequestCode::UPDATE_AND_CREATE_TOPIC,
            &[
                ("topic", &t.topic_name),
                ("defaultTopic", "TBW102"),
                ("readQueueNums", &r),
                ("writeQueueNums", &w),
                ("perm", &p),
                ("topicFilterType", &t.topic_filter_type),
                ("topicSysFlag", &t.topic_sys_flag.to_string()),
                ("order", if t.order { "true" } else { "false" }),
            ],
        );
        if !attrs.is_empty() {
            req.ext.insert("attributes", &attrs);
        }
        self.broker_call(addr, req).await.map(|_| ())
    }

    /// Deletes a topic on one broker (215).
    pub async fn delete_topic_in_broker(&self, addr: &str, topic: &str) -> Result<(), ClientError> {
        self.broker_call(
            addr,
            request(RequestCode::DELETE_TOPIC_IN_BROKER, &[("topic", topic)]),
        )
        .await
        .map(|_| ())
    }

    /// A group's progress on one broker (208).
    pub async fn consume_stats(
        &self,
        addr: &str,
        group: &str,
        topic: Option<&str>,
    ) -> Result<(Vec<(MessageQueue, OffsetWrapper)>, f64), ClientError> {
        let mut ext = vec![("consumerGroup", group)];
        if let Some(t) = topic {
            ext.push(("topic", t));
        }
        let r = self
            .broker_call(addr, request(RequestCode::GET_CONSUME_STATS, &ext))
            .await?;
        let v: Value = decode(addr, &r.body)?;
        Ok((
            queue_map(addr, &v["offsetTable"])?,
            v["consumeTps"].as_f64().unwrap_or(0.0),
        ))
    }

    /// Every group's progress on one broker (317): (group, queue, offsets) and the total lag.
    pub async fn broker_consume_stats(
        &self,
        addr: &str,
        only_order: bool,
    ) -> Result<(Vec<(String, MessageQueue, OffsetWrapper)>, i64), ClientError> {
        let order = if only_order { "true" } else { "false" };
        let r = self
            .broker_call(
                addr,
                request(RequestCode::GET_BROKER_CONSUME_STATS, &[("isOrder", order)]),
            )
            .await?;
        let v: Value = decode(addr, &r.body)?;
        let mut rows = Vec::new();
        for entry in v["consumeStatsList"].as_array().into_iter().flatten() {
            for (group, stats) in entry.as_object().into_iter().flatten() {
                for s in stats.as_array().into_iter().flatten() {
                    for (mq, w) in queue_map::<OffsetWrapper>(addr, &s["offsetTable"])? {
                        rows.push((group.clone(), mq, w));
                    }
                }
            }
        }
        Ok((rows, v["totalDiff"].as_i64().unwrap_or(0)))
    }

    /// The live group's connections on one broker (203); `None` when offline.
    pub async fn consumer_connection(
        &self,
        addr: &str,
        group: &str,
    ) -> Result<Option<ConsumerConnection>, ClientError> {
        let req = request(
            RequestCode::GET_CONSUMER_CONNECTION_LIST,
            &[("consumerGroup", group)],
        );
        let r = self.links.request(resolve(addr)?, req).await?;
        if r.code == ResponseCode::CONSUMER_NOT_ONLINE.code() {
            return Ok(None);
        }
        let r = expect_success(resolve(addr)?, r)?;
        decode(addr, &r.body).map(Some)
    }

    /// What one live consumer reports through a broker (307): the queues it owns now and
    /// their state.
    pub async fn consumer_running_info(
        &self,
        addr: &str,
        group: &str,
        client_id: &str,
    ) -> Result<Vec<(MessageQueue, ProcessQueueInfo)>, ClientError> {
        let req = request(
            RequestCode::GET_CONSUMER_RUNNING_INFO,
            &[
                ("consumerGroup", group),
                ("clientId", client_id),
                ("jstackEnable", "false"),
            ],
        );
        let a = resolve(addr)?;
        let r = expect_success(
            a,
            self.links
                .request_within(a, req, relayed_call_timeout())
                .await?,
        )?;
        let v: Value = decode(addr, &r.body)?;
        queue_map(addr, &v["mqTable"])
    }

    /// Has the consumer `client_id` of `group` consume the message `msg_id` stored on
    /// `addr` (309, relayed by that broker).
    pub async fn consume_message_directly(
        &self,
        addr: SocketAddr,
        group: &str,
        client_id: &str,
        msg_id: &str,
    ) -> Result<ConsumeMessageDirectlyResult, ClientError> {
        let req = request(
            RequestCode::CONSUME_MESSAGE_DIRECTLY,
            &[
                ("consumerGroup", group),
                ("clientId", client_id),
                ("msgId", msg_id),
            ],
        );
        let r = self
            .links
            .request_within(addr, req, relayed_call_timeout())
            .await?;
        let r = expect_success(addr, r)?;
        decode(&addr.to_string(), &r.body)
    }

    /// A producer group's connections on one broker (204); `None` when it has none.
    pub async fn producer_connection(
        &self,
        addr: &str,
        group: &str,
    ) -> Result<Option<ProducerConnection>, ClientError> {
        let req = request(
            RequestCode::GET_PRODUCER_CONNECTION_LIST,
            &[("producerGroup", group)],
        );
        let r = self.links.request(resolve(addr)?, req).await?;
        if r.code == ResponseCode::SYSTEM_ERROR.code() {
            // The broker's answer for a group with no live producer.
            return Ok(None);
        }
        let r = expect_success(resolve(addr)?, r)?;
        decode(addr, &r.body).map(Some)
    }

    /// Takes (`add` false) or gives back (`add` true) the write permission of a broker
    /// group's topics on one nameserver (205 / 327); the number of topics changed.
    pub async fn write_perm(
        &self,
        namesrv: SocketAddr,
        broker_name: &str,
        add: bool,
    ) -> Result<i64, ClientError> {
        let (code, count_key) = if add {
            (RequestCode::ADD_WRITE_PERM_OF_BROKER, "addTopicCount")
        } else {
            (RequestCode::WIPE_WRITE_PERM_OF_BROKER, "wipeTopicCount")
        };
        let r = self
            .links
            .call(namesrv, request(code, &[("brokerName", broker_name)]))
            .await?;
        r.ext
            .get(count_key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ClientError::BadResponse {
                addr: namesrv.to_string(),
                reason: format!("no {count_key} in the answer"),
            })
    }

    /// Asks a broker to reset a group's offsets on a topic to `timestamp` (-1: the end)
    /// through its live consumers (222): the offsets per queue, or `None` when no consumer
    /// of the group is online there.
    pub async fn reset_offset_by_time(
        &self,
        addr: &str,
        topic: &str,
        group: &str,
        timestamp: i64,
        force: bool,
    ) -> Result<Option<Vec<(MessageQueue, i64)>>, ClientError> {
        let (ts, force) = (timestamp.to_string(), force.to_string());
        let req = request(
            RequestCode::INVOKE_BROKER_TO_RESET_OFFSET,
            &[
                ("topic", topic),
                ("group", group),
                ("timestamp", &ts),
                ("isForce", &force),
            ],
        );
        let r = self.links.request(resolve(addr)?, req).await?;
        if r.code == ResponseCode::CONSUMER_NOT_ONLINE.code() {
            return Ok(None);
        }
        let r = expect_success(resolve(addr)?, r)?;
        let v: Value = decode(addr, &r.body)?;
        queue_map(addr, &v["offsetTable"]).map(Some)
    }

    /// The first offset of a queue stored at or after `timestamp` (29).
    pub async fn search_offset(
        &self,
        addr: &str,
        topic: &str,
        queue_id: i32,
        timestamp: i64,
    ) -> Result<i64, ClientError> {
        let (q, ts) = (queue_id.to_string(), timestamp.to_string());
        let r = self
            .broker_call(
                addr,
                request(
                    RequestCode::SEARCH_OFFSET_BY_TIMESTAMP,
                    &[("topic", topic), ("queueId", &q), ("timestamp", &ts)],
                ),
            )
            .await?;
        offset_of(addr, &r)
    }

    /// Writes a group's offset for one queue (15).
    pub async fn update_consumer_offset(
        &self,
        addr: &str,
        group: &str,
        mq: &MessageQueue,
        offset: i64,
    ) -> Result<(), ClientError> {
        let (q, o) = (mq.queue_id.to_string(), offset.to_string());
        let req = request(
            RequestCode::UPDATE_CONSUMER_OFFSET,
            &[
                ("consumerGroup", group),
                ("topic", &mq.topic),
                ("queueId", &q),
                ("commitOffset", &o),
            ],
        );
        self.broker_call(addr, req).await.map(|_| ())
    }

    /// Groups consuming a topic on one broker (300).
    pub async fn consumed_by(
        &self,
        addr: &str,
        topic: &str,
    ) -> Result<BTreeSet<String>, ClientError> {
        let r = self
            .broker_call(
                addr,
                request(RequestCode::QUERY_TOPIC_CONSUME_BY_WHO, &[("topic", topic)]),
            )
            .await?;
        let v: Value = decode(addr, &r.body)?;
        Ok(v["groupList"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect())
    }

    /// A broker's effective config as properties text (26).
    pub async fn broker_config(&self, addr: &str) -> Result<String, ClientError> {
        let r = self
            .broker_call(addr, request(RequestCode::GET_BROKER_CONFIG, &[]))
            .await?;
        Ok(String::from_utf8_lossy(&r.body).into_owned())
    }

    /// Creates or updates a subscription group on one broker (200).
    pub async fn upsert_group(
        &self,
        addr: &str,
        cfg: &SubscriptionGroupConfig,
    ) -> Result<(), ClientError> {
        let req =
            request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, &[]).with_body(to_json(cfg));
        self.broker_call(addr, req).await.map(drop)
    }

    /// Every subscription group's config on one broker (201).
    pub async fn subscription_groups(
        &self,
        addr: &str,
    ) -> Result<BTreeMap<String, SubscriptionGroupConfig>, ClientError> {
        let r = self
            .broker_call(
                addr,
                request(RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG, &[]),
            )
            .await?;
        let w: SubscriptionGroupWrapper = decode(addr, &r.body)?;
        Ok(w.subscription_group_table)
    }

    /// Deletes a subscription group on one broker (207), and its offsets when asked.
    pub async fn delete_group(
        &self,
        addr: &str,
        group: &str,
        remove_offset: bool,
    ) -> Result<(), ClientError> {
        let remove = if remove_offset { "true" } else { "false" };
        let req = request(
            RequestCode::DELETE_SUBSCRIPTIONGROUP,
            &[("groupName", group), ("removeOffset", remove)],
        );
        self.broker_call(addr, req).await.map(drop)
    }

    /// One nameserver's effective config as properties text (319).
    pub async fn namesrv_config(&self, namesrv: SocketAddr) -> Result<String, ClientError> {
        let r = self
            .links
            .call(namesrv, request(RequestCode::GET_NAMESRV_CONFIG, &[]))
            .await?;
        Ok(String::from_utf8_lossy(&r.body).into_owned())
    }

    /// Changes nameserver config keys at run time on one nameserver (318).
    pub async fn update_namesrv_config(
        &self,
        namesrv: SocketAddr,
        changes: &[(&str, &str)],
    ) -> Result<(), ClientError> {
        let req = request(RequestCode::UPDATE_NAMESRV_CONFIG, &[])
            .with_body(properties_text(changes).into_bytes());
        self.links.call(namesrv, req).await.map(drop)
    }

    /// Changes broker config keys at run time (25): a properties text body.
    pub async fn update_broker_config(
        &self,
        addr: &str,
        changes: &[(&str, &str)],
    ) -> Result<(), ClientError> {
        let req = request(RequestCode::UPDATE_BROKER_CONFIG, &[])
            .with_body(properties_text(changes).into_bytes());
        self.broker_call(addr, req).await.map(drop)
    }

    /// The stored message at a physical offset of the broker at `addr` (33); what an
    /// offset message id names.
    pub async fn view_message(
        &self,
        addr: SocketAddr,
        offset: i64,
    ) -> Result<Received, ClientError> {
        let offset_s = offset.to_string();
        let req = request(RequestCode::VIEW_MESSAGE_BY_ID, &[("offset", &offset_s)]);
        let r = self.links.call(addr, req).await?;
        decode_pull_body(&r.body)
            .0
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::BadResponse {
                addr: addr.to_string(),
                reason: format!("no message at offset {offset}"),
            })
    }

    /// QUERY_MESSAGE (12) on every broker group of the topic's route (its master, or a
    /// slave when the master fails): records whose key (or, with `unique`, unique key) is
    /// `key`, stored within `[begin, end]` ms, at most `max` per broker. Brokers answering
    /// QUERY_NOT_FOUND add nothing; an error is returned only when no broker answered.
    pub async fn query_message(
        &self,
        topic: &str,
        key: &str,
        max: i32,
        begin: i64,
        end: i64,
        unique: bool,
    ) -> Result<Vec<Received>, ClientError> {
        let route = self
            .topic_route(topic)
            .await?
            .ok_or_else(|| ClientError::Invalid(format!("no route for topic {topic}")))?;
        let (max_s, begin_s, end_s) = (max.to_string(), begin.to_string(), end.to_string());
        let mut ext = vec![
            ("topic", topic),
            ("key", key),
            ("maxNum", max_s.as_str()),
            ("beginTimestamp", begin_s.as_str()),
            ("endTimestamp", end_s.as_str()),
        ];
        if unique {
            ext.push((UNIQUE_MSG_QUERY_FLAG, "true"));
        }
        let mut out = Vec::new();
        let mut last_err = None;
        let mut answered = false;
        for b in &route.broker_datas {
            // The master first, then each slave: the first that answers speaks for the group.
            for addr in b.broker_addrs.values() {
                match self
                    .query_one(addr, request(RequestCode::QUERY_MESSAGE, &ext))
                    .await
                {
                    Ok(msgs) => {
                        answered = true;
                        out.extend(msgs.into_iter().filter(|m| matches_key(m, key, unique)));
                        break;
                    }
                    Err(e) => last_err = Some(e),
                }
            }
        }
        match (answered, last_err) {
            (false, Some(e)) => Err(e),
            _ => Ok(out),
        }
    }

    async fn query_one(
        &self,
        addr: &str,
        req: RemotingCommand,
    ) -> Result<Vec<Received>, ClientError> {
        let a = resolve(addr)?;
        let r = self.links.request(a, req).await?;
        if r.code == ResponseCode::QUERY_NOT_FOUND.code() {
            return Ok(Vec::new());
        }
        let r = expect_success(a, r)?;
        Ok(decode_pull_body(&r.body).0)
    }
}

/// The client-side check RocketMQ's admin makes too: the broker's index is a hash, so an
/// answer is kept only when its unique id, or one of its keys, is the key asked for.
fn matches_key(m: &Received, key: &str, unique: bool) -> bool {
    if unique {
        m.msg_id == key
    } else {
        m.keys.split(' ').any(|k| k == key)
    }
}

/// `key=value` lines, the body of a config update (25, 318).
fn properties_text(changes: &[(&str, &str)]) -> String {
    changes.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}
