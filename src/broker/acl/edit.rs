//! Changes the admin commands make to plain_acl.yml's document (RocketMQ's
//! `PlainPermissionManager.updateAccessConfig` / `deleteAccessConfig` /
//! `updateGlobalWhiteAddrsConfig`): other keys and accounts are kept as they are, and the
//! file's `dataVersion` counter goes up by one.

use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter};

use super::rules::{AclFileError, AclRules};

/// One account's fields as UPDATE_AND_CREATE_ACL_CONFIG carries them; `None` keeps what
/// the file has (a new account gets RocketMQ's defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountUpdate {
    /// The account.
    pub access_key: String,
    /// New secret key.
    pub secret_key: Option<String>,
    /// New whitelist pattern.
    pub white_remote_address: Option<String>,
    /// Admin flag (RocketMQ always sends it).
    pub admin: Option<bool>,
    /// New default topic permission.
    pub default_topic_perm: Option<String>,
    /// New default group permission.
    pub default_group_perm: Option<String>,
    /// New topic list (`name=PERM` items).
    pub topic_perms: Option<Vec<String>>,
    /// New group list.
    pub group_perms: Option<Vec<String>>,
}

/// One admin change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclChange {
    /// Create or update an account.
    Upsert(AccountUpdate),
    /// Remove an account.
    Delete(String),
    /// Replace globalWhiteRemoteAddresses.
    GlobalWhite(Vec<String>),
}

fn s(v: &str) -> Yaml {
    Yaml::String(v.to_owned())
}

fn list(items: &[String]) -> Yaml {
    Yaml::Array(items.iter().map(|i| s(i)).collect())
}

fn is_account(y: &Yaml, access_key: &str) -> bool {
    y["accessKey"] == s(access_key)
        || matches!(&y["accessKey"], Yaml::Integer(i) if i.to_string() == access_key)
}

fn upsert(account: &mut Hash, u: &AccountUpdate) {
    account.insert(s("accessKey"), s(&u.access_key));
    let mut set = |k: &str, v: Option<Yaml>| {
        if let Some(v) = v {
            account.insert(s(k), v);
        }
    };
    set("secretKey", u.secret_key.as_deref().map(s));
    set(
        "whiteRemoteAddress",
        u.white_remote_address.as_deref().map(s),
    );
    set("admin", u.admin.map(Yaml::Boolean));
    set("defaultTopicPerm", u.default_topic_perm.as_deref().map(s));
    set("defaultGroupPerm", u.default_group_perm.as_deref().map(s));
    set("topicPerms", u.topic_perms.as_deref().map(list));
    set("groupPerms", u.group_perms.as_deref().map(list));
}

/// Applies `change` to `doc` (a mapping) at `now_ms`; `Err` when there is nothing to
/// change (deleting an unknown account).
pub fn apply(doc: &mut Yaml, change: &AclChange, now_ms: i64) -> Result<(), String> {
    let Yaml::Hash(top) = doc else {
        return Err("plain_acl.yml's top level is not a mapping".into());
    };
    let accounts_key = s("accounts");
    match change {
        AclChange::Upsert(u) => {
            let accounts = top
                .entry(accounts_key)
                .or_insert_with(|| Yaml::Array(Vec::new()));
            if !matches!(accounts, Yaml::Array(_)) {
                *accounts = Yaml::Array(Vec::new());
            }
            let Yaml::Array(items) = accounts else {
                unreachable!()
            };
            match items.iter_mut().find(|a| is_account(a, &u.access_key)) {
                Some(Yaml::Hash(a)) => upsert(a, u),
                _ => {
                    let mut a = Hash::new();
                    upsert(&mut a, u);
                    items.push(Yaml::Hash(a));
                }
            }
        }
        AclChange::Delete(access_key) => {
            let Some(Yaml::Array(items)) = top.get_mut(&accounts_key) else {
                return Err(format!("no account with accessKey {access_key}"));
            };
            let before = items.len();
            items.retain(|a| !is_account(a, access_key));
            if items.len() == before {
                return Err(format!("no account with accessKey {access_key}"));
            }
        }
        AclChange::GlobalWhite(patterns) => {
            top.insert(s("globalWhiteRemoteAddresses"), list(patterns));
        }
    }
    let counter = AclRules::from_document(&Yaml::Hash(top.clone()))
        .map(|r| r.version.counter)
        .unwrap_or(0);
    let mut version = Hash::new();
    version.insert(s("counter"), Yaml::Integer(counter + 1));
    version.insert(s("timestamp"), Yaml::Integer(now_ms));
    top.insert(s("dataVersion"), Yaml::Array(vec![Yaml::Hash(version)]));
    Ok(())
}

