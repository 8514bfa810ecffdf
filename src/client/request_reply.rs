//! Request-reply (RocketMQ 4.6+'s `producer.request` and `MessageUtil.createReplyMessage`):
//! a request is an ordinary message carrying `CORRELATION_ID`, `REPLY_TO_CLIENT` (this
//! producer's client id) and `TTL`; the answering consumer sends a reply to
//! `<cluster>_REPLY_TOPIC`, and the broker pushes it to this producer's connection
//! (PUSH_REPLY_MESSAGE_TO_CLIENT), where it is matched to the waiting request.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use glommio::channels::local_channel::{self, LocalSender};

use super::message::{decompressed, Received};
use super::producer::{Message, Producer};
use super::rpc::OnRequest;
use super::ClientError;
use crate::protocol::header::broker::ReplyMessageRequestHeader;
use crate::protocol::properties::{keys, Properties};
use crate::protocol::topics::reply_topic;
use crate::protocol::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};

/// Requests waiting for their reply, by correlation id.
type Waiting = Rc<RefCell<HashMap<String, LocalSender<Received>>>>;

/// A producer that sends requests and waits for their replies.
pub struct Requester {
    producer: Producer,
    waiting: Waiting,
    next_id: Cell<u64>,
}

impl Requester {
    /// A requester in producer group `group`.
    pub fn new(
        group: &str,
        namesrv: Vec<SocketAddr>,
        timeout: Duration,
    ) -> Result<Rc<Self>, ClientError> {
        let waiting: Waiting = Rc::default();
        let on_request: OnRequest = {
            let waiting = waiting.clone();
            Rc::new(move |broker, req: &RemotingCommand| {
                if req.code != RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT.code() {
                    return None;
                }
                Some(match pushed_reply(broker, req) {
                    Ok(reply) => {
                        let id = reply
                            .properties
                            .get(keys::CORRELATION_ID)
                            .unwrap_or_default()
                            .to_owned();
                        // A reply after its request timed out has nobody to go to.
                        if let Some(tx) = waiting.borrow_mut().remove(&id) {
                            let _ = tx.try_send(reply);
                        }
                        req.success()
                    }
                    Err(e) => req.error(ResponseCode::SYSTEM_ERROR, e),
                })
            })
        };
        let mut producer = Producer::serving(group, namesrv, timeout, on_request)?;
        // Replies are pushed to the connection of the requester's client id: one per
        // requester, not one per process.
        static REQUESTERS: AtomicU64 = AtomicU64::new(0);
        producer.set_client_suffix(&format!(
            "-rr{}",
            REQUESTERS.fetch_add(1, Ordering::Relaxed)
        ));
        Ok(Rc::new(Requester {
            producer,
            waiting,
            next_id: Cell::new(0),
        }))
    }

    /// The underlying producer.
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Sends `msg` as a request and waits up to `timeout` for its reply.
    pub async fn request(&self, msg: &Message, timeout: Duration) -> Result<Received, ClientError> {
        let n = self.next_id.get();
        self.next_id.set(n + 1);
        let id = format!(
            "{}-{}-{n}",
            self.producer.client_id(),
            crate::clock::now_ms()
        );
        let mut m = msg.clone();
        m.properties.retain(|(k, _)| {
            ![keys::CORRELATION_ID, keys::REPLY_TO_CLIENT, keys::TTL].contains(&k.as_str())
        });
        m.properties.extend([
            (keys::CORRELATION_ID.to_owned(), id.clone()),
            (
                keys::REPLY_TO_CLIENT.to_owned(),
                self.producer.client_id().to_owned(),
            ),
            (keys::TTL.to_owned(), timeout.as_millis().to_string()),
        ]);
        let (tx, rx) = local_channel::new_bounded(1);
        self.waiting.borrow_mut().insert(id.clone(), tx);
        let waited = async {
            self.producer.send(&m).await?;
            let reply = async { rx.recv().await };
            let late = async {
                glommio::timer::sleep(timeout).await;
                None
            };
            futures_lite::future::or(reply, late)
                .await
                .ok_or_else(|| ClientError::ReplyTimeout {
                    correlation_id: id.clone(),
                    timeout_ms: timeout.as_millis() as u64,
                })
        }
        .await;
        self.waiting.borrow_mut().remove(&id);
        waited
    }

    /// Sends `msg` as a request in the background and calls `done` with its reply.
    pub fn request_async(
        self: &Rc<Self>,
        msg: Message,
        timeout: Duration,
        done: impl FnOnce(Result<Received, ClientError>) + 'static,
    ) {
        let this = self.clone();
        glommio::spawn_local(async move { done(this.request(&msg, timeout).await) }).detach();
    }
}

/// The reply to `request` carrying `body`: to the request's cluster's reply topic, with
/// its correlation id, requester and TTL (send it with any producer).
pub fn create_reply(request: &Received, body: Vec<u8>) -> Result<Message, ClientError> {
    let p = &request.properties;
    let need = |k: &str| {
        p.get(k).map(str::to_owned).ok_or_else(|| {
            ClientError::Invalid(format!(
                "message {} is not a request: it has no {k}",
                request.msg_id
            ))
        })
    };
    let cluster = need(keys::CLUSTER)?;
    let mut properties = vec![
        (keys::CORRELATION_ID.to_owned(), need(keys::CORRELATION_ID)?),
        (
            keys::REPLY_TO_CLIENT.to_owned(),
            need(keys::REPLY_TO_CLIENT)?,
        ),
        (
            keys::MESSAGE_TYPE.to_owned(),
            keys::MESSAGE_TYPE_REPLY.to_owned(),
        ),
    ];
    if let Some(ttl) = p.get(keys::TTL) {
        properties.push((keys::TTL.to_owned(), ttl.to_owned()));
    }
    Ok(Message {
        topic: reply_topic(&cluster),
        tags: None,
        keys: Vec::new(),
        body: body.into(),
        properties,
        flag: 0,
    })
}

/// A pushed reply (326) as a received message.
fn pushed_reply(broker: SocketAddr, req: &RemotingCommand) -> Result<Received, String> {
    let h = ReplyMessageRequestHeader::from_ext(&req.ext).map_err(|e| e.to_string())?;
    let properties = Properties::parse(h.properties.as_deref().unwrap_or_default());
    let body = decompressed(h.sys_flag, &req.body);
    let host = |s: &str| s.parse().unwrap_or(broker);
    Ok(Received {
        topic: h.topic,
        queue_id: h.queue_id,
        queue_offset: -1,
        msg_id: properties
            .get(keys::UNIQ_KEY)
            .unwrap_or_default()
            .to_owned(),
        offset_msg_id: String::new(),
        commit_log_offset: -1,
        reconsume_times: h.reconsume_times.unwrap_or(0),
        tags: properties.get(keys::TAGS).unwrap_or_default().to_owned(),
        keys: properties.get(keys::KEYS).unwrap_or_default().to_owned(),
        properties,
        body,
        born_timestamp: h.born_timestamp,
        store_timestamp: h.store_timestamp,
        store_host: host(&h.store_host),
        born_host: host(&h.born_host),
        sys_flag: h.sys_flag,
        flag: h.flag,
    })
}
