//! gRPC's status trailers (`grpc-status`, `grpc-message`) and the `grpc-timeout` header.
//!
//! RocketMQ answers most errors inside the response message (`Status` with a
//! `v2::Code`); transport-level refusals — an unknown RPC, a message that is not
//! protobuf, one past the size limit — use gRPC's own codes in the trailers.

use std::time::Duration;

/// gRPC's status codes that coremq sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum GrpcCode {
    /// Success.
    Ok = 0,
    /// The client cancelled.
    Cancelled = 1,
    /// The request does not parse or names nothing valid.
    InvalidArgument = 3,
    /// The deadline passed.
    DeadlineExceeded = 4,
    /// The caller may not do this (ACL).
    PermissionDenied = 7,
    /// A limit was hit (message size).
    ResourceExhausted = 8,
    /// The RPC is not served here.
    Unimplemented = 12,
    /// The server failed.
    Internal = 13,
    /// The server cannot serve now.
    Unavailable = 14,
    /// Credentials are missing or wrong.
    Unauthenticated = 16,
}

impl GrpcCode {
    /// The trailer's decimal value.
    pub fn as_str(self) -> &'static str {
        match self {
            GrpcCode::Ok => "0",
            GrpcCode::Cancelled => "1",
            GrpcCode::InvalidArgument => "3",
            GrpcCode::DeadlineExceeded => "4",
            GrpcCode::PermissionDenied => "7",
            GrpcCode::ResourceExhausted => "8",
            GrpcCode::Unimplemented => "12",
            GrpcCode::Internal => "13",
            GrpcCode::Unavailable => "14",
            GrpcCode::Unauthenticated => "16",
        }
    }
}

/// Longest `grpc-timeout` honoured; a larger one (the spec allows 10^8 hours) is capped
/// so a long poll's timer stays in a sane range.
pub const MAX_GRPC_TIMEOUT_MS: u64 = 24 * 3600 * 1000;

/// Parses `grpc-timeout` (`<1-8 digits><H|M|S|m|u|n>`); `None` when malformed.
pub fn parse_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let d = match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    };
    Some(d.min(Duration::from_millis(MAX_GRPC_TIMEOUT_MS)))
}

/// Percent-encodes a `grpc-message` value as the gRPC spec asks (printable ASCII except
/// `%` passes through; everything else is `%XX` of its UTF-8 bytes).
pub fn encode_message(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_in_every_unit() {
        assert_eq!(parse_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_timeout("2999m"), Some(Duration::from_millis(2999)));
        assert_eq!(parse_timeout("5M"), Some(Duration::from_secs(300)));
        assert_eq!(parse_timeout("100u"), Some(Duration::from_micros(100)));
        assert_eq!(parse_timeout("7n"), Some(Duration::from_nanos(7)));
        assert_eq!(
            parse_timeout("99999999H"),
            Some(Duration::from_millis(MAX_GRPC_TIMEOUT_MS))
        );
    }

    #[test]
    fn malformed_timeouts_are_refused() {
        for bad in ["", "S", "10", "1x", "123456789S", "-1S", "1.5S"] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(encode_message("topic T1 not found"), "topic T1 not found");
        assert_eq!(encode_message("100%\n"), "100%25%0A");
        assert_eq!(encode_message("é"), "%C3%A9");
    }
}
