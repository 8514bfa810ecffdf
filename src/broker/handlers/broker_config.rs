//! GET_BROKER_CONFIG (26) and UPDATE_BROKER_CONFIG (25): the broker's effective
//! `key=value` lines, and run-time changes to them.
//!
//! An update is applied by shard 0, one at a time, to a copy of the config: every key must
//! be one of ours with a valid value and not one of the broker's identity (else nothing
//! changes and the answer names the key), the result must pass the start-up checks, and it
//! is written to the broker's `-c` file (the changed keys' lines replaced, others kept;
//! without `-c`, `<storePathRootDir>/config/broker.properties`) before any shard sees it,
//! so a restart keeps it. Values read per request (permissions, auto-create switches,
//! limits) take effect at once; other keys at the next start. A permission change
//! re-registers with the nameservers.

use std::rc::Rc;

use super::Reply;
use crate::broker::shard::Shard;
use crate::config::properties;
use crate::protocol::{RemotingCommand, ResponseCode};

/// Where run-time changes are persisted, under storePathRootDir, without `-c`.
pub const PERSISTED_CONFIG_FILE: &str = "config/broker.properties";

/// Keys that name the broker or where it lives: changing them under a running broker
/// would split its identity (registration, message ids, store) in two.
pub const IDENTITY_KEYS: &[&str] = &[
    "brokerClusterName",
    "brokerName",
    "brokerId",
    "brokerIP1",
    "listenPort",
    "storePathRootDir",
    "brokerRole",
];

/// 26.
pub fn get(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let text = crate::config::render(&shard.cfg().entries());
    Ok(req.success().with_body(text.into_bytes()))
}

/// 25.
pub async fn update(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let changes = match properties::changes_of(&req.body) {
        Ok(c) => c,
        Err(remark) => return Ok(req.error(ResponseCode::SYSTEM_ERROR, remark)),
    };
    if changes.is_empty() {
        return Ok(req.success());
    }
    let applied = shard
        .run_on(
            0,
            move |s| async move { s.update_cfg_as_keeper(changes).await },
        )
        .await;
    Ok(match applied {
        Ok(Ok(())) => req.success(),
        Ok(Err(reason)) => req.error(ResponseCode::SYSTEM_ERROR, reason),
        Err(e) => req.error(ResponseCode::SYSTEM_ERROR, e.to_string()),
    })
}

impl Shard {
    /// Shard 0: validate, persist, then swap the changed config in on every shard.
    async fn update_cfg_as_keeper(&self, changes: Vec<(String, String)>) -> Result<(), String> {
        debug_assert_eq!(self.id, 0);
        let _turn = self.config_writes().await?;
        let mut next = (*self.cfg()).clone();
        if let Some((key, _)) = changes
            .iter()
            .find(|(k, _)| IDENTITY_KEYS.contains(&k.as_str()))
        {
            return Err(format!(
                "{key} cannot change while the broker runs: edit its config file and restart"
            ));
        }
        for (key, value) in &changes {
            match next.set(key, value) {
                Ok(true) => {}
                Ok(false) => return Err(format!("unknown broker config key {key}")),
                Err((key, expected)) => {
                    return Err(format!(
                        "bad value {value:?} for {key}: expected {expected}"
                    ))
                }
            }
        }
        next.validate().map_err(|e| e.to_string())?;
        let permission_changed = next.broker_permission != self.cfg().broker_permission;
        let path = self
            .ident
            .config_file
            .clone()
            .unwrap_or_else(|| next.store_path_root_dir.join(PERSISTED_CONFIG_FILE));
        let edits = changes.clone();
        glommio::executor()
            .spawn_blocking(move || {
                let old = match std::fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                    Err(e) => return Err(e),
                };
                let text = with_values(&old, &edits);
                crate::broker::persist::write_atomic(&path, text.as_bytes())
            })
            .await
            .map_err(|e| format!("cannot persist the broker config: {e}"))?;
        for k in &changes {
            tracing::info!(key = k.0, value = k.1, "broker config changed");
        }
        self.run_on_all(move |s| {
            let next = next.clone();
            async move { s.replace_cfg(next) }
        })
        .await
        .map_err(|e| e.to_string())?;
        if permission_changed {
            self.register_now.fire();
        }
        Ok(())
    }
}

/// `text` (a properties file) with each changed key's line replaced by `key=value` and
/// keys it lacked appended; comments and other lines stay as they were.
pub fn with_values(text: &str, changes: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut written = vec![false; changes.len()];
    for line in text.lines() {
        let trimmed = line.trim_start();
        let key = trimmed
            .split(|c: char| c == '=' || c == ':' || c.is_whitespace())
            .next()
            .unwrap_or("");
        let is_comment = trimmed.starts_with('#') || trimmed.starts_with('!');
        match changes.iter().position(|(k, _)| !is_comment && k == key) {
            Some(i) => {
                if !written[i] {
                    out.push_str(&format!("{}={}\n", changes[i].0, changes[i].1));
                    written[i] = true;
                }
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (i, (k, v)) in changes.iter().enumerate() {
        if !written[i] {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_replace_their_lines_and_the_rest_stays() {
        let old = "# broker-a\nbrokerName=broker-a\nmaxMessageSize = 4194304\n#maxMessageSize=1\n";
        let new = with_values(
            old,
            &[
                ("maxMessageSize".into(), "1024".into()),
                ("brokerPermission".into(), "4".into()),
            ],
        );
        assert_eq!(
            new,
            "# broker-a\nbrokerName=broker-a\nmaxMessageSize=1024\n#maxMessageSize=1\nbrokerPermission=4\n"
        );
    }
}
