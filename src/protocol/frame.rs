//! Frame layout (spec §1.1) and the frame codec.
//!
//! ```text
//! total: i32 (bytes after this field) | type: u8 | header length: u24 | header | body
//! ```
//!
//! A frame is rejected, and its connection closed by the caller, when `total` exceeds
//! [`MAX_FRAME_BYTES`], when the header length runs past the frame, or when the header does
//! not decode. Nothing here panics on any input.

use bytes::{Buf, BufMut, BytesMut};
use thiserror::Error;

use super::command::{RemotingCommand, SerializeType};
use super::{binary_header, json_header};

/// Largest accepted `total` (bytes after the length field): Java's 16 MiB frame ceiling.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Bytes of the length field and the header-length word.
const PREFIX_BYTES: usize = 8;

/// Why a frame could not be decoded. Any of these closes the connection.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// `total` is negative, too small to hold the header-length word, or above the limit.
    #[error("frame length {0} is outside 4..={MAX_FRAME_BYTES}")]
    BadLength(i64),
    /// The header length points past the end of the frame.
    #[error("header length {header} runs past the frame of {total} bytes")]
    HeaderPastFrame {
        /// Header length from the header-length word.
        header: usize,
        /// `total` from the length field.
        total: usize,
    },
    /// The serialize-type byte is neither 0 (JSON) nor 1 (ROCKETMQ).
    #[error("unknown serialize type {0}")]
    UnknownSerializeType(u8),
    /// The header bytes do not decode.
    #[error("undecodable header: {0}")]
    BadHeader(String),
    /// A command too large to send: header over 16 MiB or frame over the limit.
    #[error("frame of {0} bytes is too large to send")]
    TooLarge(usize),
}

/// Appends one whole frame for `cmd` to `dst`, header in `cmd.serialize_type`.
///
/// A command whose frame would exceed what peers accept leaves `dst` unchanged and is an
/// error: the caller sends a short error response instead.
pub fn encode(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<(), FrameError> {
    encode_head(cmd, dst)?;
    dst.extend_from_slice(&cmd.body);
    Ok(())
}

/// Appends everything of `cmd`'s frame but its body (the length fields count the body):
/// a writer that sends `cmd.body` right after these bytes, without copying it, sends the
/// same frame as [`encode`]. Errors as [`encode`], leaving `dst` unchanged.
pub fn encode_head(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<(), FrameError> {
    let start = dst.len();
    dst.put_u64(0); // length field and header-length word, patched below
    match cmd.serialize_type {
        SerializeType::Json => json_header::encode(cmd, dst),
        SerializeType::RocketMq => binary_header::encode(cmd, dst),
    }
    let header_len = dst.len() - start - PREFIX_BYTES;
    let frame_len = 4 + header_len + cmd.body.len();
    if header_len > 0xFF_FFFF || frame_len > MAX_FRAME_BYTES {
        dst.truncate(start);
        return Err(FrameError::TooLarge(4 + frame_len));
    }
    let word = (u32::from(cmd.serialize_type.byte()) << 24) | header_len as u32;
    dst[start..start + 4].copy_from_slice(&(frame_len as u32).to_be_bytes());
    dst[start + 4..start + 8].copy_from_slice(&word.to_be_bytes());
    Ok(())
}

/// Encodes `cmd` as a standalone frame (tests and tools; panics if it is too large).
pub fn encode_to_vec(cmd: &RemotingCommand) -> Vec<u8> {
    let mut b = BytesMut::with_capacity(128 + cmd.body.len());
    if let Err(e) = encode(cmd, &mut b) {
        panic!("encode_to_vec: {e}");
    }
    b.to_vec()
}

/// Takes one whole frame off the front of `buf`, if one is there.
///
/// `Ok(None)` means more bytes are needed; the buffer is left untouched. The body is split
/// off without copying.
pub fn decode(buf: &mut BytesMut) -> Result<Option<RemotingCommand>, FrameError> {
    let Some(total) = frame_len(buf)? else {
        return Ok(None);
    };
    if buf.len() < 4 + total {
        buf.reserve(4 + total - buf.len());
        return Ok(None);
    }
    let word = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let kind = (word >> 24) as u8;
    let header_len = (word & 0xFF_FFFF) as usize;
    if header_len > total - 4 {
        return Err(FrameError::HeaderPastFrame {
            header: header_len,
            total,
        });
    }
    let mut frame = buf.split_to(4 + total);
    frame.advance(PREFIX_BYTES);
    let header = frame.split_to(header_len);
    let mut cmd = match kind {
        0 => json_header::decode(&header)?,
        1 => binary_header::decode(&header)?,
        other => return Err(FrameError::UnknownSerializeType(other)),
    };
    cmd.body = frame.freeze();
    Ok(Some(cmd))
}

/// The frame's `total` once the 4-byte length field is in `buf`, validated.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let total = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    match usize::try_from(total) {
        Ok(t) if (4..=MAX_FRAME_BYTES).contains(&t) => Ok(Some(t)),
        _ => Err(FrameError::BadLength(i64::from(total))),
    }
}
