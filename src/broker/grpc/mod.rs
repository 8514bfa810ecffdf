//! RocketMQ 5's gRPC service (`apache.rocketmq.v2.MessagingService`) served by the broker
//! itself on every shard, so the official 5.x SDKs need no proxy.
//!
//! Each shard accepts on `grpcServerPort` (SO_REUSEPORT, like the remoting port) and
//! runs hyper's HTTP/2 server on its own executor; an RPC is served on the core holding
//! its connection and reaches the queue owners through the router, like a remoting
//! request. gRPC's framing and trailers are ours (`protocol::grpc`), HTTP/2 is hyper's.
//!
//! - [`server`]: listener, connections, the path → RPC dispatch and request decoding.
//! - [`route`]: QueryRoute, QueryAssignment; [`telemetry`]: the settings stream;
//!   [`send`]: SendMessage; [`receive`]: ReceiveMessage; [`ack`]: AckMessage,
//!   ChangeInvisibleDuration, ForwardMessageToDeadLetterQueue; [`renewal`]: push
//!   consumers' leases kept alive while they are; [`convert`]: a stored
//!   record as a gRPC `Message`; [`acl`]: plain ACL on calls; [`clients`]: the gRPC clients seen on this core.

pub mod ack;
pub mod acl;
pub mod body;
pub mod clients;
pub mod convert;
pub mod peers;
pub mod receive;
pub mod renewal;
pub mod route;
pub mod send;
pub mod server;
pub mod telemetry;

use crate::protocol::grpc::v2;

/// A `Status` with `code` and a message naming what was wrong.
pub fn status(code: v2::Code, message: impl Into<String>) -> Option<v2::Status> {
    Some(v2::Status {
        code: code as i32,
        message: message.into(),
    })
}

/// The OK status.
pub fn ok() -> Option<v2::Status> {
    status(v2::Code::Ok, "OK")
}

/// A resource's name, or the error naming the missing field.
pub fn name_of(r: &Option<v2::Resource>, field: &str) -> Result<String, v2::Status> {
    match r {
        Some(r) if !r.name.is_empty() => Ok(r.name.clone()),
        _ => Err(v2::Status {
            code: v2::Code::BadRequest as i32,
            message: format!("{field} is missing"),
        }),
    }
}

/// A protobuf duration in milliseconds (negative clamps to 0).
pub fn duration_ms(d: &Option<prost_types::Duration>) -> Option<i64> {
    d.as_ref()
        .map(|d| (d.seconds.saturating_mul(1000) + i64::from(d.nanos) / 1_000_000).max(0))
}

/// Milliseconds as a protobuf duration.
pub fn ms_duration(ms: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: ms / 1000,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

/// Milliseconds since the epoch as a protobuf timestamp.
pub fn ms_timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}
