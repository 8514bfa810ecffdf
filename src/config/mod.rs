//! Configuration: Java property files with RocketMQ's keys and defaults, plus coremq's own
//! keys beside them (documented in tuning/).
//!
//! An unknown key is a warning naming it, never a silent no-op; RocketMQ keys that mean
//! nothing to coremq (thread pools, mmap warm-up, JVM settings) are accepted with a warning so
//! an operator's existing file still starts; a bad value is an error naming the file and key.

pub mod broker;
pub mod namesrv;
pub mod namesrv_addr;
pub mod properties;
mod schema;
mod value;

use std::path::{Path, PathBuf};

pub use value::{expand_home, home_dir, ConfigValue};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// OS error text.
        reason: String,
    },
    /// A key has a value of the wrong form.
    #[error("{origin}: bad value {value:?} for key {key}: expected {expected}")]
    BadValue {
        /// Where the value came from (`file:line` or `command line`).
        origin: String,
        /// The key.
        key: &'static str,
        /// The text given.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// Values that parse but do not make sense together.
    #[error("{0}")]
    Invalid(String),
}

/// A config struct declared with [`config_struct!`].
pub trait Config: Default {
    /// Sets one key; `Ok(false)` when unknown.
    fn set_key(&mut self, key: &str, value: &str) -> Result<bool, (&'static str, String)>;
    /// RocketMQ keys accepted with a warning because they mean nothing to coremq.
    fn inert_keys() -> &'static [&'static str];
    /// After a file is read: defaults that follow other keys, for the keys `explicit`
    /// says the file did not set.
    fn derive_defaults(&mut self, _explicit: &dyn Fn(&str) -> bool) {}
}

/// Loads `path` (if given) over the defaults. Returns the config and the warnings to log.
pub fn load<C: Config>(path: Option<&Path>) -> Result<(C, Vec<String>), ConfigError> {
    let mut config = C::default();
    let mut warnings = Vec::new();
    let Some(path) = path else {
        return Ok((config, warnings));
    };
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let mut set = std::collections::HashSet::new();
    for e in properties::parse(&text) {
        match config.set_key(&e.key, &e.value) {
            Ok(true) => {
                set.insert(e.key);
            }
            Ok(false) if C::inert_keys().contains(&e.key.as_str()) => warnings.push(format!(
                "{}:{}: key {} has no effect in coremq; ignored",
                path.display(),
                e.line,
                e.key
            )),
            Ok(false) => warnings.push(format!(
                "{}:{}: unknown key {} ignored",
                path.display(),
                e.line,
                e.key
            )),
            Err((key, expected)) => {
                return Err(ConfigError::BadValue {
                    origin: format!("{}:{}", path.display(), e.line),
                    key,
                    value: e.value,
                    expected,
                })
            }
        }
    }
    config.derive_defaults(&|k| set.contains(k));
    Ok((config, warnings))
}

/// Applies a command-line override, which wins over the file.
pub fn set_from_cli<C: Config>(
    config: &mut C,
    key: &'static str,
    value: &str,
) -> Result<(), ConfigError> {
    match config.set_key(key, value) {
        Ok(_) => Ok(()),
        Err((key, expected)) => Err(ConfigError::BadValue {
            origin: "command line".into(),
            key,
            value: value.to_owned(),
            expected,
        }),
    }
}

/// Renders `key=value` lines for `-p`.
pub fn render(entries: &[(&'static str, String)]) -> String {
    entries.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}
