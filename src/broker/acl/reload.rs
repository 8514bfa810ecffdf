//! Shard 0 keeps plain_acl.yml: it polls the file every [`ACL_RELOAD_POLL_MS`] and applies
//! the admin commands' edits, and after either hands the new snapshot to every core. A
//! file that does not parse keeps the rules in force; the reason is logged once per
//! version of the file.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::edit::{self, AclChange};
use super::file::{self, ACL_RELOAD_POLL_MS};
use super::rules::{self, AclRules};
use super::AclGate;
use crate::broker::shard::Shard;

impl AclGate {
    /// Records the file version the rules in force came from (shard 0).
    pub fn mark_seen(&self, stamp: Option<file::Stamp>) {
        *self.seen.borrow_mut() = stamp;
    }
}

fn log_warnings(rules: &AclRules) {
    for w in &rules.warnings {
        tracing::warn!("plain_acl.yml: {w}");
    }
}

/// Puts `rules` in force on every core.
async fn broadcast(shard: &Shard, rules: AclRules) -> Result<(), String> {
    let rules = Arc::new(rules);
    shard
        .run_on_all(move |s| {
            let rules = rules.clone();
            async move {
                if let Some(g) = &s.acl {
                    g.replace(rules);
                }
            }
        })
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot hand the ACL rules to every core: {e}"))
}

/// Shard 0's poll loop; returns when the broker stops.
pub async fn run(shard: Rc<Shard>) {
    let Some(gate) = &shard.acl else { return };
    while !crate::broker::server::stop_requested() {
        glommio::timer::sleep(Duration::from_millis(ACL_RELOAD_POLL_MS)).await;
        let now = file::stamp(&gate.path);
        if now == *gate.seen.borrow() {
            continue;
        }
        // Held across the read so an admin edit is never half seen.
        let Ok(_turn) = shard.config_writes().await else {
            return;
        };
        let now = file::stamp(&gate.path);
        gate.mark_seen(now);
        match file::load(&gate.path) {
            Ok(rules) => {
                log_warnings(&rules);
                let accounts = rules.accounts.len();
                match broadcast(&shard, rules).await {
                    Ok(()) => {
                        tracing::info!(path = %gate.path.display(), accounts, "plain_acl.yml reloaded")
                    }
                    Err(e) => tracing::error!("{e}"),
                }
            }
            Err(e) => tracing::warn!("{e}; keeping the ACL rules in force"),
        }
    }
}

/// Applies an admin change to the file and puts the result in force (runs on shard 0).
/// Nothing is written when the change would leave the file invalid.
pub async fn apply(shard: &Shard, change: AclChange) -> Result<(), String> {
    let Some(gate) = &shard.acl else {
        return Err("ACL is not enabled on this broker (aclEnable=false)".into());
    };
    let _turn = shard.config_writes().await?;
    let path = gate.path.clone();
    let text = file::read_text(&path)?;
    let mut doc = rules::document(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    edit::apply(&mut doc, &change, crate::clock::now_ms())?;
    let rules = AclRules::from_document(&doc).map_err(|e| format!("the change is refused: {e}"))?;
    let bytes = edit::render(&doc).map_err(|e| e.to_string())?.into_bytes();
    let target = path.clone();
    glommio::executor()
        .spawn_blocking(move || crate::broker::persist::write_atomic(&target, &bytes))
        .await
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    gate.mark_seen(file::stamp(&path));
    broadcast(shard, rules).await
}
