//! The check every request passes when ACL is on (RocketMQ's
//! `PlainPermissionManager.validate`), in RocketMQ's order:
//!
//! 1. a globally whitelisted address passes;
//! 2. the request must name a known `AccessKey`;
//! 3. an address whitelisted for that account passes;
//! 4. the `Signature` must match;
//! 5. a PUB to the trace topic passes;
//! 6. admin requests need an admin account; an admin account without topic or group
//!    perms may do anything; otherwise each resource needs its permission, from the
//!    account's list or its default.
//!
//! A refusal's text names what was missing; it never contains a secret.

use std::net::IpAddr;

use super::permission::Perm;
use super::resources::{needs, Resource};
use super::rules::{Account, AclRules};
use crate::protocol::acl_signature::{self, ACCESS_KEY, SIGNATURE};
use crate::protocol::{RemotingCommand, RequestCode};

/// The topic message traces go to; RocketMQ lets any signed account publish to it.
const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";

/// Checks `req` from `peer`; `Err` holds the refusal's remark.
pub fn check(
    rules: &AclRules,
    peer: IpAddr,
    code: RequestCode,
    req: &RemotingCommand,
) -> Result<(), String> {
    let access_key = req.ext.get(ACCESS_KEY).unwrap_or("");
    let signed = req.ext.get(SIGNATURE).is_some_and(|s| !s.is_empty());
    check_signed(
        rules,
        peer,
        access_key,
        signed,
        |account| acl_signature::verify(req, &account.secret_key),
        || {
            needs(code, req)
                .map_err(|e| format!("cannot read the request: {e}"))
                .map(|n| (n, format!("request code {} ({})", code.code(), code.name())))
        },
    )
}

/// The check with the protocol's parts given: the access key, whether a signature came,
/// how to verify it against an account, and what the request needs (with its name for
/// refusals). Shared by remoting and gRPC.
pub fn check_signed(
    rules: &AclRules,
    peer: IpAddr,
    access_key: &str,
    signed: bool,
    verify: impl FnOnce(&Account) -> bool,
    needs: impl FnOnce() -> Result<(super::resources::Needs, String), String>,
) -> Result<(), String> {
    if rules.global_white.iter().any(|p| p.matches(peer)) {
        return Ok(());
    }
    if access_key.is_empty() {
        return Err("no signature: the request has no AccessKey (ACL is on)".into());
    }
    let Some(account) = rules.accounts.get(access_key) else {
        return Err(format!("unknown accessKey {access_key}"));
    };
    if account.white.matches(peer) {
        return Ok(());
    }
    if !signed {
        return Err(format!("no signature for accessKey {access_key}"));
    }
    if !verify(account) {
        return Err(format!("signature mismatch for accessKey {access_key}"));
    }
    let (needs, what) = needs()?;
    if needs
        .resources
        .iter()
        .any(|(r, p)| *p == Perm::PUB && *r == Resource::Topic(TRACE_TOPIC.into()))
    {
        return Ok(());
    }
    if needs.admin && !account.admin {
        return Err(format!(
            "accessKey {access_key} is not admin: {what} needs admin"
        ));
    }
    if account.admin && account.topics.is_empty() && account.groups.is_empty() {
        return Ok(());
    }
    for (resource, needed) in &needs.resources {
        let owned = owned(account, resource);
        if !owned.grants(*needed) {
            return Err(format!(
                "accessKey {access_key} has no {} permission on {resource} (it has {})",
                needed.name(),
                owned.name()
            ));
        }
    }
    Ok(())
}

fn owned(account: &Account, resource: &Resource) -> Perm {
    match resource {
        Resource::Topic(t) => account
            .topics
            .get(t)
            .copied()
            .unwrap_or(account.default_topic),
        Resource::Group(g) => account
            .groups
            .get(g)
            .copied()
            .unwrap_or(account.default_group),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::acl_signature::{sign, Credentials};
    use crate::protocol::ExtFields;

    const RULES: &str = "\
globalWhiteRemoteAddresses: [10.9.*]
accounts:
  - accessKey: producer1
    secretKey: secret-p1
    whiteRemoteAddress: 10.1.1.1
    topicPerms: [orders=PUB]
    groupPerms: [billing=SUB]
  - accessKey: adminadmin
    secretKey: secret-ad
    admin: true
";

    fn send(topic: &str) -> RemotingCommand {
        let mut e = ExtFields::new();
        e.insert("a", "pg");
        e.insert("b", topic);
        RemotingCommand::request(310, e).with_body(&b"x"[..])
    }

    fn run(req: &RemotingCommand, peer: &str) -> Result<(), String> {
        let rules = AclRules::parse(RULES).unwrap();
        let code = RequestCode::from_code(req.code).unwrap();
        check(&rules, peer.parse().unwrap(), code, req)
    }

    fn signed(mut r: RemotingCommand, ak: &str, sk: &str) -> RemotingCommand {
        sign(&mut r, &Credentials::new(ak, sk));
        r
    }

    #[test]
    fn refusals_name_what_is_missing() {
        let lo = "127.0.0.1";
        assert!(run(&send("orders"), lo)
            .unwrap_err()
            .contains("no AccessKey"));
        let e = run(&signed(send("orders"), "stranger", "whatever1"), lo).unwrap_err();
        assert_eq!(e, "unknown accessKey stranger");
        let e = run(&signed(send("orders"), "producer1", "wrong-secret"), lo).unwrap_err();
        assert_eq!(e, "signature mismatch for accessKey producer1");
        assert!(!e.contains("secret-p1"));
        run(&signed(send("orders"), "producer1", "secret-p1"), lo).unwrap();
        let e = run(&signed(send("payments"), "producer1", "secret-p1"), lo).unwrap_err();
        assert!(e.contains("no PUB permission on topic payments"), "{e}");
        // The trace topic is open to every signed account.
        run(&signed(send(TRACE_TOPIC), "producer1", "secret-p1"), lo).unwrap();
    }

    #[test]
    fn whitelists_and_admin() {
        run(&send("anything"), "10.9.3.4").unwrap();
        let mut named = send("anything");
        named.ext.insert(ACCESS_KEY, "producer1");
        run(&named, "10.1.1.1").unwrap();
        assert!(run(&named, "10.1.1.2")
            .unwrap_err()
            .contains("no signature"));
        let mut create = RemotingCommand::request(17, ExtFields::new());
        create.ext.insert("topic", "T");
        let e = run(
            &signed(create.clone(), "producer1", "secret-p1"),
            "127.0.0.1",
        )
        .unwrap_err();
        assert!(
            e.contains("not admin") && e.contains("UPDATE_AND_CREATE_TOPIC"),
            "{e}"
        );
        run(&signed(create, "adminadmin", "secret-ad"), "127.0.0.1").unwrap();
    }
}
