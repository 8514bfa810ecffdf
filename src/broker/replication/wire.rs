//! coremq's replication wire (master ↔ slave, on the HA port): frames and their codec.
//!
//! Every frame is `u32 length` (bytes after this field) + `u8 kind` + payload, big-endian.
//! One TCP connection per shard; the slave speaks first.
//!
//! | kind | name | direction | payload |
//! |---|---|---|---|
//! | 1 | HELLO | slave → master | `u32 magic "CMQR"`, `u16 version`, `u32 shard`, `u32 shards`, `u64 end`, `u32 tail_crc`, `u16 len` + slave address (UTF-8) |
//! | 2 | WELCOME | master → slave | `u64 master_end`, `u8 durable_acks` (1: the master waits for the slave's durable end) |
//! | 3 | REFUSE | master → slave | `u8 reason`, `u16 len` + text |
//! | 4 | DATA | master → slave | `u64 from`, `u64 master_end`, log bytes `[from, from + n)` |
//! | 5 | HEARTBEAT | master → slave | `u64 master_end` |
//! | 6 | REPORT | slave → master | `u64 received_end`, `u64 durable_end` |
//!
//! Offsets are the shard's local log offsets. `end` and `tail_crc` in HELLO say where the
//! slave's log ends and the CRC32C of its last [`crate::store::replica::TAIL_DIGEST_BYTES`]
//! bytes: the master computes the same over its own log and refuses a slave whose bytes it
//! does not hold (diverged) instead of streaming on top of them. DATA ranges are
//! contiguous from the slave's end, cut anywhere (the slave appends whole entries and
//! keeps the rest for the next frame).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// "CMQR": the first four bytes of a HELLO.
pub const HELLO_MAGIC: u32 = 0x434D_5152;
/// Wire version this build speaks.
pub const WIRE_VERSION: u16 = 1;
/// Largest frame accepted (a DATA frame carries at most haTransferBatchSize bytes).
pub const MAX_HA_FRAME_BYTES: usize = 64 << 20;

/// Why a master refused a slave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RefuseReason {
    /// The HELLO was not understood (magic, version).
    BadHello = 1,
    /// Master and slave run a different number of shards.
    ShardCount = 2,
    /// The slave holds bytes the master does not.
    Diverged = 3,
    /// The slave's end was removed from the master's log by retention.
    BehindRetention = 4,
    /// This broker is not a master.
    NotMaster = 5,
}

impl RefuseReason {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::BadHello,
            2 => Self::ShardCount,
            3 => Self::Diverged,
            4 => Self::BehindRetention,
            5 => Self::NotMaster,
            _ => return None,
        })
    }
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The slave's opening.
    Hello {
        /// Wire version.
        version: u16,
        /// Slave shard index.
        shard: u32,
        /// Slave shard count.
        shards: u32,
        /// Slave's local log end.
        end: u64,
        /// CRC32C of the slave's last bytes before `end`.
        tail_crc: u32,
        /// The slave's broker address (for the operator's tables).
        addr: String,
    },
    /// The master accepts; DATA follows from the slave's end.
    Welcome {
        /// Master's log end now.
        master_end: u64,
        /// The master acknowledges sends only once the slave's copy is durable.
        durable_acks: bool,
    },
    /// The master refuses and closes.
    Refuse {
        /// Why.
        reason: RefuseReason,
        /// What to tell the operator.
        text: String,
    },
    /// Log bytes.
    Data {
        /// Local offset of the first byte.
        from: u64,
        /// Master's log end when sent.
        master_end: u64,
        /// The bytes.
        bytes: Bytes,
    },
    /// Nothing to send; the master's end.
    Heartbeat {
        /// Master's log end.
        master_end: u64,
    },
    /// The slave's progress.
    Report {
        /// Bytes appended (in memory at least).
        received: u64,
        /// Bytes durable on the slave.
        durable: u64,
    },
}

/// A frame that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Length outside 1..=MAX_HA_FRAME_BYTES.
    #[error("frame length {0} out of range")]
    Length(usize),
    /// Unknown kind byte.
    #[error("unknown frame kind {0}")]
    Kind(u8),
    /// Payload shorter than its kind needs, or malformed.
    #[error("malformed {0} frame")]
    Malformed(&'static str),
    /// HELLO with the wrong magic.
    #[error("not a coremq replication peer (magic {0:#x})")]
    Magic(u32),
}

fn put_str(b: &mut BytesMut, s: &str) {
    let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    b.put_u16(s.len() as u16);
    b.put_slice(s);
}

fn get_str(b: &mut &[u8], what: &'static str) -> Result<String, WireError> {
    if b.remaining() < 2 {
        return Err(WireError::Malformed(what));
    }
    let n = b.get_u16() as usize;
    if b.remaining() < n {
        return Err(WireError::Malformed(what));
    }
    let s = String::from_utf8_lossy(&b[..n]).into_owned();
    b.advance(n);
    Ok(s)
}

