//! RocketMQ 5's gRPC protocol (`apache.rocketmq.v2.MessagingService`), as the official
//! SDKs of apache/rocketmq-clients speak it.
//!
//! The messages are generated at build time by prost from the apache/rocketmq-apis protos
//! checked in under `proto/` (see `build.rs`). gRPC's own layer over HTTP/2 is small and
//! written here: the 5-byte length-prefixed message framing ([`framing`]), the
//! `grpc-timeout` header and the status trailers ([`status`]). The HTTP/2 server itself is
//! hyper's.

pub mod framing;
pub mod status;

/// The generated `apache.rocketmq.v2` messages and enums.
#[allow(clippy::all, missing_docs, rustdoc::all)]
pub mod v2 {
    include!(concat!(env!("OUT_DIR"), "/apache.rocketmq.v2.rs"));
}

/// The gRPC service name every RPC path starts with.
pub const SERVICE_PATH_PREFIX: &str = "/apache.rocketmq.v2.MessagingService/";
