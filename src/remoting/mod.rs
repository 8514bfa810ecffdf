//! Remoting connections on glommio, shared by the nameserver, the broker and the client.
//!
//! [`Connection`] frames a TCP stream with [`crate::protocol::frame`], matches responses to
//! requests by opaque, sends oneway requests, serves the peer's requests through a
//! [`RequestHandler`] and times out requests. [`server`] binds and accepts.

pub mod connection;
pub mod handover;
mod large_frame;
pub(crate) mod oneshot;
pub mod server;
mod write_queue;

#[cfg(test)]
mod handover_tests;
#[cfg(test)]
mod tests;

pub use connection::{not_supported, Connection, ConnectionLimits, RequestHandler};
pub use handover::Detached;

use std::net::SocketAddr;

/// Why a remote call failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RemotingError {
    /// The TCP connection could not be made.
    #[error("connect to {addr} failed: {reason}")]
    Connect {
        /// Target address.
        addr: SocketAddr,
        /// OS error text.
        reason: String,
    },
    /// No response within the timeout.
    #[error("request code {code} to {addr} timed out after {millis} ms")]
    Timeout {
        /// Peer address.
        addr: SocketAddr,
        /// Request code.
        code: i32,
        /// The timeout.
        millis: u64,
    },
    /// The connection closed before the response arrived.
    #[error("connection to {addr} closed")]
    Closed {
        /// Peer address.
        addr: SocketAddr,
    },
}