impl Frame {
    /// Appends the encoded frame to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let at = out.len();
        out.put_u32(0);
        match self {
            Frame::Hello {
                version,
                shard,
                shards,
                end,
                tail_crc,
                addr,
            } => {
                out.put_u8(1);
                out.put_u32(HELLO_MAGIC);
                out.put_u16(*version);
                out.put_u32(*shard);
                out.put_u32(*shards);
                out.put_u64(*end);
                out.put_u32(*tail_crc);
                put_str(out, addr);
            }
            Frame::Welcome {
                master_end,
                durable_acks,
            } => {
                out.put_u8(2);
                out.put_u64(*master_end);
                out.put_u8(u8::from(*durable_acks));
            }
            Frame::Refuse { reason, text } => {
                out.put_u8(3);
                out.put_u8(*reason as u8);
                put_str(out, text);
            }
            Frame::Data {
                from,
                master_end,
                bytes,
            } => {
                out.put_u8(DATA_KIND);
                out.put_u64(*from);
                out.put_u64(*master_end);
                out.put_slice(bytes);
            }
            Frame::Heartbeat { master_end } => {
                out.put_u8(5);
                out.put_u64(*master_end);
            }
            Frame::Report { received, durable } => {
                out.put_u8(6);
                out.put_u64(*received);
                out.put_u64(*durable);
            }
        }
        let len = (out.len() - at - 4) as u32;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// Checks a frame's length field (the `u32` before the kind byte).
    pub fn check_length(len: u32) -> Result<usize, WireError> {
        let n = len as usize;
        if n == 0 || n > MAX_HA_FRAME_BYTES {
            return Err(WireError::Length(n));
        }
        Ok(n)
    }

    /// Decodes a frame body (what follows the length field).
    pub fn decode(body: Bytes) -> Result<Frame, WireError> {
        let kind = *body.first().ok_or(WireError::Length(0))?;
        let mut b: &[u8] = &body[1..];
        let need = |b: &[u8], n: usize, what| {
            if b.len() < n {
                Err(WireError::Malformed(what))
            } else {
                Ok(())
            }
        };
        let f = match kind {
            1 => {
                need(b, 4 + 2 + 4 + 4 + 8 + 4, "HELLO")?;
                let magic = b.get_u32();
                if magic != HELLO_MAGIC {
                    return Err(WireError::Magic(magic));
                }
                Frame::Hello {
                    version: b.get_u16(),
                    shard: b.get_u32(),
                    shards: b.get_u32(),
                    end: b.get_u64(),
                    tail_crc: b.get_u32(),
                    addr: get_str(&mut b, "HELLO")?,
                }
            }
            2 => {
                need(b, 9, "WELCOME")?;
                Frame::Welcome {
                    master_end: b.get_u64(),
                    durable_acks: b.get_u8() != 0,
                }
            }
            3 => {
                need(b, 1, "REFUSE")?;
                let reason =
                    RefuseReason::from_u8(b.get_u8()).ok_or(WireError::Malformed("REFUSE"))?;
                Frame::Refuse {
                    reason,
                    text: get_str(&mut b, "REFUSE")?,
                }
            }
            DATA_KIND => {
                need(b, 16, "DATA")?;
                let from = b.get_u64();
                let master_end = b.get_u64();
                Frame::Data {
                    from,
                    master_end,
                    bytes: body.slice(17..),
                }
            }
            5 => {
                need(b, 8, "HEARTBEAT")?;
                Frame::Heartbeat {
                    master_end: b.get_u64(),
                }
            }
            6 => {
                need(b, 16, "REPORT")?;
                Frame::Report {
                    received: b.get_u64(),
                    durable: b.get_u64(),
                }
            }
            k => return Err(WireError::Kind(k)),
        };
        Ok(f)
    }
}

/// The bytes before a DATA frame's log bytes (length, kind, from, master end), so the
/// log bytes can be written as they are, without a copy into the frame.
pub fn data_header(from: u64, master_end: u64, len: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(DATA_HEADER_BYTES);
    // The length field counts what follows it: kind, the two offsets, the log bytes.
    b.extend_from_slice(&((DATA_HEADER_BYTES - 4 + len) as u32).to_be_bytes());
    b.push(DATA_KIND);
    b.extend_from_slice(&from.to_be_bytes());
    b.extend_from_slice(&master_end.to_be_bytes());
    b
}

/// Length field, kind and the two offsets of a DATA frame.
pub const DATA_HEADER_BYTES: usize = 4 + 1 + 16;
/// The kind byte of a DATA frame.
const DATA_KIND: u8 = 4;

