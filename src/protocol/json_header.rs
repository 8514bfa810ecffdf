//! The JSON header (serialize type 0).
//!
//! Decoding is lenient because real clients differ (spec §1.3, trap 16): fields in any order,
//! absent or `null` optional fields, unknown languages, and extFields values that are numbers
//! or booleans (ali-ons) are all accepted; non-string values become their JSON text.
//! Encoding follows the one profile every client decodes: fastjson's alphabetical property
//! order, all of `code`, `flag`, `language`, `opaque`, `serializeTypeCurrentRPC` and `version`
//! present, and every extFields value a JSON string.

use std::fmt;

use bytes::{BufMut, BytesMut};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::codes::LanguageCode;
use super::command::{RemotingCommand, SerializeType};
use super::ext_fields::ExtFields;
use super::frame::FrameError;

/// Appends the JSON header of `cmd` to `dst`.
pub fn encode(cmd: &RemotingCommand, dst: &mut BytesMut) {
    dst.extend_from_slice(b"{\"code\":");
    push_int(dst, i64::from(cmd.code));
    if !cmd.ext.is_empty() {
        dst.extend_from_slice(b",\"extFields\":{");
        for (i, (k, v)) in cmd.ext.iter().enumerate() {
            if i > 0 {
                dst.put_u8(b',');
            }
            push_str(dst, k);
            dst.put_u8(b':');
            push_str(dst, v);
        }
        dst.put_u8(b'}');
    }
    dst.extend_from_slice(b",\"flag\":");
    push_int(dst, i64::from(cmd.flag));
    dst.extend_from_slice(b",\"language\":");
    push_str(dst, cmd.language.name());
    dst.extend_from_slice(b",\"opaque\":");
    push_int(dst, i64::from(cmd.opaque));
    if let Some(remark) = &cmd.remark {
        dst.extend_from_slice(b",\"remark\":");
        push_str(dst, remark);
    }
    dst.extend_from_slice(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    push_int(dst, i64::from(cmd.version));
    dst.put_u8(b'}');
}

fn push_int(dst: &mut BytesMut, v: i64) {
    use std::fmt::Write as _;
    // Formatting into a BytesMut cannot fail.
    let _ = write!(dst, "{v}");
}

/// Appends `s` as a JSON string literal.
pub fn push_str(dst: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    dst.put_u8(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        dst.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => dst.extend_from_slice(b"\\\""),
            b'\\' => dst.extend_from_slice(b"\\\\"),
            b'\n' => dst.extend_from_slice(b"\\n"),
            b'\r' => dst.extend_from_slice(b"\\r"),
            b'\t' => dst.extend_from_slice(b"\\t"),
            // Other control characters (the 0x01/0x02 separators of message properties).
            _ => dst.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        start = i + 1;
    }
    dst.extend_from_slice(&bytes[start..]);
    dst.put_u8(b'"');
}

/// Decodes a JSON header into a command with an empty body.
pub fn decode(header: &[u8]) -> Result<RemotingCommand, FrameError> {
    match super::json_scan::scan(header) {
        Some(cmd) => Ok(cmd),
        None => decode_with_serde(header),
    }
}

/// The general decoder: every leniency and every error message (the scanner's fallback).
pub fn decode_with_serde(header: &[u8]) -> Result<RemotingCommand, FrameError> {
    let h: HeaderIn = serde_json::from_slice(header)
        .map_err(|e| FrameError::BadHeader(format!("JSON header: {e}")))?;
    let code = h
        .code
        .ok_or_else(|| FrameError::BadHeader("JSON header has no code".into()))?;
    Ok(RemotingCommand {
        code: code.0,
        language: h.language.map(|l| l.0).unwrap_or(LanguageCode::OTHER),
        version: h.version.map(|v| v.0).unwrap_or(0),
        opaque: h.opaque.map(|v| v.0).unwrap_or(0),
        flag: h.flag.map(|v| v.0).unwrap_or(0),
        remark: h.remark.and_then(|r| r.0),
        ext: h.ext_fields.unwrap_or_default(),
        serialize_type: SerializeType::Json,
        body: bytes::Bytes::new(),
    })
}

#[derive(Deserialize)]
struct HeaderIn {
    code: Option<LenientInt>,
    language: Option<LenientLanguage>,
    version: Option<LenientInt>,
    opaque: Option<LenientInt>,
    flag: Option<LenientInt>,
    remark: Option<LenientText>,
    #[serde(rename = "extFields")]
    ext_fields: Option<ExtFields>,
}

/// An int32 that may arrive as a number or a numeric string.
struct LenientInt(i32);

impl<'de> Deserialize<'de> for LenientInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LenientInt;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an int32 or a numeric string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientInt, E> {
                i32::try_from(v)
                    .map(LenientInt)
                    .map_err(|_| E::custom("int out of range"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientInt, E> {
                i32::try_from(v)
                    .map(LenientInt)
                    .map_err(|_| E::custom("int out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LenientInt, E> {
                if v.fract() == 0.0 && v >= f64::from(i32::MIN) && v <= f64::from(i32::MAX) {
                    Ok(LenientInt(v as i32))
                } else {
                    Err(E::custom("not an int32"))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientInt, E> {
                v.trim()
                    .parse()
                    .map(LenientInt)
                    .map_err(|_| E::custom("not an int32"))
            }
        }
        d.deserialize_any(V)
    }
}

/// A language given by name (JSON) or ordinal; unknown ones become OTHER.
struct LenientLanguage(LanguageCode);

impl<'de> Deserialize<'de> for LenientLanguage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LenientLanguage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a language name or code")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientLanguage, E> {
                Ok(LenientLanguage(LanguageCode::from_name(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientLanguage, E> {
                Ok(LenientLanguage(
                    i32::try_from(v)
                        .ok()
                        .and_then(LanguageCode::from_code)
                        .unwrap_or(LanguageCode::OTHER),
                ))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientLanguage, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(-1))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientLanguage, E> {
                Ok(LenientLanguage(LanguageCode::OTHER))
            }
        }
        d.deserialize_any(V)
    }
}

/// Text that may arrive as a string, null, or any other JSON value (kept as its JSON text).
struct LenientText(Option<String>);

impl<'de> Deserialize<'de> for LenientText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientSink(|t: Option<&str>| {
            LenientText(t.map(str::to_owned))
        }))
    }
}

/// Reads any JSON value as the text a Java server would see (`null`: none) and hands it to
/// the closure. Scalars are converted directly (the hot path: every ext value); only nested
/// values, which no client sends in practice, go through serde_json::Value.
struct LenientSink<F>(F);

impl<'de, R, F: FnOnce(Option<&str>) -> R> Visitor<'de> for LenientSink<F> {
    type Value = R;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<R, E> {
        Ok((self.0)(Some(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<R, E> {
        Ok((self.0)(Some(&v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<R, E> {
        Ok((self.0)(Some(&v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<R, E> {
        Ok((self.0)(
            value_to_text(serde_json::Value::from(v)).as_deref(),
        ))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<R, E> {
        Ok((self.0)(Some(if v { "true" } else { "false" })))
    }
    fn visit_unit<E: de::Error>(self) -> Result<R, E> {
        Ok((self.0)(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<R, A::Error> {
        let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok((self.0)(value_to_text(v).as_deref()))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<R, A::Error> {
        let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok((self.0)(value_to_text(v).as_deref()))
    }
}

/// The string form of a JSON value as a Java server would see it; `null` is absent.
fn value_to_text(v: serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

impl<'de> Deserialize<'de> for ExtFields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExtFields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an extFields object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExtFields, A::Error> {
                let mut ext = ExtFields::with_capacity(map.size_hint().unwrap_or(16));
                // Keys and values are copied from the input straight into the map's one
                // text buffer: no String per field.
                while let Some(mark) = map.next_key_seed(KeyInto(&mut ext))? {
                    map.next_value_seed(ValueInto {
                        ext: &mut ext,
                        mark,
                    })?;
                }
                Ok(ext)
            }
            fn visit_unit<E: de::Error>(self) -> Result<ExtFields, E> {
                Ok(ExtFields::new())
            }
        }
        d.deserialize_any(V)
    }
}

/// Decodes an extFields key into the map's text; gives the entry's mark.
struct KeyInto<'a>(&'a mut ExtFields);

impl<'de> de::DeserializeSeed<'de> for KeyInto<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyInto<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        Ok(self.0.begin_entry(v))
    }
}

/// Decodes an extFields value (any JSON value, as [`LenientSink`] reads it) and completes
/// the entry begun at `mark`.
struct ValueInto<'a> {
    ext: &'a mut ExtFields,
    mark: usize,
}

impl<'de> de::DeserializeSeed<'de> for ValueInto<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let ValueInto { ext, mark } = self;
        d.deserialize_any(LenientSink(|t: Option<&str>| ext.finish_entry(mark, t)))
    }
}
