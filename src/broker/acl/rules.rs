//! plain_acl.yml, read into an immutable rules snapshot (RocketMQ 4.x's keys):
//!
//! ```yaml
//! globalWhiteRemoteAddresses: ["10.10.103.*"]   # pass unsigned
//! accounts:
//!   - accessKey: RocketMQ            # longer than 6 characters
//!     secretKey: "12345678"          # longer than 6 characters
//!     whiteRemoteAddress: 192.168.0.*  # this account passes unsigned from there
//!     admin: false
//!     defaultTopicPerm: DENY         # topics not listed; DENY when absent
//!     defaultGroupPerm: SUB          # groups not listed; DENY when absent
//!     topicPerms: [topicA=DENY, topicB=PUB|SUB, topicC=SUB]
//!     groupPerms: [groupA=DENY, groupB=PUB|SUB]
//! dataVersion: [{counter: 1, timestamp: 1700000000000}]   # kept by the admin commands
//! ```
//!
//! Every error names the key (`accounts[1].secretKey`); unknown keys are warnings.

use std::collections::HashMap;

use yaml_rust2::{Yaml, YamlLoader};

use super::permission::Perm;
use super::whitelist::AddressPattern;

/// Access and secret keys must be longer than this (RocketMQ's minimum).
pub const MIN_KEY_CHARS: usize = 6;

/// Why plain_acl.yml was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclFileError {
    /// Not YAML at all.
    #[error("not valid YAML: {0}")]
    Yaml(String),
    /// A key has a value of the wrong shape or content.
    #[error("{key}: {problem}")]
    Key {
        /// The key's path, e.g. `accounts[0].topicPerms[2]`.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

fn key_err(key: impl Into<String>, problem: impl Into<String>) -> AclFileError {
    AclFileError::Key {
        key: key.into(),
        problem: problem.into(),
    }
}

/// RocketMQ's DataVersion of the file (counter bumped by each admin change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataVersion {
    /// Changes made through the admin commands.
    pub counter: i64,
    /// Milliseconds since the epoch of the last such change.
    pub timestamp: i64,
}

/// One account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The access key.
    pub access_key: String,
    /// The secret key (never logged).
    pub secret_key: String,
    /// Addresses this account passes from unsigned.
    pub white: AddressPattern,
    /// May send admin requests; with no topic or group perms, may do anything.
    pub admin: bool,
    /// Permission on topics not listed.
    pub default_topic: Perm,
    /// Permission on groups not listed.
    pub default_group: Perm,
    /// Listed topics.
    pub topics: HashMap<String, Perm>,
    /// Listed groups.
    pub groups: HashMap<String, Perm>,
}

/// The rules of one plain_acl.yml: what every core checks requests against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclRules {
    /// Addresses that pass unsigned.
    pub global_white: Vec<AddressPattern>,
    /// Accounts by access key.
    pub accounts: HashMap<String, Account>,
    /// The file's version.
    pub version: DataVersion,
    /// Unknown keys met while reading (logged once).
    pub warnings: Vec<String>,
}

/// A scalar as text (YAML reads `secretKey: 12345678` as a number; RocketMQ takes it as
/// text).
fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text(y: &Yaml, key: &str) -> Result<String, AclFileError> {
    scalar(y).ok_or_else(|| key_err(key, "expected a text value"))
}

/// A list of scalars; a single scalar counts as a list of one, empty/null as none.
fn texts(y: &Yaml, key: &str) -> Result<Vec<String>, AclFileError> {
    match y {
        Yaml::Null => Ok(Vec::new()),
        Yaml::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| text(v, &format!("{key}[{i}]")))
            .collect(),
        other => Ok(vec![text(other, key)?]),
    }
}

fn perm(y: &Yaml, key: &str) -> Result<Perm, AclFileError> {
    match y {
        Yaml::Null => Ok(Perm::DENY),
        other => Perm::parse(&text(other, key)?).map_err(|e| key_err(key, e)),
    }
}

/// `name=PERM` items.
fn resource_perms(y: &Yaml, key: &str) -> Result<HashMap<String, Perm>, AclFileError> {
    let mut out = HashMap::new();
    for (i, item) in texts(y, key)?.into_iter().enumerate() {
        let k = format!("{key}[{i}]");
        let Some((name, p)) = item.split_once('=') else {
            return Err(key_err(
                k,
                format!("{item:?} is not name=PERM (e.g. topicA=SUB)"),
            ));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(key_err(k, format!("{item:?} has no name before '='")));
        }
        out.insert(name.to_owned(), Perm::parse(p).map_err(|e| key_err(&k, e))?);
    }
    Ok(out)
}