/// Reads one frame from `r`.
pub async fn read_frame<R: futures_lite::AsyncRead + Unpin>(r: &mut R) -> Result<Frame, ReadError> {
    FrameReader::default().read(r).await
}

/// Reads frames into one buffer that is reused once the previous frame is dropped: a
/// slave receives its log in frames of up to haTransferBatchSize, and a fresh allocation
/// for each is fresh memory for the kernel to fault in and zero (a third of a catching-up
/// slave's CPU before this reader).
#[derive(Default)]
pub struct FrameReader {
    buf: BytesMut,
}

impl FrameReader {
    /// Reads the next frame. The frame's bytes share this reader's buffer; drop the frame
    /// before the next call and its memory is used again.
    pub async fn read<R: futures_lite::AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
    ) -> Result<Frame, ReadError> {
        use futures_lite::AsyncReadExt;
        let mut len = [0u8; 4];
        r.read_exact(&mut len).await?;
        let n = Frame::check_length(u32::from_be_bytes(len))?;
        // `reserve` takes the allocation back when no earlier frame still holds it.
        self.buf.clear();
        self.buf.reserve(n);
        self.buf.resize(n, 0);
        r.read_exact(&mut self.buf).await?;
        Ok(Frame::decode(self.buf.split().freeze())?)
    }
}

/// Writes one frame to `w`.
pub async fn write_frame<W: futures_lite::AsyncWrite + Unpin>(
    w: &mut W,
    f: &Frame,
) -> std::io::Result<()> {
    use futures_lite::AsyncWriteExt;
    let mut b = BytesMut::new();
    f.encode(&mut b);
    w.write_all(&b).await
}

/// Reading a frame failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The socket failed or closed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The bytes are not a frame.
    #[error(transparent)]
    Wire(#[from] WireError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(f: &Frame) -> Frame {
        let mut b = BytesMut::new();
        f.encode(&mut b);
        let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        assert_eq!(Frame::check_length(len).unwrap(), b.len() - 4);
        Frame::decode(b.freeze().slice(4..)).unwrap()
    }

    #[test]
    fn every_kind_round_trips() {
        let frames = [
            Frame::Hello {
                version: WIRE_VERSION,
                shard: 1,
                shards: 2,
                end: 12345,
                tail_crc: 0xDEAD_BEEF,
                addr: "127.0.0.1:10911".into(),
            },
            Frame::Welcome {
                master_end: 99,
                durable_acks: true,
            },
            Frame::Refuse {
                reason: RefuseReason::ShardCount,
                text: "slave has 3 shards, master has 2".into(),
            },
            Frame::Data {
                from: 4096,
                master_end: 9000,
                bytes: Bytes::from_static(b"records"),
            },
            Frame::Heartbeat { master_end: 7 },
            Frame::Report {
                received: 10,
                durable: 8,
            },
        ];
        for f in &frames {
            assert_eq!(&roundtrip(f), f);
        }
    }

    #[test]
    fn a_data_header_and_its_bytes_read_as_one_frame() {
        let mut b = data_header(4096, 9000, 3);
        assert_eq!(b.len(), DATA_HEADER_BYTES);
        b.extend_from_slice(b"abc");
        let mut whole = BytesMut::new();
        Frame::Data {
            from: 4096,
            master_end: 9000,
            bytes: Bytes::from_static(b"abc"),
        }
        .encode(&mut whole);
        assert_eq!(&b[..], &whole[..]);
    }

    #[test]
    fn bad_frames_are_named() {
        assert_eq!(Frame::check_length(0), Err(WireError::Length(0)));
        assert!(Frame::check_length(MAX_HA_FRAME_BYTES as u32 + 1).is_err());
        assert_eq!(
            Frame::decode(Bytes::from_static(&[9])),
            Err(WireError::Kind(9))
        );
        assert_eq!(
            Frame::decode(Bytes::from_static(&[6, 0, 0])),
            Err(WireError::Malformed("REPORT"))
        );
        let mut hello = vec![1u8];
        hello.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n.......");
        assert!(matches!(
            Frame::decode(Bytes::from(hello)),
            Err(WireError::Magic(_))
        ));
    }

    proptest! {
        /// Arbitrary bytes never panic the decoder.
        #[test]
        fn decode_never_panics(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Frame::decode(Bytes::from(body));
        }

        #[test]
        fn data_and_reports_round_trip(from in any::<u64>(), end in any::<u64>(),
                                       bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let f = Frame::Data { from, master_end: end, bytes: Bytes::from(bytes) };
            prop_assert_eq!(roundtrip(&f), f);
            let r = Frame::Report { received: from, durable: end };
            prop_assert_eq!(roundtrip(&r), r);
        }
    }
}
