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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtFields(Vec<(String, String)>);

impl ExtFields {
    /// An empty map.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Appends without checking for an earlier value (decoders: the last one wins on lookup
    /// only if keys are unique, which every real client guarantees).
    pub(crate) fn push_unchecked(&mut self, key: String, value: String) {
        self.0.push((key, value));
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Reads a required field.
    pub fn required<T: ExtValue>(&self, field: &'static str) -> Result<T, HeaderError> {
        match self.get(field) {
            Some(text) => T::parse_ext(text).ok_or_else(|| HeaderError::BadValue {
                field,
                value: shorten(text),
                expected: T::EXPECTED,
            }),
            None => Err(HeaderError::Missing(field)),
        }
    }

    /// Reads an optional field; a present but malformed value is still an error.
    pub fn optional<T: ExtValue>(&self, field: &'static str) -> Result<Option<T>, HeaderError> {
        match self.get(field) {
            Some(text) => T::parse_ext(text)
                .map(Some)
                .ok_or_else(|| HeaderError::BadValue {
                    field,
                    value: shorten(text),
                    expected: T::EXPECTED,
                }),
            None => Ok(None),
        }
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
}

impl ExtValue for String {
    const EXPECTED: &'static str = "a string";
    fn parse_ext(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
    fn to_ext(&self) -> String {
        self.clone()
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
                Ok(Self { $( $field: $crate::command_header!(@read ext, $key, $kind $(< $inner >)?) ),* })
            }
            fn to_ext(&self) -> $crate::protocol::ext_fields::ExtFields {
                #[allow(unused_imports)]
                use $crate::protocol::ext_fields::ExtValue as _;
                let mut ext = $crate::protocol::ext_fields::ExtFields::new();
                $( $crate::command_header!(@write ext, self.$field, $key, $kind $(< $inner >)?); )*
                ext
            }
        }
    };
    (@read $ext:ident, $key:literal, Option < $inner:ty >) => { $ext.optional::<$inner>($key)? };
    (@read $ext:ident, $key:literal, $t:ty) => { $ext.required::<$t>($key)? };
    (@write $ext:ident, $v:expr, $key:literal, Option < $inner:ty >) => {
        if let Some(v) = &$v { $ext.insert($key, v.to_ext()); }
    };
    (@write $ext:ident, $v:expr, $key:literal, $t:ty) => { $ext.insert($key, $v.to_ext()); };
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
    fn booleans_parse_like_java() {
        assert_eq!(bool::parse_ext("TRUE"), Some(true));
        assert_eq!(bool::parse_ext("yes"), Some(false));
    }
}