fn hash_entries<'a>(y: &'a Yaml, key: &str) -> Result<Vec<(String, &'a Yaml)>, AclFileError> {
    let Yaml::Hash(h) = y else {
        return Err(key_err(key, "expected a mapping of keys to values"));
    };
    h.iter()
        .map(|(k, v)| {
            scalar(k)
                .map(|k| (k, v))
                .ok_or_else(|| key_err(key, "a key that is not text"))
        })
        .collect()
}

fn account(y: &Yaml, key: &str, warnings: &mut Vec<String>) -> Result<Account, AclFileError> {
    let mut a = Account {
        access_key: String::new(),
        secret_key: String::new(),
        white: AddressPattern::Nothing,
        admin: false,
        default_topic: Perm::DENY,
        default_group: Perm::DENY,
        topics: HashMap::new(),
        groups: HashMap::new(),
    };
    for (k, v) in hash_entries(y, key)? {
        let path = format!("{key}.{k}");
        match k.as_str() {
            "accessKey" => a.access_key = text(v, &path)?,
            "secretKey" => a.secret_key = text(v, &path)?,
            "whiteRemoteAddress" => {
                let p = if v.is_null() {
                    String::new()
                } else {
                    text(v, &path)?
                };
                a.white = AddressPattern::parse(&p).map_err(|e| key_err(&path, e))?;
            }
            "admin" => {
                a.admin = match (v, scalar(v).as_deref()) {
                    (Yaml::Null, _) | (_, Some("false")) => false,
                    (_, Some("true")) => true,
                    _ => return Err(key_err(path, "expected true or false")),
                }
            }
            "defaultTopicPerm" => a.default_topic = perm(v, &path)?,
            "defaultGroupPerm" => a.default_group = perm(v, &path)?,
            "topicPerms" => a.topics = resource_perms(v, &path)?,
            "groupPerms" => a.groups = resource_perms(v, &path)?,
            _ => warnings.push(format!("unknown key {path} ignored")),
        }
    }
    if a.access_key.chars().count() <= MIN_KEY_CHARS {
        return Err(key_err(
            format!("{key}.accessKey"),
            format!("must be longer than {MIN_KEY_CHARS} characters"),
        ));
    }
    if a.secret_key.chars().count() <= MIN_KEY_CHARS {
        // Names the account, never the secret.
        return Err(key_err(
            format!("{key}.secretKey"),
            format!(
                "(accessKey {}) must be longer than {MIN_KEY_CHARS} characters",
                a.access_key
            ),
        ));
    }
    Ok(a)
}

fn data_version(y: &Yaml) -> Result<DataVersion, AclFileError> {
    let first = match y {
        Yaml::Array(items) => match items.first() {
            Some(f) => f,
            None => return Ok(DataVersion::default()),
        },
        Yaml::Null => return Ok(DataVersion::default()),
        other => other,
    };
    let mut v = DataVersion::default();
    for (k, val) in hash_entries(first, "dataVersion[0]")? {
        let n = match val {
            Yaml::Integer(i) => *i,
            _ => return Err(key_err(format!("dataVersion[0].{k}"), "expected a number")),
        };
        match k.as_str() {
            "counter" => v.counter = n,
            "timestamp" => v.timestamp = n,
            _ => {}
        }
    }
    Ok(v)
}

/// Loads the YAML document of a file's text (an empty file is an empty mapping).
pub fn document(text: &str) -> Result<Yaml, AclFileError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| AclFileError::Yaml(e.to_string()))?;
    match docs.into_iter().next() {
        None | Some(Yaml::Null) => Ok(Yaml::Hash(Default::default())),
        Some(d @ Yaml::Hash(_)) => Ok(d),
        Some(_) => Err(AclFileError::Yaml(
            "the top level must be a mapping (globalWhiteRemoteAddresses, accounts, ...)".into(),
        )),
    }
}

impl AclRules {
    /// Reads the rules from plain_acl.yml's text.
    pub fn parse(text: &str) -> Result<AclRules, AclFileError> {
        Self::from_document(&document(text)?)
    }

