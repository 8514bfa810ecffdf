//! The RocketMQ 4.x remoting protocol: frames, headers, codes and bodies.
//!
//! A frame is `total | type+header length | header | body` (see [`frame`]). The header is
//! JSON ([`json_header`]) or RocketMQ's binary form ([`binary_header`]); a response goes out
//! in its request's encoding. Decoding is lenient (every real client's quirks are accepted,
//! spec §9), encoding is strict (the one profile every client parses). Typed custom headers
//! live in [`header`], JSON bodies in [`body`].
//!
//! Cost budget: a SEND_MESSAGE_V2 header is ~400 bytes of JSON; decoding it must stay well
//! under a microsecond so one core can parse >1 M requests/s (see `bench/codec.rs`).

pub mod binary_header;
pub mod body;
pub mod codes;
pub mod command;
pub mod ext_fields;
pub mod frame;
pub mod header;
pub mod json_header;

#[cfg(test)]
mod tests;

pub use codes::{LanguageCode, RequestCode, ResponseCode, SERVER_VERSION};
pub use command::{RemotingCommand, SerializeType};
pub use ext_fields::{CommandHeader, ExtFields, HeaderError};
pub use frame::{FrameError, MAX_FRAME_BYTES};
