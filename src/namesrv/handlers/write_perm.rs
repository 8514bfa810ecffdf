//! WIPE_WRITE_PERM_OF_BROKER (205) and ADD_WRITE_PERM_OF_BROKER (327): take a broker group
//! out of (or back into) producers' routes before maintenance.

use super::Reply;
use crate::namesrv::Namesrv;
use crate::protocol::header::namesrv::BrokerNameHeader;
use crate::protocol::RemotingCommand;

/// Clears WRITE on every topic of the group.
pub fn wipe(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    set(ns, req, false, "wipeTopicCount")
}

/// Sets WRITE on every topic of the group.
pub fn add(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    set(ns, req, true, "addTopicCount")
}

fn set(ns: &Namesrv, req: &RemotingCommand, writable: bool, count_key: &str) -> Reply {
    let h: BrokerNameHeader = req.header()?;
    let n = ns
        .routes
        .borrow_mut()
        .set_write_perm(&h.broker_name, writable);
    tracing::info!(broker = %h.broker_name, writable, topics = n, "write permission changed");
    let mut resp = req.success();
    resp.ext.insert(count_key, n.to_string());
    Ok(resp)
}
