//! REGISTER_BROKER (103), UNREGISTER_BROKER (104), QUERY_DATA_VERSION (322).

use std::time::{Duration, Instant};

use super::{HandlerError, Reply};
use crate::namesrv::kv_config::ORDER_TOPIC_CONFIG;
use crate::namesrv::route_table::Registration;
use crate::namesrv::Namesrv;
use crate::protocol::body::{self, DataVersion, KvTable, RegisterBrokerBody};
use crate::protocol::header::namesrv::{
    BrokerIdentityHeader, RegisterBrokerRequestHeader, RegisterBrokerResponseHeader,
};
use crate::protocol::{CommandHeader, RemotingCommand, ResponseCode};
use crate::remoting::Connection;

/// Registers or refreshes a broker and answers its master's addresses (for slaves) and the
/// ORDER_TOPIC_CONFIG table.
pub fn register(ns: &Namesrv, conn: &Connection, req: &RemotingCommand) -> Reply {
    let h: RegisterBrokerRequestHeader = req.header()?;
    if let Some(expected) = h.body_crc32.filter(|c| *c != 0) {
        let actual = (crc32fast::hash(&req.body) & 0x7FFF_FFFF) as i32;
        if actual != expected {
            return Ok(req.error(ResponseCode::SYSTEM_ERROR, "crc32 not match"));
        }
    }
    let body = RegisterBrokerBody::decode(&req.body, h.compressed.unwrap_or(false), req.version)
        .map_err(|e| HandlerError::Body(e.to_string()))?;
    // A broker may name its own timeout (RocketMQ 5); it is clamped so a bogus value can
    // neither make it flap (too short) nor keep a dead one forever (too long).
    let default = ns.config.borrow().broker_channel_expired_millis;
    let timeout = Duration::from_millis(h.heartbeat_timeout_millis.filter(|t| *t > 0).map_or(
        default,
        |t| {
            (t as u64).clamp(
                MIN_BROKER_TIMEOUT_MS,
                default.max(MIN_BROKER_TIMEOUT_MS) * 10,
            )
        },
    ));
    let topics = body.topic_config_serialize_wrapper.topic_config_table.len();
    let (is_new, result) = ns.routes.borrow_mut().register(
        Registration {
            cluster: h.cluster_name.clone(),
            broker_name: h.broker_name.clone(),
            broker_addr: h.broker_addr.clone(),
            broker_id: h.broker_id,
            ha_server_addr: h.ha_server_addr.clone(),
            body,
            conn_id: conn.id(),
            timeout,
        },
        Instant::now(),
    );
    if is_new {
        tracing::info!(
            cluster = %h.cluster_name, broker = %h.broker_name, id = h.broker_id,
            addr = %h.broker_addr, ha = %h.ha_server_addr, topics,
            "new broker registered"
        );
    }
    let resp_header = RegisterBrokerResponseHeader {
        ha_server_addr: result.ha_server_addr,
        master_addr: result.master_addr,
    };
    let order = ns
        .kv
        .borrow()
        .namespace(ORDER_TOPIC_CONFIG)
        .map(|t| KvTable { table: t.clone() });
    let mut resp = req.success().with_ext(resp_header.to_ext());
    if let Some(table) = order {
        resp = resp.with_body(body::to_json(&table));
    }
    Ok(resp)
}

/// Removes one address of a broker group.
pub fn unregister(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    let h: BrokerIdentityHeader = req.header()?;
    let removed = ns
        .routes
        .borrow_mut()
        .unregister(&h.broker_name, &h.broker_addr, h.broker_id);
    if removed {
        tracing::info!(broker = %h.broker_name, addr = %h.broker_addr, id = h.broker_id, "broker unregistered");
    } else {
        tracing::warn!(broker = %h.broker_name, addr = %h.broker_addr, id = h.broker_id, "unregister names no registered broker; ignored");
    }
    Ok(req.success())
}

/// Shortest broker timeout honoured from a registration header.
pub const MIN_BROKER_TIMEOUT_MS: u64 = 1_000;

/// BROKER_HEARTBEAT (904): keeps a registered broker alive between registrations.
pub fn heartbeat(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    let h: crate::protocol::header::namesrv::BrokerHeartbeatRequestHeader = req.header()?;
    if !ns
        .routes
        .borrow_mut()
        .heartbeat(&h.broker_addr, Instant::now())
    {
        tracing::debug!(addr = %h.broker_addr, "heartbeat from a broker that is not registered");
    }
    Ok(req.success())
}

/// Answers whether the broker's topic version differs from the registered one.
pub fn query_data_version(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    let h: BrokerIdentityHeader = req.header()?;
    let version: DataVersion = if req.body.is_empty() {
        DataVersion::default()
    } else {
        serde_json::from_slice(&req.body).map_err(|e| HandlerError::Body(e.to_string()))?
    };
    let (changed, known) =
        ns.routes
            .borrow_mut()
            .query_data_version(&h.broker_addr, &version, Instant::now());
    let mut resp = req.success();
    resp.ext.insert("changed", changed.to_string());
    if let Some(v) = known {
        resp = resp.with_body(body::to_json(&v));
    }
    Ok(resp)
}
