//! Plain ACL, compatible with RocketMQ 4.x (`aclEnable=true`): requests are signed with an
//! account's keys and checked against plain_acl.yml before dispatch, on the core that
//! received them.
//!
//! - [`rules`]: the file read into an immutable [`rules::AclRules`] snapshot;
//!   [`permission`], [`whitelist`]: its values; [`file`]: where it is, reading it.
//! - [`resources`]: what each request code needs; [`check`]: the check itself.
//! - [`reload`]: shard 0 polls the file and applies admin edits ([`edit`]), then hands the
//!   new snapshot to every core.
//!
//! Cost: each core holds its own [`AclGate`]; a check borrows the core's snapshot (no lock,
//! no atomic), sorts the request's ext fields and runs one HMAC-SHA1 over ~0.5 KB of
//! header plus the body. With `aclEnable=false` the shard has no gate and dispatch skips
//! the check with one `Option` test. The nameserver checks nothing, as RocketMQ's does.

pub mod check;
pub mod edit;
pub mod file;
pub mod permission;
pub mod reload;
pub mod resources;
pub mod rules;
pub mod whitelist;

use std::cell::RefCell;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::protocol::{RemotingCommand, RequestCode};
use rules::AclRules;

/// One core's view of the ACL: the rules snapshot in force and the file it came from.
pub struct AclGate {
    rules: RefCell<Arc<AclRules>>,
    /// plain_acl.yml.
    pub path: PathBuf,
    /// Shard 0: the file version the rules were read from.
    seen: RefCell<Option<file::Stamp>>,
}

impl AclGate {
    /// A gate with `rules` read from `path`.
    pub fn new(rules: Arc<AclRules>, path: PathBuf) -> Self {
        AclGate {
            rules: RefCell::new(rules),
            path,
            seen: RefCell::default(),
        }
    }

    /// Checks a request from `peer`; `Err` is the refusal's remark.
    pub fn check(
        &self,
        peer: IpAddr,
        code: RequestCode,
        req: &RemotingCommand,
    ) -> Result<(), String> {
        check::check(&self.rules.borrow(), peer, code, req)
    }

    /// Checks a gRPC call: the access key, the signature check and the call's needs.
    pub fn check_signed(
        &self,
        peer: IpAddr,
        access_key: &str,
        signed: bool,
        verify: impl FnOnce(&rules::Account) -> bool,
        needs: impl FnOnce() -> Result<(resources::Needs, String), String>,
    ) -> Result<(), String> {
        check::check_signed(
            &self.rules.borrow(),
            peer,
            access_key,
            signed,
            verify,
            needs,
        )
    }

    /// The snapshot in force.
    pub fn rules(&self) -> Arc<AclRules> {
        self.rules.borrow().clone()
    }

    /// Puts a new snapshot in force on this core.
    pub fn replace(&self, rules: Arc<AclRules>) {
        *self.rules.borrow_mut() = rules;
    }
}

/// The rules read at start, from which each core builds its gate.
#[derive(Debug, Clone)]
pub struct AclStart {
    rules: Arc<AclRules>,
    path: PathBuf,
    stamp: Option<file::Stamp>,
}

impl AclStart {
    /// Reads plain_acl.yml for a broker; a file that does not parse stops the start.
    pub fn load(
        config_file: Option<&std::path::Path>,
        store_root: &std::path::Path,
    ) -> Result<Self, String> {
        let path = file::locate(config_file, store_root);
        let stamp = file::stamp(&path);
        let rules = file::load(&path)?;
        if stamp.is_none() {
            tracing::warn!(path = %path.display(), "aclEnable=true but plain_acl.yml does not exist: every request is refused until it does");
        }
        for w in &rules.warnings {
            tracing::warn!("plain_acl.yml: {w}");
        }
        tracing::info!(path = %path.display(), accounts = rules.accounts.len(), "ACL on");
        Ok(AclStart {
            rules: Arc::new(rules),
            path,
            stamp,
        })
    }

    /// A core's gate.
    pub fn gate(&self) -> AclGate {
        let g = AclGate::new(self.rules.clone(), self.path.clone());
        g.mark_seen(self.stamp);
        g
    }
}
