//! The JSON header's fast path: one pass over the bytes for the shapes clients send.
//!
//! serde_json's visitor path ([`super::json_header::decode`]) was about 15 % of a
//! connection shard's CPU at 128 B sends: a generic state machine, a visitor call per
//! token, every string copied through a scratch buffer. Headers from real clients use a
//! small subset of JSON: one flat object, integers or numeric strings for the numbers, and
//! an `extFields` object of strings. This scanner reads that subset directly into a
//! [`RemotingCommand`] and **declines** (returns `None`) anything else: nested values,
//! fractions and exponents, surrogate escapes, duplicate known fields, a missing `code`,
//! malformed input. The caller then runs the serde path, which stays the single
//! authority on leniency and on error messages. So a decline costs one wasted scan, never
//! a different answer; `json_header`'s tests check that both paths agree on every header
//! the scanner accepts.

use std::fmt::Write as _;

use super::codes::LanguageCode;
use super::command::{RemotingCommand, SerializeType};
use super::ext_fields::ExtFields;

/// The longest run of digits the scanner reads as an integer: every 18-digit number fits
/// an i64, so a longer one (or one past i32 where an i32 is wanted) is left to serde.
const MAX_INT_DIGITS: usize = 18;

/// Decodes `header` if it is in the common subset; `None` sends it to the serde path.
pub(super) fn scan(header: &[u8]) -> Option<RemotingCommand> {
    // JSON text outside strings is ASCII, so validating the whole header once lets every
    // string be sliced without checks (serde reports the error for invalid input).
    let text = std::str::from_utf8(header).ok()?;
    let mut c = Cursor { text, at: 0 };
    let mut scratch = String::new();
    let mut h = Fields::default();
    c.expect(b'{')?;
    if c.peek()? == b'}' {
        return None; // no code: serde names the error
    }
    loop {
        let key = c.string(&mut scratch)?;
        let field = Field::of(key);
        c.expect(b':')?;
        match field {
            Some(f) => {
                if h.seen & f.bit() != 0 {
                    return None; // a repeated field is an error in the serde path
                }
                h.seen |= f.bit();
                h.read(f, &mut c, &mut scratch)?;
            }
            None => c.skip_scalar(&mut scratch)?,
        }
        match c.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    c.skip_ws();
    if c.at != c.text.len() {
        return None; // trailing characters
    }
    Some(RemotingCommand {
        code: h.code?,
        language: h.language.unwrap_or(LanguageCode::OTHER),
        version: h.version.unwrap_or(0),
        opaque: h.opaque.unwrap_or(0),
        flag: h.flag.unwrap_or(0),
        remark: h.remark,
        ext: h.ext.unwrap_or_default(),
        serialize_type: SerializeType::Json,
        body: bytes::Bytes::new(),
    })
}

/// The known top-level fields (any other key's scalar value is skipped).
#[derive(Clone, Copy)]
enum Field {
    Code,
    Language,
    Version,
    Opaque,
    Flag,
    Remark,
    ExtFields,
}

impl Field {
    fn of(key: &str) -> Option<Field> {
        Some(match key {
            "code" => Field::Code,
            "language" => Field::Language,
            "version" => Field::Version,
            "opaque" => Field::Opaque,
            "flag" => Field::Flag,
            "remark" => Field::Remark,
            "extFields" => Field::ExtFields,
            _ => return None,
        })
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// What the scan found; `None` fields were absent or `null`.
#[derive(Default)]
struct Fields {
    seen: u8,
    code: Option<i32>,
    language: Option<LanguageCode>,
    version: Option<i32>,
    opaque: Option<i32>,
    flag: Option<i32>,
    remark: Option<String>,
    ext: Option<ExtFields>,
}

impl Fields {
    /// Reads `f`'s value; `None` declines the header.
    fn read(&mut self, f: Field, c: &mut Cursor, scratch: &mut String) -> Option<()> {
        match f {
            Field::Code => self.code = c.lenient_i32(scratch)?,
            Field::Version => self.version = c.lenient_i32(scratch)?,
            Field::Opaque => self.opaque = c.lenient_i32(scratch)?,
            Field::Flag => self.flag = c.lenient_i32(scratch)?,
            Field::Language => {
                self.language = match c.peek()? {
                    b'"' => Some(LanguageCode::from_name(c.string(scratch)?)),
                    b'n' => c.null()?,
                    _ => Some(
                        i32::try_from(c.int()?)
                            .ok()
                            .and_then(LanguageCode::from_code)
                            .unwrap_or(LanguageCode::OTHER),
                    ),
                }
            }
            Field::Remark => {
                self.remark = match c.peek()? {
                    b'"' => Some(c.string(scratch)?.to_owned()),
                    b'n' => c.null()?,
                    _ => return None, // a non-string remark keeps serde's rendering
                }
            }
            Field::ExtFields => {
                self.ext = match c.peek()? {
                    b'{' => Some(c.ext_fields(scratch)?),
                    b'n' => c.null()?,
                    _ => return None,
                }
            }
        }
        Some(())
    }
}

/// A position in the header text.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.as_bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next non-blank byte, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.text.as_bytes().get(self.at).copied()
    }

    /// The next non-blank byte, consumed.
    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// A literal word (`true`, `false`, `null`).
    fn word(&mut self, w: &str) -> Option<()> {
        self.skip_ws();
        self.text[self.at..]
            .starts_with(w)
            .then(|| self.at += w.len())
    }

    /// `null`, read as an absent value.
    fn null<T>(&mut self) -> Option<Option<T>> {
        self.word("null").map(|()| None)
    }

    /// A string; borrowed from the input unless it has escapes (then decoded into
    /// `scratch`).
    fn string<'s>(&mut self, scratch: &'s mut String) -> Option<&'s str>
    where
        'a: 's,
    {
        self.expect(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut i = start;
        loop {
            match *bytes.get(i)? {
                b'"' => {
                    self.at = i + 1;
                    return Some(&self.text[start..i]);
                }
                b'\\' => break,
                0..=0x1f => return None, // a raw control character: invalid JSON
                _ => i += 1,
            }
        }
        scratch.clear();
        scratch.push_str(&self.text[start..i]);
        loop {
            match *bytes.get(i)? {
                b'"' => {
                    self.at = i + 1;
                    return Some(scratch);
                }
                b'\\' => {
                    let escaped = *bytes.get(i + 1)?;
                    i += 2;
                    scratch.push(match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = self.text.get(i..i + 4)?;
                            i += 4;
                            // from_str_radix would also take a sign.
                            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return None;
                            }
                            let unit = u32::from_str_radix(hex, 16).ok()?;
                            // Surrogate pairs are left to serde.
                            char::from_u32(unit)?
                        }
                        _ => return None,
                    });
                }
                0..=0x1f => return None,
                _ => {
                    // Copy up to the next quote or escape in one piece.
                    let run = bytes[i..]
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                        .map_or(bytes.len(), |n| i + n);
                    scratch.push_str(&self.text[i..run]);
                    i = run;
                }
            }
        }
    }

    /// An integer of at most [`MAX_INT_DIGITS`] digits, written as JSON writes it (no
    /// leading zeros, no `-0`); fractions and exponents decline.
    fn int(&mut self) -> Option<i64> {
        self.skip_ws();
        let bytes = self.text.as_bytes();
        let negative = bytes.get(self.at) == Some(&b'-');
        let start = self.at + usize::from(negative);
        let digits = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let end = start + digits;
        if digits == 0
            || digits > MAX_INT_DIGITS
            || (digits > 1 && bytes[start] == b'0')
            || (negative && bytes[start] == b'0')
            || matches!(bytes.get(end), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        let magnitude: i64 = self.text[start..end].parse().ok()?;
        self.at = end;
        Some(if negative { -magnitude } else { magnitude })
    }

    /// An int32 given as a number or a numeric string, or `null`.
    fn lenient_i32(&mut self, scratch: &mut String) -> Option<Option<i32>> {
        match self.peek()? {
            b'"' => self.string(scratch)?.trim().parse().ok().map(Some),
            b'n' => self.null(),
            _ => i32::try_from(self.int()?).ok().map(Some),
        }
    }

    /// Skips a string, integer, `true`, `false` or `null`.
    fn skip_scalar(&mut self, scratch: &mut String) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(scratch).map(|_| ()),
            b't' => self.word("true"),
            b'f' => self.word("false"),
            b'n' => self.word("null"),
            _ => self.int().map(|_| ()),
        }
    }

    /// The `extFields` object: string keys, scalar values (numbers and booleans as their
    /// JSON text, `null` dropped), as the serde path reads them.
    fn ext_fields(&mut self, scratch: &mut String) -> Option<ExtFields> {
        self.expect(b'{')?;
        let mut ext = ExtFields::with_capacity(16);
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(ext);
        }
        loop {
            let mark = ext.begin_entry(self.string(scratch)?);
            self.expect(b':')?;
            match self.peek()? {
                b'"' => ext.finish_entry(mark, Some(self.string(scratch)?)),
                b't' => {
                    self.word("true")?;
                    ext.finish_entry(mark, Some("true"));
                }
                b'f' => {
                    self.word("false")?;
                    ext.finish_entry(mark, Some("false"));
                }
                b'n' => {
                    self.word("null")?;
                    ext.finish_entry(mark, None);
                }
                b'-' | b'0'..=b'9' => {
                    let n = self.int()?;
                    scratch.clear();
                    // Writing into a String cannot fail.
                    let _ = write!(scratch, "{n}");
                    ext.finish_entry(mark, Some(scratch));
                }
                _ => return None, // nested values keep serde's rendering
            }
            match self.next()? {
                b',' => continue,
                b'}' => return Some(ext),
                _ => return None,
            }
        }
    }
}
