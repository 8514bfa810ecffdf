//! The RocketMQ 4.x remoting protocol: frames, headers, codes and bodies.
//!
//! A frame is `total | type+header length | header | body` (see [`frame`]). The header is
//! JSON ([`json_header`]) or RocketMQ's binary form ([`binary_header`]); a response goes out
//! in its request's encoding. Decoding is lenient (every real client's quirks are accepted,
//! spec §9), encoding is strict (the one profile every client parses). Typed custom headers
//! live in [`header`], JSON bodies in [`body`].
//!
//! Cost budget: a SEND_MESSAGE_V2 frame is ~540 bytes, ~400 of them JSON header. Measured
//! (bench/results/2026-11-25-codec.md): encode ~0.3 µs, decode ~1.2 µs, i.e. ~0.8 M decoded
//! sends/s per core. Decoding allocates one String per ext key and value (~26 for a send);
//! a borrowed, hand-rolled header scanner is the next step if broker profiles show it.

pub mod acl_signature;
pub mod binary_header;
pub mod body;
pub mod codes;
pub mod command;
pub mod ext_fields;
pub mod frame;
pub mod grpc;
pub mod header;
pub mod json_header;
mod json_scan;
pub mod message_id;
pub mod properties;
pub mod sys_flag;
pub mod topic_attributes;
pub mod topics;

#[cfg(test)]
mod tests;

pub use codes::{
    version_name, version_ordinal, version_ordinal_of, LanguageCode, RequestCode, ResponseCode,
    SERVER_VERSION,
};
pub use command::{RemotingCommand, SerializeType};
pub use ext_fields::{CommandHeader, ExtFields, HeaderError};
pub use frame::{FrameError, MAX_FRAME_BYTES};
