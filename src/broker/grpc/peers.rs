//! The other broker groups of a topic, for QueryRoute and QueryAssignment: a RocketMQ 5
//! client connected to any broker is given every group's queues, each with that group's
//! own gRPC endpoint, so it sends to and receives from each master directly (no proxy
//! hop between brokers).
//!
//! The nameserver gives the topic's groups and masters; each master's gRPC endpoint comes
//! from its own config (GET_BROKER_CONFIG: `grpcAdvertisedAddress`, else its address's
//! host with `grpcServerPort`). Both are cached per shard for [`PEER_ROUTE_TTL_MS`], the
//! SDKs' own route refresh, so a route query costs no remote call in the steady state. A
//! group that cannot be asked, or serves no gRPC (a 4.x broker, `grpcServerPort=0`), is
//! left out: clients still get this group's queues.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use crate::broker::shard::Shard;
use crate::client::rpc::{expect_success, fetch_route, request, Links};
use crate::protocol::body::TopicRouteData;
use crate::protocol::codes::RequestCode;

/// How long a topic's route and a master's endpoint are reused.
pub const PEER_ROUTE_TTL_MS: i64 = 30_000;
/// Longest wait for the nameserver or a peer master.
pub const PEER_REQUEST_TIMEOUT_MS: u64 = 3_000;

/// Another broker group's share of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerQueues {
    /// Broker group name.
    pub broker_name: String,
    /// Its master's gRPC endpoint.
    pub host: String,
    /// Its master's gRPC port.
    pub port: u16,
    /// Queues consumers read.
    pub read_queue_nums: i32,
    /// Queues producers write.
    pub write_queue_nums: i32,
    /// The topic's permission bits there.
    pub perm: i32,
}

/// A host and gRPC port.
type Endpoint = (String, u16);

/// A cached answer with the time (ms) it was fetched; `None` is a remembered miss.
type Cached<T> = (i64, Option<T>);

/// A shard's cache of peer routes and endpoints.
pub struct Peers {
    links: Links,
    routes: RefCell<HashMap<String, Cached<TopicRouteData>>>,
    endpoints: RefCell<HashMap<String, Cached<Endpoint>>>,
}

impl Default for Peers {
    fn default() -> Self {
        Self {
            links: Links::with_timeout(Duration::from_millis(PEER_REQUEST_TIMEOUT_MS)),
            routes: RefCell::default(),
            endpoints: RefCell::default(),
        }
    }
}

/// The gRPC endpoint a broker's config text names, `None` when it serves none.
pub fn endpoint_from_config(master: &str, config: &str) -> Option<(String, u16)> {
    let mut port = None;
    let mut advertised = String::new();
    for e in crate::config::properties::parse(config) {
        match e.key.as_str() {
            "grpcServerPort" => port = e.value.trim().parse::<u16>().ok(),
            "grpcAdvertisedAddress" => advertised = e.value.trim().to_owned(),
            _ => {}
        }
    }
    let port = port.filter(|p| *p > 0)?;
    if let Some((h, p)) = advertised.rsplit_once(':') {
        if let Ok(p) = p.parse::<u16>() {
            return Some((h.to_owned(), p));
        }
    }
    let host = master.parse::<SocketAddr>().ok()?.ip().to_string();
    Some((host, port))
}

impl Peers {
    async fn route(&self, shard: &Shard, topic: &str, now: i64) -> Option<TopicRouteData> {
        if let Some((at, r)) = self.routes.borrow().get(topic) {
            if now - at < PEER_ROUTE_TTL_MS {
                return r.clone();
            }
        }
        let r = match fetch_route(&self.links, &shard.ident.namesrv, topic).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(topic, "no route from the nameserver for gRPC peers: {e}");
                None
            }
        };
        self.routes
            .borrow_mut()
            .insert(topic.to_owned(), (now, r.clone()));
        r
    }

    async fn endpoint(&self, master: &str, now: i64) -> Option<(String, u16)> {
        if let Some((at, e)) = self.endpoints.borrow().get(master) {
            if now - at < PEER_ROUTE_TTL_MS {
                return e.clone();
            }
        }
        let e = match master.parse::<SocketAddr>() {
            Ok(addr) => match self
                .links
                .request(addr, request(RequestCode::GET_BROKER_CONFIG, &[]))
                .await
                .and_then(|r| expect_success(addr, r))
            {
                Ok(r) => endpoint_from_config(master, &String::from_utf8_lossy(&r.body)),
                Err(e) => {
                    tracing::warn!("broker {master} left out of gRPC routes: {e}");
                    None
                }
            },
            Err(_) => None,
        };
        self.endpoints
            .borrow_mut()
            .insert(master.to_owned(), (now, e.clone()));
        e
    }

    /// The topic's queues on the other broker groups that serve gRPC.
    pub async fn of(&self, shard: &Rc<Shard>, topic: &str) -> Vec<PeerQueues> {
        if shard.ident.namesrv.is_empty() {
            return Vec::new();
        }
        let now = crate::clock::now_ms();
        let Some(route) = self.route(shard, topic, now).await else {
            return Vec::new();
        };
        let own = &shard.cfg().broker_name;
        let mut out = Vec::new();
        for q in route.queue_datas.iter().filter(|q| &q.broker_name != own) {
            let Some(master) = route
                .broker_datas
                .iter()
                .find(|b| b.broker_name == q.broker_name)
                .and_then(|b| b.master_addr())
            else {
                continue;
            };
            if let Some((host, port)) = self.endpoint(master, now).await {
                out.push(PeerQueues {
                    broker_name: q.broker_name.clone(),
                    host,
                    port,
                    read_queue_nums: q.read_queue_nums,
                    write_queue_nums: q.write_queue_nums,
                    perm: q.perm,
                });
            }
        }
        out.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_endpoint_is_its_advertised_address_or_its_host_with_the_grpc_port() {
        let m = "10.0.0.7:10911";
        assert_eq!(
            endpoint_from_config(m, "brokerName=b\ngrpcServerPort=8091\n"),
            Some(("10.0.0.7".to_owned(), 8091))
        );
        assert_eq!(
            endpoint_from_config(
                m,
                "grpcServerPort=8091\ngrpcAdvertisedAddress=mq.example:443\n"
            ),
            Some(("mq.example".to_owned(), 443))
        );
        assert_eq!(
            endpoint_from_config(m, "grpcServerPort=0\n"),
            None,
            "gRPC off"
        );
        assert_eq!(
            endpoint_from_config(m, "brokerName=b\n"),
            None,
            "a 4.x broker"
        );
    }
}
