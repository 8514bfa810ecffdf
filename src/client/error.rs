//! Client errors: each names the address it concerns.

/// Why a client call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// No connection could be made, or it broke or timed out.
    #[error("cannot reach {addr}: {reason}")]
    Unreachable {
        /// The peer.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// The peer answered with an error code.
    #[error("{addr} answered {code} ({name}): {remark}")]
    Refused {
        /// The peer.
        addr: String,
        /// Response code.
        code: i32,
        /// Its name.
        name: String,
        /// Remark.
        remark: String,
    },
    /// A response body or header did not decode.
    #[error("bad response from {addr}: {reason}")]
    BadResponse {
        /// The peer.
        addr: String,
        /// What did not decode.
        reason: String,
    },
    /// An address could not be parsed or resolved.
    #[error("bad address {0:?}")]
    BadAddress(String),
    /// The caller asked for something that cannot be sent.
    #[error("{0}")]
    Invalid(String),
    /// A request got no reply in time.
    #[error("no reply to request {correlation_id} within {timeout_ms} ms")]
    ReplyTimeout {
        /// The request's CORRELATION_ID.
        correlation_id: String,
        /// How long it waited.
        timeout_ms: u64,
    },
    /// No nameserver is configured.
    #[error("no nameserver address: give -n ADDRS or set NAMESRV_ADDR")]
    NoNamesrv,
}
