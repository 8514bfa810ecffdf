//! KV config: PUT (100), GET (101), DELETE (102), GET_KVLIST_BY_NAMESPACE (219).

use super::Reply;
use crate::namesrv::Namesrv;
use crate::protocol::body::{self, KvTable};
use crate::protocol::header::namesrv::{
    GetKvListByNamespaceRequestHeader, KvConfigKeyHeader, PutKvConfigRequestHeader,
};
use crate::protocol::{RemotingCommand, ResponseCode};

/// Sets a value.
pub fn put(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    let h: PutKvConfigRequestHeader = req.header()?;
    ns.kv.borrow_mut().put(&h.namespace, &h.key, &h.value)?;
    tracing::info!(namespace = %h.namespace, key = %h.key, value = %h.value, "kv config put");
    Ok(req.success())
}

/// Reads a value; QUERY_NOT_FOUND when absent.
pub fn get(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    let h: KvConfigKeyHeader = req.header()?;
    match ns.kv.borrow().get(&h.namespace, &h.key) {
        Some(v) => {
            let mut resp = req.success();
            resp.ext.insert("value", v);
            Ok(resp)
        }
        None => Ok(req.error(
            ResponseCode::QUERY_NOT_FOUND,
            format!("No config item, Namespace: {} Key: {}", h.namespace, h.key),
        )),
    }
}

/// Deletes a value.
pub fn delete(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    let h: KvConfigKeyHeader = req.header()?;
    ns.kv.borrow_mut().delete(&h.namespace, &h.key)?;
    Ok(req.success())
}

/// A whole namespace as a KVTable; QUERY_NOT_FOUND when empty.
pub fn list(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    let h: GetKvListByNamespaceRequestHeader = req.header()?;
    match ns.kv.borrow().namespace(&h.namespace) {
        Some(t) => Ok(req
            .success()
            .with_body(body::to_json(&KvTable { table: t.clone() }))),
        None => Ok(req.error(
            ResponseCode::QUERY_NOT_FOUND,
            format!("No config item, Namespace: {}", h.namespace),
        )),
    }
}
