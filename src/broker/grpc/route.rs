//! QueryRoute and QueryAssignment: the queues of a topic on this broker group and on the
//! other groups that serve gRPC ([`super::peers`]), each with the endpoint clients use.
//!
//! Only the master is advertised (the Node SDK picks queue 0 of every entry, slaves
//! included), and each queue's permission follows the topic's read/write queue counts.
//! A topic's accepted message types come from its `message.type` attribute; a topic
//! without one (made by 4.x tools) accepts every type, as 4.x did.

use std::net::IpAddr;
use std::rc::Rc;

use super::peers::PeerQueues;
use super::server::Call;
use super::{name_of, ok, status};
use crate::config::broker::BrokerRole;
use crate::protocol::body::TopicConfig;
use crate::protocol::codes::perm;
use crate::protocol::grpc::v2;

/// The topic attribute holding RocketMQ 5's message type.
pub use crate::protocol::topic_attributes::MESSAGE_TYPE as MESSAGE_TYPE_ATTRIBUTE;

/// The message types a topic takes.
pub fn accepted_types(t: &TopicConfig) -> Vec<v2::MessageType> {
    use v2::MessageType as M;
    let all = vec![M::Normal, M::Fifo, M::Delay, M::Transaction];
    match t
        .attributes
        .get(MESSAGE_TYPE_ATTRIBUTE)
        .map(|v| v.to_ascii_uppercase())
        .as_deref()
    {
        Some("NORMAL") => vec![M::Normal],
        Some("FIFO") => vec![M::Fifo],
        Some("DELAY") => vec![M::Delay],
        Some("TRANSACTION") => vec![M::Transaction],
        _ => all,
    }
}

/// The gRPC endpoint this broker advertises.
pub fn endpoints(call: &Call) -> v2::Endpoints {
    let cfg = call.shard.cfg();
    let (host, port) = match cfg.grpc_advertised_address.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_owned(), p.parse().unwrap_or(0)),
        _ => (
            call.shard.ident.store_host.ip().to_string(),
            cfg.grpc_server_port,
        ),
    };
    endpoints_at(&host, port)
}

fn endpoints_at(host: &str, port: u16) -> v2::Endpoints {
    let scheme = match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => v2::AddressScheme::IPv4,
        Ok(IpAddr::V6(_)) => v2::AddressScheme::IPv6,
        Err(_) => v2::AddressScheme::DomainName,
    };
    v2::Endpoints {
        scheme: scheme as i32,
        addresses: vec![v2::Address {
            host: host.to_owned(),
            port: i32::from(port),
        }],
    }
}

fn broker(call: &Call) -> v2::Broker {
    v2::Broker {
        name: call.shard.cfg().broker_name.clone(),
        id: 0,
        endpoints: Some(endpoints(call)),
    }
}

fn queue(call: &Call, t: &TopicConfig, id: i32, types: &[i32]) -> v2::MessageQueue {
    let broker_perm = call.shard.cfg().broker_permission as i32;
    let read = id < t.read_queue_nums && t.perm & perm::READ != 0 && broker_perm & perm::READ != 0;
    let write =
        id < t.write_queue_nums && t.perm & perm::WRITE != 0 && broker_perm & perm::WRITE != 0;
    queue_entry(&t.topic_name, id, read, write, broker(call), types)
}

/// A queue of another broker group, as the nameserver describes it.
fn peer_queue(topic: &str, p: &PeerQueues, id: i32, types: &[i32]) -> v2::MessageQueue {
    let read = id < p.read_queue_nums && p.perm & perm::READ != 0;
    let write = id < p.write_queue_nums && p.perm & perm::WRITE != 0;
    let b = v2::Broker {
        name: p.broker_name.clone(),
        id: 0,
        endpoints: Some(endpoints_at(&p.host, p.port)),
    };
    queue_entry(topic, id, read, write, b, types)
}

fn queue_entry(
    topic: &str,
    id: i32,
    read: bool,
    write: bool,
    broker: v2::Broker,
    types: &[i32],
) -> v2::MessageQueue {
    let permission = match (read, write) {
        (true, true) => v2::Permission::ReadWrite,
        (true, false) => v2::Permission::Read,
        (false, true) => v2::Permission::Write,
        (false, false) => v2::Permission::None,
    };
    v2::MessageQueue {
        topic: Some(v2::Resource {
            resource_namespace: String::new(),
            name: topic.to_owned(),
        }),
        id,
        permission: permission as i32,
        broker: Some(broker),
        accept_message_types: types.to_vec(),
    }
}