    /// Reads the rules from a loaded document.
    pub fn from_document(doc: &Yaml) -> Result<AclRules, AclFileError> {
        let mut rules = AclRules::default();
        for (k, v) in hash_entries(doc, "plain_acl.yml")? {
            match k.as_str() {
                "globalWhiteRemoteAddresses" => {
                    for (i, p) in texts(v, &k)?.into_iter().enumerate() {
                        let pattern = AddressPattern::parse(&p)
                            .map_err(|e| key_err(format!("{k}[{i}]"), e))?;
                        rules.global_white.push(pattern);
                    }
                }
                "accounts" => {
                    let items = match v {
                        Yaml::Array(items) => items.as_slice(),
                        Yaml::Null => &[],
                        _ => return Err(key_err(k, "expected a list of accounts")),
                    };
                    for (i, item) in items.iter().enumerate() {
                        let key = format!("accounts[{i}]");
                        let a = account(item, &key, &mut rules.warnings)?;
                        if rules.accounts.contains_key(&a.access_key) {
                            return Err(key_err(
                                format!("{key}.accessKey"),
                                format!("{} is listed twice", a.access_key),
                            ));
                        }
                        rules.accounts.insert(a.access_key.clone(), a);
                    }
                }
                "dataVersion" => rules.version = data_version(v)?,
                _ => rules.warnings.push(format!("unknown key {k} ignored")),
            }
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RocketMQ 4.9's distribution/conf/plain_acl.yml, as operators have it.
    pub const ROCKETMQ_SAMPLE: &str = "\
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*

accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      # the group should convert to retry topic
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB

  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    # if it is admin, it could access all resources
    admin: true
";

    #[test]
    fn rocketmq_sample_loads() {
        let r = AclRules::parse(ROCKETMQ_SAMPLE).unwrap();
        assert_eq!(r.global_white.len(), 2);
        let a = &r.accounts["RocketMQ"];
        assert_eq!(a.secret_key, "12345678");
        assert_eq!(a.white, AddressPattern::Nothing);
        assert_eq!((a.default_topic, a.default_group), (Perm::DENY, Perm::SUB));
        assert_eq!(a.topics["topicB"], Perm::PUB_SUB);
        assert_eq!(a.groups["groupC"], Perm::SUB);
        let b = &r.accounts["rocketmq2"];
        assert!(b.admin && b.topics.is_empty());
        assert_eq!(b.default_topic, Perm::DENY, "absent defaults deny");
        assert!(r.warnings.is_empty());
        assert_eq!(AclRules::parse("").unwrap(), AclRules::default());
    }

    #[test]
    fn errors_name_the_key_and_never_the_secret() {
        let cases = [
            ("accounts:\n  - accessKey: abc\n    secretKey: 12345678\n", "accounts[0].accessKey"),
            (
                "accounts:\n  - accessKey: abcdefgh\n    secretKey: s3cr\n",
                "accounts[0].secretKey",
            ),
            (
                "accounts:\n  - accessKey: abcdefgh\n    secretKey: 12345678\n    topicPerms: [t=READ]\n",
                "accounts[0].topicPerms[0]",
            ),
            (
                "accounts:\n  - accessKey: abcdefgh\n    secretKey: 12345678\n    groupPerms: [g]\n",
                "accounts[0].groupPerms[0]",
            ),
            (
                "accounts:\n  - accessKey: abcdefgh\n    secretKey: 12345678\n    defaultTopicPerm: ALL\n",
                "accounts[0].defaultTopicPerm",
            ),
            (
                "accounts:\n  - accessKey: abcdefgh\n    secretKey: 12345678\n    whiteRemoteAddress: 1.2.3.999\n",
                "accounts[0].whiteRemoteAddress",
            ),
            ("globalWhiteRemoteAddresses: [10.*, 300.1.1.1]\n", "globalWhiteRemoteAddresses[1]"),
            ("accounts: 5\n", "accounts"),
            (
                "accounts:\n  - {accessKey: abcdefgh, secretKey: 12345678}\n  - {accessKey: abcdefgh, secretKey: 87654321}\n",
                "accounts[1].accessKey",
            ),
        ];
        for (text, key) in cases {
            let e = AclRules::parse(text).unwrap_err().to_string();
            assert!(e.starts_with(key), "{key}: {e}");
            assert!(!e.contains("s3cr") && !e.contains("12345678"), "{e}");
        }
        assert!(matches!(
            AclRules::parse("accounts: [\n"),
            Err(AclFileError::Yaml(_))
        ));
        let r = AclRules::parse(
            "colour: red\naccounts:\n  - {accessKey: abcdefgh, secretKey: 12345678, extra: 1}\n",
        )
        .unwrap();
        assert_eq!(
            r.warnings,
            [
                "unknown key colour ignored",
                "unknown key accounts[0].extra ignored"
            ]
        );
    }

    #[test]
    fn data_version_is_read() {
        let r = AclRules::parse("dataVersion:\n  - counter: 3\n    timestamp: 1700000000000\n")
            .unwrap();
        assert_eq!(
            r.version,
            DataVersion {
                counter: 3,
                timestamp: 1_700_000_000_000
            }
        );
    }
}
