//! GET_BROKER_CONFIG (26) and UPDATE_BROKER_CONFIG (25): the broker's effective
//! `key=value` lines, and run-time changes to them.
//!
//! An update is applied by shard 0, one at a time, to a copy of the config: every key must
//! be one of ours with a valid value (else nothing changes and the answer names the key),
//! the result must pass the start-up checks, and it is written to
//! `<storePathRootDir>/config/broker.properties` (where RocketMQ persists it) before any
//! shard sees it. Values read per request (permissions, auto-create switches, limits) take
//! effect at once; keys read at start (ports, paths, identity, shard layout) at the next
//! start, as in RocketMQ. A permission change re-registers with the nameservers.

use std::rc::Rc;

use super::Reply;
use crate::broker::shard::Shard;
use crate::config::properties;
use crate::protocol::{RemotingCommand, ResponseCode};

/// Where run-time changes are persisted, under storePathRootDir.
pub const PERSISTED_CONFIG_FILE: &str = "config/broker.properties";

/// 26.
pub fn get(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let text = crate::config::render(&shard.cfg().entries());
    Ok(req.success().with_body(text.into_bytes()))
}

/// 25.
pub async fn update(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let Ok(text) = std::str::from_utf8(&req.body) else {
        return Ok(req.error(
            ResponseCode::SYSTEM_ERROR,
            "string2Properties error: the body is not UTF-8",
        ));
    };
    let changes: Vec<(String, String)> = properties::parse(text)
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect();
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
        let path = next.store_path_root_dir.join(PERSISTED_CONFIG_FILE);
        let bytes = crate::config::render(&next.entries()).into_bytes();
        glommio::executor()
            .spawn_blocking(move || crate::broker::persist::write_atomic(&path, &bytes))
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
