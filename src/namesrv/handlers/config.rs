//! GET_NAMESRV_CONFIG (319) and UPDATE_NAMESRV_CONFIG (318): the nameserver's effective
//! `key=value` lines, and run-time changes to them.
//!
//! An update is all or nothing: RocketMQ's black-listed keys are refused first
//! (NO_PERMISSION, its remark), then every key must be one the running nameserver reads
//! again (orderMessageEnable, scanNotActiveBrokerInterval, brokerChannelExpiredMillis) with
//! a valid value, else the answer names the key and nothing changes. Changes last until
//! the nameserver stops, as RocketMQ's (its copy in configStorePath is never read back);
//! put them in the `-c` file to keep them.

use super::Reply;
use crate::config::namesrv::UpdateRefusal;
use crate::config::{self, properties};
use crate::namesrv::Namesrv;
use crate::protocol::{RemotingCommand, ResponseCode};

/// 319.
pub fn get(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    let text = config::render(&ns.config.borrow().entries());
    Ok(req.success().with_body(text.into_bytes()))
}

/// 318.
pub fn update(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    let changes = match properties::changes_of(&req.body) {
        Ok(c) => c,
        Err(remark) => return Ok(req.error(ResponseCode::SYSTEM_ERROR, remark)),
    };
    let next = ns.config.borrow().with_runtime_changes(&changes);
    Ok(match next {
        Ok(next) => {
            for (key, value) in &changes {
                tracing::info!(key = %key, value = %value, "nameserver config updated");
            }
            *ns.config.borrow_mut() = next;
            req.success()
        }
        Err(e @ UpdateRefusal::BlackListed(_)) => {
            req.error(ResponseCode::NO_PERMISSION, e.to_string())
        }
        Err(e) => req.error(ResponseCode::SYSTEM_ERROR, e.to_string()),
    })
}
