//! coremq's RocketMQ client (issue #6, in progress): an ordinary RocketMQ client on glommio
//! that drives `coremq admin` and the tests, and must behave against Apache RocketMQ as it
//! does against coremq.
//!
//! - [`rpc`]: connections by address, reconnected on demand, with nameserver failover.
//! - [`admin`]: the admin API `coremq admin` prints tables from; [`admin_acl`] its ACL part.
//! - [`producer`]: routes, queue choice, retries, ordered sends.
//! - [`pull_consumer`]: pulls by queue and offset, offsets by hand.
//! - [`consumer`]: the push consumer (rebalance, flow control, retries, orderly locks).

pub mod admin;
pub mod admin_acl;
pub mod allocate;
pub mod consumer;
pub mod error;
pub mod message;
pub mod producer;
pub mod pull_consumer;
pub mod request_reply;
pub mod rpc;
pub mod transaction;

pub use error::ClientError;

/// A client id as RocketMQ's clients form it, `ip@instance`, with this process's id as the
/// instance (RocketMQ's default) and an optional suffix for several clients in a process.
pub fn client_id(suffix: &str) -> String {
    format!(
        "{}@{}{suffix}",
        crate::broker::placement::local_ipv4(),
        std::process::id()
    )
}