/// The document as YAML text.
pub fn render(doc: &Yaml) -> Result<String, AclFileError> {
    let mut out = String::new();
    YamlEmitter::new(&mut out)
        .dump(doc)
        .map_err(|e| AclFileError::Yaml(format!("cannot write the document: {e:?}")))?;
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::acl::permission::Perm;
    use crate::broker::acl::rules::document;

    fn update(ak: &str) -> AccountUpdate {
        AccountUpdate {
            access_key: ak.into(),
            secret_key: Some("secret-123".into()),
            admin: Some(false),
            topic_perms: Some(vec!["orders=PUB".into(), "audit=PUB|SUB".into()]),
            ..Default::default()
        }
    }

    #[test]
    fn changes_round_trip_through_the_file() {
        let mut doc = document(
            "# operators' notes are not kept by the emitter, keys are\nglobalWhiteRemoteAddresses: []\naccounts:\n  - accessKey: keepme1\n    secretKey: 12345678\n    defaultTopicPerm: SUB\n",
        )
        .unwrap();
        apply(&mut doc, &AclChange::Upsert(update("newuser1")), 1000).unwrap();
        apply(
            &mut doc,
            &AclChange::GlobalWhite(vec!["10.10.103.*".into(), "192.168.1.{1,2}".into()]),
            2000,
        )
        .unwrap();
        let text = render(&doc).unwrap();
        let r = AclRules::parse(&text).unwrap();
        assert_eq!(r.accounts["keepme1"].default_topic, Perm::SUB);
        assert_eq!(r.accounts["keepme1"].secret_key, "12345678");
        assert_eq!(r.accounts["newuser1"].topics["audit"], Perm::PUB_SUB);
        assert_eq!(r.global_white.len(), 2);
        assert_eq!((r.version.counter, r.version.timestamp), (2, 2000));

        // Updating keeps what the change does not name.
        let mut doc = document(&text).unwrap();
        let partial = AccountUpdate {
            access_key: "newuser1".into(),
            default_group_perm: Some("SUB".into()),
            ..Default::default()
        };
        apply(&mut doc, &AclChange::Upsert(partial), 3000).unwrap();
        let r = AclRules::from_document(&doc).unwrap();
        assert_eq!(r.accounts["newuser1"].default_group, Perm::SUB);
        assert_eq!(r.accounts["newuser1"].topics["orders"], Perm::PUB);

        apply(&mut doc, &AclChange::Delete("keepme1".into()), 4000).unwrap();
        let e = apply(&mut doc, &AclChange::Delete("keepme1".into()), 5000).unwrap_err();
        assert!(e.contains("keepme1"));
        let r = AclRules::parse(&render(&doc).unwrap()).unwrap();
        assert!(!r.accounts.contains_key("keepme1"));
        assert_eq!(r.version.counter, 4);
    }

    #[test]
    fn an_empty_file_takes_changes() {
        let mut doc = document("").unwrap();
        apply(&mut doc, &AclChange::Upsert(update("first-user")), 1).unwrap();
        let r = AclRules::parse(&render(&doc).unwrap()).unwrap();
        assert!(r.accounts.contains_key("first-user"));
    }
}
