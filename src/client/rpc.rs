//! Request/response over cached connections, one per peer address, on the current glommio
//! executor; a closed connection is replaced on the next call. Nameserver calls fail over
//! to the next address in the list. With credentials, every request is signed here, last,
//! as RocketMQ's `AclClientRPCHook` signs it (nameserver requests too: RocketMQ's clients
//! sign them, and its nameserver ignores the fields).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Duration;

use super::ClientError;
use crate::protocol::acl_signature::{self, Credentials};
use crate::protocol::body::{from_json_lenient, BrokerData, TopicRouteData};
use crate::protocol::{ExtFields, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::{not_supported, Connection, RequestHandler};

/// Default request timeout (RocketMQ's admin default).
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// What a client answers to a request a broker (at the given address) sends it
/// (NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE, ...); `None` means "not supported".
pub type OnRequest = Rc<dyn Fn(SocketAddr, &RemotingCommand) -> Option<RemotingCommand>>;

/// Serves the requests brokers send a client: through the hook if any, else "not supported".
pub struct ClientRequests(Option<OnRequest>);

impl RequestHandler for ClientRequests {
    async fn handle(&self, conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        Some(
            self.0
                .as_ref()
                .and_then(|f| f(conn.peer(), &req))
                .unwrap_or_else(|| not_supported(&req)),
        )
    }
}

/// Resolves `host:port`.
pub fn resolve(addr: &str) -> Result<SocketAddr, ClientError> {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| ClientError::BadAddress(addr.to_owned()))
}

/// Connections by address.
pub struct Links {
    conns: RefCell<HashMap<SocketAddr, Connection>>,
    /// One connect at a time per address: requests that start together share it instead
    /// of each opening (and leaking) a connection.
    connecting: RefCell<HashMap<SocketAddr, Rc<glommio::sync::Semaphore>>>,
    /// The last failed connect per address: requests that waited for it share its error
    /// instead of each trying (and timing out) in turn.
    failed: RefCell<HashMap<SocketAddr, (std::time::Instant, ClientError)>>,
    /// Per-request timeout.
    pub timeout: Duration,
    handler: Rc<ClientRequests>,
    /// ACL keys every request is signed with.
    credentials: Option<Credentials>,
}

impl Drop for Links {
    /// The connections die with their owner (their tasks would otherwise keep them open,
    /// and brokers would still count a client that is gone).
    fn drop(&mut self) {
        for c in self.conns.borrow().values() {
            c.close();
        }
    }
}

impl Default for Links {
    fn default() -> Self {
        Links::with_timeout(Duration::from_millis(DEFAULT_TIMEOUT_MS))
    }
}

impl Links {
    /// No connections yet; requests time out after `timeout`.
    pub fn with_timeout(timeout: Duration) -> Self {
        Links {
            conns: RefCell::default(),
            connecting: RefCell::default(),
            failed: RefCell::default(),
            timeout,
            handler: Rc::new(ClientRequests(None)),
            credentials: None,
        }
    }

    /// Like [`Self::with_timeout`], with `on_request` answering what brokers ask.
    pub fn serving(timeout: Duration, on_request: OnRequest) -> Self {
        Links {
            conns: RefCell::default(),
            connecting: RefCell::default(),
            failed: RefCell::default(),
            timeout,
            handler: Rc::new(ClientRequests(Some(on_request))),
            credentials: None,
        }
    }

    /// Builder: signs every request with `credentials` (plain ACL); `None` signs nothing.
    pub fn signed(mut self, credentials: Option<Credentials>) -> Self {
        self.credentials = credentials;
        self
    }

    fn sign(&self, mut req: RemotingCommand) -> RemotingCommand {
        if let Some(c) = &self.credentials {
            acl_signature::sign(&mut req, c);
        }
        req
    }

    fn open_connection(&self, addr: SocketAddr) -> Option<Connection> {
        self.conns
            .borrow()
            .get(&addr)
            .filter(|c| !c.is_closed())
            .cloned()
    }

    async fn connection(&self, addr: SocketAddr) -> Result<Connection, ClientError> {
        if let Some(c) = self.open_connection(addr) {
            return Ok(c);
        }
        let turn = self
            .connecting
            .borrow_mut()
            .entry(addr)
            .or_insert_with(|| Rc::new(glommio::sync::Semaphore::new(1)))
            .clone();
        let asked = std::time::Instant::now();
        // The semaphore is never closed, so the permit always comes.
        let _permit = turn.acquire_permit(1).await;
        if let Some(c) = self.open_connection(addr) {
            return Ok(c);
        }
        if let Some((at, e)) = self.failed.borrow().get(&addr) {
            if *at >= asked {
                return Err(e.clone());
            }
        }
        match Connection::connect(addr, self.handler.clone(), self.timeout).await {
            Ok(c) => {
                self.failed.borrow_mut().remove(&addr);
                self.conns.borrow_mut().insert(addr, c.clone());
                Ok(c)
            }
            Err(e) => {
                let e = unreachable(addr, e);
                self.failed
                    .borrow_mut()
                    .insert(addr, (std::time::Instant::now(), e.clone()));
                Err(e)
            }
        }
    }

