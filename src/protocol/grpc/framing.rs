//! gRPC message framing: each message on a stream is `compressed flag (1 byte) |
//! length (u32 big endian) | protobuf bytes`.
//!
//! A decoder takes bytes as HTTP/2 DATA frames deliver them (a message may span frames,
//! a frame may hold several messages) and yields whole messages; one past
//! [`MAX_GRPC_MESSAGE_BYTES`] is refused before its body is buffered.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Largest gRPC message accepted from a client. The SDKs cap a message body at 4 MiB and
/// a batch holds several, so 16 MiB leaves room without letting one stream hoard memory.
pub const MAX_GRPC_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Bytes of the prefix before each message.
pub const GRPC_PREFIX_BYTES: usize = 5;

/// Why a stream's bytes cannot be read as gRPC messages.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FramingError {
    /// The declared length is past the limit.
    #[error("gRPC message of {declared} bytes is past the limit of {limit} bytes")]
    TooLarge {
        /// Length the prefix declared.
        declared: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The compressed flag is set; coremq announces no `grpc-accept-encoding`.
    #[error("compressed gRPC messages are not accepted (no grpc-encoding is negotiated)")]
    Compressed,
    /// The stream ended inside a message.
    #[error("stream ended inside a gRPC message ({buffered} of {needed} bytes)")]
    Truncated {
        /// Bytes received.
        buffered: usize,
        /// Bytes the prefix announced, prefix included.
        needed: usize,
    },
}

/// Reassembles gRPC messages from a stream's DATA frames.
#[derive(Debug)]
pub struct MessageDecoder {
    buf: BytesMut,
    limit: usize,
}

impl Default for MessageDecoder {
    fn default() -> Self {
        Self::new(MAX_GRPC_MESSAGE_BYTES)
    }
}

impl MessageDecoder {
    /// A decoder refusing messages past `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            limit,
        }
    }

    /// Appends a DATA frame's bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole message, `None` while it is incomplete.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, FramingError> {
        if self.buf.len() < GRPC_PREFIX_BYTES {
            return Ok(None);
        }
        let compressed = self.buf[0];
        let declared =
            u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if declared > self.limit {
            return Err(FramingError::TooLarge {
                declared,
                limit: self.limit,
            });
        }
        if compressed != 0 {
            return Err(FramingError::Compressed);
        }
        if self.buf.len() < GRPC_PREFIX_BYTES + declared {
            return Ok(None);
        }
        self.buf.advance(GRPC_PREFIX_BYTES);
        Ok(Some(self.buf.split_to(declared).freeze()))
    }

    /// Checks that the stream ended on a message boundary.
    pub fn finish(&self) -> Result<(), FramingError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let needed = if self.buf.len() >= GRPC_PREFIX_BYTES {
            GRPC_PREFIX_BYTES
                + u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize
        } else {
            GRPC_PREFIX_BYTES
        };
        Err(FramingError::Truncated {
            buffered: self.buf.len(),
            needed,
        })
    }
}

/// Frames one encoded protobuf message for the wire.
pub fn encode_message<M: prost::Message>(msg: &M) -> Bytes {
    let len = msg.encoded_len();
    let mut out = BytesMut::with_capacity(GRPC_PREFIX_BYTES + len);
    out.put_u8(0);
    out.put_u32(len as u32);
    // Encoding into a buffer with enough capacity cannot fail.
    let _ = msg.encode(&mut out);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn refuses_a_message_past_the_limit_before_its_body_arrives() {
        let mut d = MessageDecoder::new(10);
        d.push(&[0, 0, 0, 0, 11]);
        assert_eq!(
            d.next_message(),
            Err(FramingError::TooLarge {
                declared: 11,
                limit: 10
            })
        );
    }

    #[test]
    fn refuses_compressed_messages() {
        let mut d = MessageDecoder::default();
        d.push(&[1, 0, 0, 0, 1, 7]);
        assert_eq!(d.next_message(), Err(FramingError::Compressed));
    }

    #[test]
    fn a_stream_ending_inside_a_message_is_truncated() {
        let mut d = MessageDecoder::default();
        d.push(&frame(b"abcdef")[..8]);
        assert_eq!(d.next_message(), Ok(None));
        assert_eq!(
            d.finish(),
            Err(FramingError::Truncated {
                buffered: 8,
                needed: 11
            })
        );
    }

    proptest! {
        #[test]
        fn messages_survive_any_split_into_frames(
            bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..6),
            cut in 1usize..64,
        ) {
            let wire: Vec<u8> = bodies.iter().flat_map(|b| frame(b)).collect();
            let mut d = MessageDecoder::default();
            let mut got = Vec::new();
            for chunk in wire.chunks(cut) {
                d.push(chunk);
                while let Some(m) = d.next_message().unwrap() {
                    got.push(m.to_vec());
                }
            }
            prop_assert!(d.finish().is_ok());
            prop_assert_eq!(got, bodies);
        }
    }
}
