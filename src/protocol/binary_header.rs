//! RocketMQ's binary header (serialize type 1), layout in spec §1.4.
//!
//! ```text
//! code i16 | language u8 | version i16 | opaque i32 | flag i32 |
//! remark len i32 + bytes | ext area len i32 + { key len i16, key, value len i32, value }*
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::codes::LanguageCode;
use super::command::{RemotingCommand, SerializeType};
use super::ext_fields::ExtFields;
use super::frame::FrameError;

/// Fixed part of the header before the remark bytes.
const FIXED_BYTES: usize = 2 + 1 + 2 + 4 + 4 + 4;

/// Appends the binary header of `cmd` to `dst`.
pub fn encode(cmd: &RemotingCommand, dst: &mut BytesMut) {
    // Codes and versions above i16::MAX are not representable in this encoding; every code
    // coremq sends fits, so truncation here would be a bug.
    debug_assert!(i16::try_from(cmd.code).is_ok(), "code {} too big", cmd.code);
    dst.extend_from_slice(&(cmd.code as i16).to_be_bytes());
    dst.put_u8(cmd.language.code() as u8);
    dst.extend_from_slice(&(cmd.version as i16).to_be_bytes());
    dst.extend_from_slice(&cmd.opaque.to_be_bytes());
    dst.extend_from_slice(&cmd.flag.to_be_bytes());
    match &cmd.remark {
        Some(r) => {
            dst.extend_from_slice(&(r.len() as i32).to_be_bytes());
            dst.extend_from_slice(r.as_bytes());
        }
        None => dst.extend_from_slice(&0i32.to_be_bytes()),
    }
    let area: usize = cmd.ext.iter().map(|(k, v)| 2 + k.len() + 4 + v.len()).sum();
    dst.extend_from_slice(&(area as i32).to_be_bytes());
    for (k, v) in cmd.ext.iter() {
        dst.extend_from_slice(&(k.len() as i16).to_be_bytes());
        dst.extend_from_slice(k.as_bytes());
        dst.extend_from_slice(&(v.len() as i32).to_be_bytes());
        dst.extend_from_slice(v.as_bytes());
    }
}

/// Decodes a binary header into a command with an empty body.
pub fn decode(h: &[u8]) -> Result<RemotingCommand, FrameError> {
    let mut r = Reader { buf: h, pos: 0 };
    if h.len() < FIXED_BYTES {
        return Err(FrameError::BadHeader(format!(
            "binary header of {} bytes is shorter than {FIXED_BYTES}",
            h.len()
        )));
    }
    let code = i32::from(r.i16()?);
    let language = LanguageCode::from_byte(r.u8()?);
    let version = i32::from(r.i16()?);
    let opaque = r.i32()?;
    let flag = r.i32()?;
    let remark_len = r.len32("remark")?;
    let remark = if remark_len == 0 {
        None
    } else {
        Some(r.utf8(remark_len, "remark")?)
    };
    let area_len = r.len32("extFields area")?;
    let area = r.take(area_len, "extFields area")?;
    let ext = decode_ext(area)?;
    if r.pos != h.len() {
        return Err(FrameError::BadHeader(format!(
            "binary header has {} trailing bytes",
            h.len() - r.pos
        )));
    }
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext,
        serialize_type: SerializeType::RocketMq,
        body: Bytes::new(),
    })
}

fn decode_ext(area: &[u8]) -> Result<ExtFields, FrameError> {
    let mut r = Reader { buf: area, pos: 0 };
    let mut ext = ExtFields::new();
    while r.pos < area.len() {
        let klen = r.i16()?;
        let klen = usize::try_from(klen)
            .map_err(|_| FrameError::BadHeader(format!("negative ext key length {klen}")))?;
        let key = r.utf8(klen, "ext key")?;
        let vlen = r.len32("ext value")?;
        let value = r.utf8(vlen, "ext value")?;
        // A zero-length value is how the format writes null: the field is absent.
        if !value.is_empty() {
            ext.push_decoded(&key, &value);
        }
    }
    Ok(ext)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FrameError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                FrameError::BadHeader(format!(
                    "binary header: {what} of {n} bytes runs past the header"
                ))
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1, "byte")?[0])
    }
    fn i16(&mut self) -> Result<i16, FrameError> {
        let b = self.take(2, "int16")?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, FrameError> {
        let b = self.take(4, "int32")?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn len32(&mut self, what: &str) -> Result<usize, FrameError> {
        let n = self.i32()?;
        usize::try_from(n).map_err(|_| {
            FrameError::BadHeader(format!("binary header: negative {what} length {n}"))
        })
    }
    fn utf8(&mut self, n: usize, what: &str) -> Result<String, FrameError> {
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| FrameError::BadHeader(format!("binary header: {what} is not UTF-8")))
    }
}
