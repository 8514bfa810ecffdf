//! Typed config values: parsing with an error that says what was expected.

use std::path::PathBuf;

/// A type a config key can hold.
pub trait ConfigValue: Sized {
    /// Parses the text of a property; `Err` holds what was expected.
    fn parse_value(text: &str) -> Result<Self, String>;
    /// Renders the value as `-p` prints it.
    fn render(&self) -> String;
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl ConfigValue for $t {
            fn parse_value(text: &str) -> Result<Self, String> {
                text.trim().parse().map_err(|_| format!(
                    "an integer from {} to {}", <$t>::MIN, <$t>::MAX
                ))
            }
            fn render(&self) -> String { self.to_string() }
        }
    )*};
}
int_value!(u8, u16, u32, u64, usize, i32, i64);

impl ConfigValue for bool {
    fn parse_value(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("true or false".into()),
        }
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for String {
    fn parse_value(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

impl ConfigValue for PathBuf {
    fn parse_value(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("a path".into());
        }
        Ok(expand_home(text.trim()))
    }
    fn render(&self) -> String {
        self.display().to_string()
    }
}

/// The user's home directory (`$HOME`, falling back to `/` when unset).
pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Expands a leading `~` or `~/` to the home directory.
pub fn expand_home(path: &str) -> PathBuf {
    if path == "~" {
        return home_dir();
    }
    match path.strip_prefix("~/") {
        Some(rest) => home_dir().join(rest),
        None => PathBuf::from(path),
    }
}

/// Declares a string-valued enum config type (`ASYNC_FLUSH`, `SYNC_FLUSH`, ...).
#[macro_export]
macro_rules! config_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vm])* $variant),* }
        impl $crate::config::ConfigValue for $name {
            fn parse_value(text: &str) -> Result<Self, String> {
                match text.trim() {
                    $($text => Ok(Self::$variant),)*
                    _ => Err(concat!("one of:" $(, " ", $text)*).to_string()),
                }
            }
            fn render(&self) -> String {
                match self { $(Self::$variant => $text.to_string()),* }
            }
        }
    };
}