/// The topic's config, or the status naming why there is none to serve.
fn topic(call: &Call, name: &str) -> Result<TopicConfig, v2::Status> {
    if call.shard.cfg().broker_role == BrokerRole::Slave {
        return Err(v2::Status {
            code: v2::Code::Forbidden as i32,
            message: format!(
                "broker {} is a slave: connect RocketMQ 5 clients to its master's gRPC port",
                call.shard.cfg().broker_name
            ),
        });
    }
    call.shard
        .meta
        .borrow()
        .topics
        .get(name)
        .cloned()
        .ok_or_else(|| v2::Status {
            code: v2::Code::TopicNotFound as i32,
            message: format!(
                "topic {name} not found on broker {}",
                call.shard.cfg().broker_name
            ),
        })
}

/// The topic here (if it is) and on the other groups; the status naming why neither has it.
async fn topic_everywhere(
    call: &Call,
    topic_field: &Option<v2::Resource>,
) -> Result<(String, Option<TopicConfig>, Vec<PeerQueues>), v2::Status> {
    let name = name_of(topic_field, "topic")?;
    let here = topic(call, &name);
    if let Err(s) = &here {
        if s.code != v2::Code::TopicNotFound as i32 {
            return Err(s.clone());
        }
    }
    let peers = call.shard.grpc_peers.of(&call.shard, &name).await;
    match here {
        Ok(t) => Ok((name, Some(t), peers)),
        Err(_) if !peers.is_empty() => Ok((name, None, peers)),
        Err(s) => Err(s),
    }
}

/// QueryRoute: one entry per queue of the topic, on every group serving gRPC.
pub async fn query_route(call: Rc<Call>, req: v2::QueryRouteRequest) -> v2::QueryRouteResponse {
    let (name, here, peers) = match topic_everywhere(&call, &req.topic).await {
        Ok(x) => x,
        Err(s) => {
            return v2::QueryRouteResponse {
                status: Some(s),
                message_queues: Vec::new(),
            }
        }
    };
    let types: Vec<i32> = match &here {
        Some(t) => accepted_types(t),
        // Only other groups have it: their attributes are not in the nameserver's route.
        None => accepted_types(&TopicConfig::default()),
    }
    .into_iter()
    .map(|m| m as i32)
    .collect();
    let mut message_queues = Vec::new();
    if let Some(t) = &here {
        let n = t.read_queue_nums.max(t.write_queue_nums);
        message_queues.extend((0..n).map(|id| queue(&call, t, id, &types)));
    }
    for p in &peers {
        let n = p.read_queue_nums.max(p.write_queue_nums);
        message_queues.extend((0..n).map(|id| peer_queue(&name, p, id, &types)));
    }
    v2::QueryRouteResponse {
        status: ok(),
        message_queues,
    }
}

/// QueryAssignment (push consumers): each broker group as one assignment (a receive
/// takes from every queue there); a FIFO topic's queues one by one.
pub async fn query_assignment(
    call: Rc<Call>,
    req: v2::QueryAssignmentRequest,
) -> v2::QueryAssignmentResponse {
    let found = match name_of(&req.group, "group") {
        Ok(_) => topic_everywhere(&call, &req.topic).await,
        Err(s) => Err(s),
    };
    let (name, here, peers) = match found {
        Ok(x) => x,
        Err(s) => {
            return v2::QueryAssignmentResponse {
                status: Some(s),
                assignments: Vec::new(),
            }
        }
    };
    if here.as_ref().is_some_and(|t| t.perm & perm::READ == 0) {
        return v2::QueryAssignmentResponse {
            status: status(v2::Code::Forbidden, format!("topic {name} is not readable")),
            assignments: Vec::new(),
        };
    }
    let types = match &here {
        Some(t) => accepted_types(t),
        None => accepted_types(&TopicConfig::default()),
    };
    let fifo = types == [v2::MessageType::Fifo];
    let types: Vec<i32> = types.into_iter().map(|m| m as i32).collect();
    let mut queues: Vec<Vec<v2::MessageQueue>> = Vec::new();
    if let Some(t) = &here {
        queues.push(
            (0..t.read_queue_nums)
                .map(|id| queue(&call, t, id, &types))
                .collect(),
        );
    }
    for p in peers.iter().filter(|p| p.perm & perm::READ != 0) {
        queues.push(
            (0..p.read_queue_nums)
                .map(|id| peer_queue(&name, p, id, &types))
                .collect(),
        );
    }
    let assignments = queues
        .into_iter()
        .filter(|group| !group.is_empty())
        .flat_map(|group| {
            if fifo {
                group
            } else {
                let mut one = group.into_iter().next().into_iter().collect::<Vec<_>>();
                for q in &mut one {
                    q.id = -1;
                    q.permission = v2::Permission::ReadWrite as i32;
                }
                one
            }
        })
        .map(|q| v2::Assignment {
            message_queue: Some(q),
        })
        .collect();
    v2::QueryAssignmentResponse {
        status: ok(),
        assignments,
    }
}