    /// Sends a request and returns the response, whatever its code.
    pub async fn request(
        &self,
        addr: SocketAddr,
        req: RemotingCommand,
    ) -> Result<RemotingCommand, ClientError> {
        self.request_within(addr, req, self.timeout).await
    }

    /// Like [`Self::request`] with its own timeout (a long-polling pull).
    pub async fn request_within(
        &self,
        addr: SocketAddr,
        req: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        let conn = self.connection(addr).await?;
        conn.request(self.sign(req), timeout)
            .await
            .map_err(|e| unreachable(addr, e))
    }

    /// Sends a oneway request (no response expected).
    pub async fn oneway(&self, addr: SocketAddr, req: RemotingCommand) -> Result<(), ClientError> {
        let conn = self.connection(addr).await?;
        conn.oneway(self.sign(req))
            .map_err(|e| unreachable(addr, e))
    }

    /// Like [`Self::request`], but a non-SUCCESS code is an error.
    pub async fn call(
        &self,
        addr: SocketAddr,
        req: RemotingCommand,
    ) -> Result<RemotingCommand, ClientError> {
        expect_success(addr, self.request(addr, req).await?)
    }

    /// Sends to the first nameserver that answers (failover in list order).
    pub async fn request_any(
        &self,
        namesrv: &[SocketAddr],
        req: RemotingCommand,
    ) -> Result<RemotingCommand, ClientError> {
        let mut last = ClientError::NoNamesrv;
        for addr in namesrv {
            match self.request(*addr, req.clone()).await {
                Ok(r) => return Ok(r),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// A request with these header fields.
pub fn request(code: RequestCode, ext: &[(&str, &str)]) -> RemotingCommand {
    let mut e = ExtFields::new();
    for (k, v) in ext {
        e.insert(*k, *v);
    }
    RemotingCommand::request(code.code(), e)
}

/// A topic's route from the first nameserver that answers; `None` when it knows no such
/// topic (TOPIC_NOT_EXIST).
pub async fn fetch_route(
    links: &Links,
    namesrv: &[SocketAddr],
    topic: &str,
) -> Result<Option<TopicRouteData>, ClientError> {
    let req = request(RequestCode::GET_ROUTEINFO_BY_TOPIC, &[("topic", topic)]);
    let r = links.request_any(namesrv, req).await?;
    if r.code == ResponseCode::TOPIC_NOT_EXIST.code() {
        return Ok(None);
    }
    let r = expect_success(namesrv[0], r)?;
    from_json_lenient(&r.body)
        .map(Some)
        .map_err(|reason| ClientError::BadResponse {
            addr: "nameserver".into(),
            reason,
        })
}

/// The queues of a route whose permission has `perm_bit` (read: read queues, write:
/// write queues), each with its broker's master address, in route order; brokers without
/// a master are left out.
pub fn master_queues<'a>(
    topic: &str,
    route: &'a TopicRouteData,
    perm_bit: i32,
) -> Vec<(crate::protocol::body::client::MessageQueue, &'a str)> {
    queues_at(topic, route, perm_bit, BrokerData::master_addr)
}

/// The readable queues of a route, each with the address a consumer pulls it from: the
/// master, or a slave while the master is gone from the route.
pub fn subscribe_queues<'a>(
    topic: &str,
    route: &'a TopicRouteData,
) -> Vec<(crate::protocol::body::client::MessageQueue, &'a str)> {
    queues_at(
        topic,
        route,
        crate::protocol::codes::perm::READ,
        BrokerData::subscribe_addr,
    )
}

fn queues_at<'a>(
    topic: &str,
    route: &'a TopicRouteData,
    perm_bit: i32,
    pick: fn(&BrokerData) -> Option<&str>,
) -> Vec<(crate::protocol::body::client::MessageQueue, &'a str)> {
    let mut out = Vec::new();
    for q in &route.queue_datas {
        if q.perm & perm_bit == 0 {
            continue;
        }
        let Some(addr) = route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == q.broker_name)
            .and_then(pick)
        else {
            continue;
        };
        let count = if perm_bit == crate::protocol::codes::perm::READ {
            q.read_queue_nums
        } else {
            q.write_queue_nums
        };
        for queue_id in 0..count {
            out.push((
                crate::protocol::body::client::MessageQueue {
                    broker_name: q.broker_name.clone(),
                    queue_id,
                    topic: topic.to_owned(),
                },
                addr,
            ));
        }
    }
    out
}

fn unreachable(addr: SocketAddr, e: impl std::fmt::Display) -> ClientError {
    ClientError::Unreachable {
        addr: addr.to_string(),
        reason: e.to_string(),
    }
}

/// The response when SUCCESS, else the error it carries.
pub fn expect_success(
    addr: SocketAddr,
    r: RemotingCommand,
) -> Result<RemotingCommand, ClientError> {
    if r.code == ResponseCode::SUCCESS.code() {
        return Ok(r);
    }
    Err(ClientError::Refused {
        addr: addr.to_string(),
        code: r.code,
        name: r.code_name(),
        remark: r.remark.clone().unwrap_or_default(),
    })
}
