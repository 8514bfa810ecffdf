//! Nameserver request handlers, one file per area, and the one table that maps a request
//! code to its handler ([`dispatch`]).

mod config;
mod kv;
mod registration;
mod route;
mod topics;
mod write_perm;

use std::rc::Rc;

use super::Namesrv;
use crate::protocol::{HeaderError, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::{not_supported, Connection, RequestHandler};

/// Why a request failed; becomes SYSTEM_ERROR with this text as remark.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A required header field is missing or malformed.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The body does not decode.
    #[error("bad request body: {0}")]
    Body(String),
    /// The KV store could not persist.
    #[error(transparent)]
    Kv(#[from] super::kv_config::KvConfigError),
}

/// A handler's outcome.
pub type Reply = Result<RemotingCommand, HandlerError>;

/// Serves nameserver requests on every connection.
pub struct NamesrvHandler(pub Rc<Namesrv>);

impl RequestHandler for NamesrvHandler {
    async fn handle(&self, conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        Some(dispatch(&self.0, conn, &req))
    }

    fn on_close(&self, conn: &Connection) {
        for addr in self.0.routes.borrow_mut().connection_closed(conn.id()) {
            tracing::info!(broker = %addr, peer = %conn.peer(), "broker removed: its connection closed");
        }
    }
}

/// The request-code table.
pub fn dispatch(ns: &Namesrv, conn: &Connection, req: &RemotingCommand) -> RemotingCommand {
    use RequestCode as C;
    let Some(code) = RequestCode::from_code(req.code) else {
        return not_supported(req);
    };
    let reply = match code {
        C::REGISTER_BROKER => registration::register(ns, conn, req),
        C::UNREGISTER_BROKER => registration::unregister(ns, req),
        C::QUERY_DATA_VERSION => registration::query_data_version(ns, req),
        C::BROKER_HEARTBEAT => registration::heartbeat(ns, req),
        C::GET_ROUTEINFO_BY_TOPIC => route::route_by_topic(ns, req),
        C::GET_BROKER_CLUSTER_INFO => route::cluster_info(ns, req),
        C::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => topics::all(ns, req),
        C::GET_TOPICS_BY_CLUSTER => topics::by_cluster(ns, req),
        C::GET_SYSTEM_TOPIC_LIST_FROM_NS => topics::system(ns, req),
        C::GET_UNIT_TOPIC_LIST => topics::unit(ns, req, None),
        C::GET_HAS_UNIT_SUB_TOPIC_LIST => topics::unit(ns, req, Some(true)),
        C::GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST => topics::has_unit_sub_non_unit(ns, req),
        C::DELETE_TOPIC_IN_NAMESRV => topics::delete(ns, req),
        C::PUT_KV_CONFIG => kv::put(ns, req),
        C::GET_KV_CONFIG => kv::get(ns, req),
        C::DELETE_KV_CONFIG => kv::delete(ns, req),
        C::GET_KVLIST_BY_NAMESPACE => kv::list(ns, req),
        C::GET_NAMESRV_CONFIG => config::get(ns, req),
        C::UPDATE_NAMESRV_CONFIG => config::update(ns, req),
        C::WIPE_WRITE_PERM_OF_BROKER => write_perm::wipe(ns, req),
        C::ADD_WRITE_PERM_OF_BROKER => write_perm::add(ns, req),
        _ => return not_supported(req),
    };
    reply.unwrap_or_else(|e| {
        tracing::debug!(code = req.code, peer = %conn.peer(), "request failed: {e}");
        req.error(ResponseCode::SYSTEM_ERROR, e.to_string())
    })
}
