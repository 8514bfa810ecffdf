//! `extFields`: the string map that carries every typed "custom header" field.
//!
//! On the wire every value is a string (Java's `String.valueOf`); receivers parse them back.
//! [`ExtFields`] keeps insertion order in a small vector: requests carry 5 to 15 fields, so a
//! linear scan beats hashing and keeps encoding deterministic. Typed headers are declared with
//! [`command_header!`], which generates parsing that names a missing or malformed field.

use thiserror::Error;

/// Why a typed header could not be read from `extFields`.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeaderError {
    /// A required field is absent (Java: "the custom field <x> is null").
    #[error("the custom field {0} is null")]
    Missing(&'static str),
    /// A field is present but does not parse as its type.
    #[error("the custom field {field} has a bad value {value:?}: expected {expected}")]
    BadValue {
        /// Field name.
        field: &'static str,
        /// The text received.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// The ordered string map of a command's custom header fields.
///
/// Keys and values live in one text buffer with spans into it: decoding a request costs
/// two allocations, not two per field (a SEND_MESSAGE_V2 header has ~14 fields, and
/// per-field `String`s were a visible share of the broker's allocation time).
#[derive(Debug, Clone, Default)]
pub struct ExtFields {
    /// Every key and value, back to back (a replaced value leaves its old text behind).
    text: String,
    /// (key, value) byte ranges of `text`, in insertion order.
    spans: Vec<(TextSpan, TextSpan)>,
}

/// A byte range of [`ExtFields`]' text.
#[derive(Debug, Clone, Copy)]
struct TextSpan {
    start: u32,
    end: u32,
}

impl PartialEq for ExtFields {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl ExtFields {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            text: String::with_capacity(n * 24),
            spans: Vec::with_capacity(n),
        }
    }

    fn at(&self, span: TextSpan) -> &str {
        &self.text[span.start as usize..span.end as usize]
    }

    /// Appends `piece` to the text; its range.
    fn push_text(&mut self, piece: &str) -> TextSpan {
        let start = self.text.len();
        self.text.push_str(piece);
        self.span_from(start)
    }

    /// The range from `start` to the end of the text.
    fn span_from(&self, start: usize) -> TextSpan {
        // Headers are bounded by the frame size, far below 4 GiB; spans are u32.
        assert!(
            self.text.len() <= u32::MAX as usize,
            "extFields text past 4 GiB"
        );
        TextSpan {
            start: start as u32,
            end: self.text.len() as u32,
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.spans
            .iter()
            .find(|(k, _)| self.at(*k) == key)
            .map(|(_, v)| self.at(*v))
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let (key, value) = (key.as_ref(), value.as_ref());
        let v = self.push_text(value);
        match self.spans.iter().position(|(k, _)| self.at(*k) == key) {
            Some(i) => self.spans[i].1 = v,
            None => {
                let k = self.push_text(key);
                self.spans.push((k, v));
            }
        }
    }

    /// Appends without checking for an earlier value: for encoders whose keys are known to
    /// be distinct (decoders use [`Self::push_decoded`]).
    pub(crate) fn push_unchecked(&mut self, key: &str, value: &str) {
        let key = self.push_text(key);
        let value = self.push_text(value);
        self.spans.push((key, value));
    }

    /// Adds a decoded field; a repeated key takes the later value (see [`Self::finish_entry`]).
    pub(crate) fn push_decoded(&mut self, key: &str, value: &str) {
        let mark = self.begin_entry(key);
        self.finish_entry(mark, Some(value));
    }

    /// Starts an entry whose value comes later ([`Self::finish_entry`]): decoders write
    /// the key straight from the input.
    pub(crate) fn begin_entry(&mut self, key: &str) -> usize {
        let mark = self.text.len();
        self.push_text(key);
        mark
    }

    /// Completes the entry begun at `mark` with `value`, or drops it (a null value).
    ///
    /// A key already present keeps one entry with the later value, as the Java broker's
    /// `HashMap` does: RocketMQ 4.9's client writes every field of a SEND_MESSAGE_V2 or
    /// PULL_MESSAGE binary header twice once an RPC hook has run (signing copies the fields
    /// into extFields, and the fast encoder writes them again), and a signature is checked
    /// over each key once.
    pub(crate) fn finish_entry(&mut self, mark: usize, value: Option<&str>) {
        let Some(value) = value else {
            self.text.truncate(mark);
            return;
        };
        let key = self.span_from(mark);
        let earlier = {
            let k = self.at(key);
            self.spans.iter().position(|(e, _)| self.at(*e) == k)
        };
        match earlier {
            Some(i) => {
                self.text.truncate(mark);
                let v = self.push_text(value);
                self.spans[i].1 = v;
            }
            None => {
                let v = self.push_text(value);
                self.spans.push((key, v));
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.spans.iter().map(|(k, v)| (self.at(*k), self.at(*v)))
    }

    /// Appends `key` with `value` rendered in place (no `String` per field): for encoders
    /// whose keys are known to be distinct.
    pub(crate) fn push_display(&mut self, key: &str, value: impl std::fmt::Display) {
        use std::fmt::Write as _;
        let mark = self.begin_entry(key);
        let key = self.span_from(mark);
        let start = self.text.len();
        // Formatting into a String cannot fail.
        let _ = write!(self.text, "{value}");
        let value = self.span_from(start);
        self.spans.push((key, value));
    }
}

/// Parses a required field from its text (`None`: absent).
pub fn parse_required<T: ExtValue>(
    field: &'static str,
    text: Option<&str>,
) -> Result<T, HeaderError> {
    match text {
        Some(text) => T::parse_ext(text).ok_or_else(|| bad_value::<T>(field, text)),
        None => Err(HeaderError::Missing(field)),
    }
}

/// Parses an optional field from its text; a present but malformed value is an error.
pub fn parse_optional<T: ExtValue>(
    field: &'static str,
    text: Option<&str>,
) -> Result<Option<T>, HeaderError> {
    text.map(|text| T::parse_ext(text).ok_or_else(|| bad_value::<T>(field, text)))
        .transpose()
}

fn bad_value<T: ExtValue>(field: &'static str, text: &str) -> HeaderError {
    HeaderError::BadValue {
        field,
        value: shorten(text),
        expected: T::EXPECTED,
    }
}

/// The first characters of a bad value, for error messages.
fn shorten(text: &str) -> String {
    crate::protocol::command::truncate_chars(text.to_owned(), 64)
}

/// A type that can travel as an extFields string.
pub trait ExtValue: Sized {
    /// Human name of the expected form, for error messages.
    const EXPECTED: &'static str;
    /// Parses the wire text; `None` when malformed.
    fn parse_ext(text: &str) -> Option<Self>;
    /// Renders the wire text.
    fn to_ext(&self) -> String;
    /// Appends `key` with this value to `ext` (keys known distinct; see
    /// [`ExtFields::push_display`]).
    fn push_ext(&self, key: &str, ext: &mut ExtFields) {
        ext.push_unchecked(key, &self.to_ext());
    }
}

impl ExtValue for String {
    const EXPECTED: &'static str = "a string";
    fn parse_ext(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
    fn to_ext(&self) -> String {
        self.clone()
    }
    fn push_ext(&self, key: &str, ext: &mut ExtFields) {
        ext.push_unchecked(key, self);
    }
}

impl ExtValue for bool {
    const EXPECTED: &'static str = "true or false";
    /// Java's `Boolean.parseBoolean`: "true" in any case is true, anything else false.
    fn parse_ext(text: &str) -> Option<Self> {
        Some(text.eq_ignore_ascii_case("true"))
    }
    fn to_ext(&self) -> String {
        self.to_string()
    }
}

macro_rules! ext_value_int {
    ($($t:ty),*) => {$(
        impl ExtValue for $t {
            const EXPECTED: &'static str = concat!("an integer (", stringify!($t), ")");
            fn parse_ext(text: &str) -> Option<Self> {
                text.trim().parse().ok()
            }
            fn to_ext(&self) -> String {
                self.to_string()
            }
            fn push_ext(&self, key: &str, ext: &mut ExtFields) {
                ext.push_display(key, self);
            }
        }
    )*};
}
ext_value_int!(i8, i16, i32, i64, u8, u16, u32, u64);

/// A typed request or response header read from / written to [`ExtFields`].
pub trait CommandHeader: Sized {
    /// Reads the header, naming the first missing or malformed field.
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError>;
    /// Writes every present field as a string.
    fn to_ext(&self) -> ExtFields;
}

/// Declares a typed header struct whose fields map to extFields keys.
///
/// `name: T = "key"` is required; `name: Option<T> = "key"` is optional.
#[macro_export]
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $kind:ident $(< $inner:ty >)? = $key:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name { $( $(#[$fmeta])* pub $field: $kind $(< $inner >)? ),* }

        impl $crate::protocol::ext_fields::CommandHeader for $name {
            fn from_ext(ext: &$crate::protocol::ext_fields::ExtFields)
                -> Result<Self, $crate::protocol::ext_fields::HeaderError> {
                // One pass over the entries, each key matched once (a per-field `get` scanned
                // the entries once per field: the send header's 14 fields made ~100 string
                // compares per request). The first of repeated keys wins, as with `get`.
                $( let mut $field: Option<&str> = None; )*
                for (key, value) in ext.iter() {
                    match key {
                        $( $key => { $field = $field.or(Some(value)); } )*
                        _ => {}
                    }
                }
                Ok(Self { $( $field: $crate::command_header!(@read $field, $key, $kind $(< $inner >)?) ),* })
            }
            fn to_ext(&self) -> $crate::protocol::ext_fields::ExtFields {
                use $crate::protocol::ext_fields::ExtValue as _;
                const FIELDS: usize = [$($key),*].len();
                let mut ext = $crate::protocol::ext_fields::ExtFields::with_capacity(FIELDS);
                $( $crate::command_header!(@write ext, self.$field, $key, $kind $(< $inner >)?); )*
                ext
            }
        }
    };
    (@read $text:ident, $key:literal, Option < $inner:ty >) => {
        $crate::protocol::ext_fields::parse_optional::<$inner>($key, $text)?
    };
    (@read $text:ident, $key:literal, $t:ty) => {
        $crate::protocol::ext_fields::parse_required::<$t>($key, $text)?
    };
    // Struct fields have distinct keys, so entries are appended without a lookup.
    (@write $ext:ident, $v:expr, $key:literal, Option < $inner:ty >) => {
        if let Some(v) = &$v { v.push_ext($key, &mut $ext); }
    };
    (@write $ext:ident, $v:expr, $key:literal, $t:ty) => { $v.push_ext($key, &mut $ext); };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::command_header! {
        /// Test header.
        pub struct Sample {
            pub topic: String = "topic",
            pub queue_id: i32 = "queueId",
            pub flag: Option<bool> = "flag",
        }
    }

    #[test]
    fn typed_header_round_trips_and_names_missing_fields() {
        let h = Sample {
            topic: "T".into(),
            queue_id: 3,
            flag: None,
        };
        let ext = h.to_ext();
        assert_eq!(ext.get("queueId"), Some("3"));
        assert_eq!(ext.get("flag"), None);
        assert_eq!(Sample::from_ext(&ext).unwrap(), h);

        let mut missing = ExtFields::new();
        missing.insert("topic", "T");
        assert_eq!(
            Sample::from_ext(&missing),
            Err(HeaderError::Missing("queueId"))
        );
        missing.insert("queueId", "x1");
        let err = Sample::from_ext(&missing).unwrap_err();
        assert!(err.to_string().contains("queueId"), "{err}");
    }

    #[test]
    fn typed_read_ignores_unknown_keys_and_a_decoded_repeat_takes_the_later_value() {
        let mut ext = ExtFields::new();
        ext.push_decoded("extra", "x");
        ext.push_decoded("topic", "first");
        ext.push_decoded("queueId", "7");
        ext.push_decoded("topic", "second");
        let h = Sample::from_ext(&ext).unwrap();
        assert_eq!((h.topic.as_str(), h.queue_id, h.flag), ("second", 7, None));
        assert_eq!(ext.get("topic"), Some("second"), "the same rule as get");
        let keys: Vec<&str> = ext.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["extra", "topic", "queueId"],
            "a repeated key is kept once"
        );

        // Two bad fields: the first declared is named, whatever the wire order.
        let mut bad = ExtFields::new();
        bad.push_decoded("queueId", "x");
        let err = Sample::from_ext(&bad).unwrap_err();
        assert_eq!(err, HeaderError::Missing("topic"));
    }

    #[test]
    fn typed_write_renders_numbers_in_place() {
        let h = Sample {
            topic: "T".into(),
            queue_id: -12,
            flag: Some(true),
        };
        let ext = h.to_ext();
        let got: Vec<_> = ext.iter().collect();
        assert_eq!(got, [("topic", "T"), ("queueId", "-12"), ("flag", "true")]);
    }

    #[test]
    fn booleans_parse_like_java() {
        assert_eq!(bool::parse_ext("TRUE"), Some(true));
        assert_eq!(bool::parse_ext("yes"), Some(false));
    }
}
