//! QueryRoute and QueryAssignment: the queues of a topic on this broker group, with the
//! gRPC endpoint clients should use.
//!
//! Only the master is advertised (the Node SDK picks queue 0 of every entry, slaves
//! included), and each queue's permission follows the topic's read/write queue counts.
//! A topic's accepted message types come from its `message.type` attribute; a topic
//! without one (made by 4.x tools) accepts every type, as 4.x did.

use std::net::IpAddr;
use std::rc::Rc;

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
    let scheme = match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => v2::AddressScheme::IPv4,
        Ok(IpAddr::V6(_)) => v2::AddressScheme::IPv6,
        Err(_) => v2::AddressScheme::DomainName,
    };
    v2::Endpoints {
        scheme: scheme as i32,
        addresses: vec![v2::Address {
            host,
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
    let permission = match (read, write) {
        (true, true) => v2::Permission::ReadWrite,
        (true, false) => v2::Permission::Read,
        (false, true) => v2::Permission::Write,
        (false, false) => v2::Permission::None,
    };
    v2::MessageQueue {
        topic: Some(v2::Resource {
            resource_namespace: String::new(),
            name: t.topic_name.clone(),
        }),
        id,
        permission: permission as i32,
        broker: Some(broker(call)),
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

/// QueryRoute: one entry per queue of the topic.
pub async fn query_route(call: Rc<Call>, req: v2::QueryRouteRequest) -> v2::QueryRouteResponse {
    let t = match name_of(&req.topic, "topic").and_then(|n| topic(&call, &n)) {
        Ok(t) => t,
        Err(s) => {
            return v2::QueryRouteResponse {
                status: Some(s),
                message_queues: Vec::new(),
            }
        }
    };
    let types: Vec<i32> = accepted_types(&t).into_iter().map(|m| m as i32).collect();
    let n = t.read_queue_nums.max(t.write_queue_nums);
    v2::QueryRouteResponse {
        status: ok(),
        message_queues: (0..n).map(|id| queue(&call, &t, id, &types)).collect(),
    }
}

/// QueryAssignment (push consumers): the broker as one assignment (a receive takes from
/// every queue here); a FIFO topic's queues one by one.
pub async fn query_assignment(
    call: Rc<Call>,
    req: v2::QueryAssignmentRequest,
) -> v2::QueryAssignmentResponse {
    let t = match name_of(&req.topic, "topic")
        .and_then(|n| name_of(&req.group, "group").map(|_| n))
        .and_then(|n| topic(&call, &n))
    {
        Ok(t) => t,
        Err(s) => {
            return v2::QueryAssignmentResponse {
                status: Some(s),
                assignments: Vec::new(),
            }
        }
    };
    let types: Vec<i32> = accepted_types(&t).into_iter().map(|m| m as i32).collect();
    let assign = |id| v2::Assignment {
        message_queue: Some(queue(&call, &t, id, &types)),
    };
    let assignments = if accepted_types(&t) == [v2::MessageType::Fifo] {
        (0..t.read_queue_nums).map(assign).collect()
    } else {
        let mut one = assign(0);
        if let Some(q) = one.message_queue.as_mut() {
            q.id = -1;
            q.permission = v2::Permission::ReadWrite as i32;
        }
        vec![one]
    };
    if t.perm & perm::READ == 0 {
        return v2::QueryAssignmentResponse {
            status: status(
                v2::Code::Forbidden,
                format!("topic {} is not readable", t.topic_name),
            ),
            assignments: Vec::new(),
        };
    }
    v2::QueryAssignmentResponse {
        status: ok(),
        assignments,
    }
}
