//! Broker request handlers, one file per area, and the one table mapping a request code to
//! its handler ([`dispatch`]). A handler runs on the core that holds the connection; work on
//! a queue it does not own goes to the owner with `Shard::run_on`.

mod acl_admin;
mod admin_topics;
mod broker_config;
mod call_consumer;
pub use call_consumer::CALL_CONSUMER_TIMEOUT_MS;
mod clients;
mod locks;
mod offsets;
mod pull;
mod query_message;
mod replication;
mod reply;
mod reset_offset;
mod runtime_info;
pub use runtime_info::{runtime_table_of, RuntimePart};
pub mod send;
mod send_back;
mod stats;
pub mod topic_check;
pub use topic_check::create_if_absent;
mod end_transaction;
mod view;

use std::rc::Rc;

use super::shard::{CallError, Shard};
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
    /// Another core could not be reached.
    #[error(transparent)]
    Call(#[from] CallError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Metadata could not be changed.
    #[error("{0}")]
    Meta(String),
}

/// A handler's outcome.
pub type Reply = Result<RemotingCommand, HandlerError>;

/// Serves broker requests on one core's connections.
pub struct BrokerHandler(pub Rc<Shard>);

impl RequestHandler for BrokerHandler {
    async fn handle(&self, conn: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
        Some(dispatch(&self.0, conn, &req).await)
    }

    fn on_close(&self, conn: &Connection) {
        self.0.connection_closed(conn.id());
    }

    fn moved(&self, conn: &Connection, core: usize, detached: crate::remoting::Detached) {
        self.0.move_connection(conn, core, detached);
    }
}

/// The request-code table.
pub async fn dispatch(
    shard: &Rc<Shard>,
    conn: &Connection,
    req: &RemotingCommand,
) -> RemotingCommand {
    use RequestCode as C;
    let Some(code) = RequestCode::from_code(req.code) else {
        return not_supported(req);
    };
    if let Some(acl) = &shard.acl {
        // Before anything else looks at the request, on the core that received it.
        if let Err(remark) = acl.check(conn.peer().ip(), code, req) {
            tracing::debug!(code = req.code, peer = %conn.peer(), "ACL refused: {remark}");
            return req.error(ResponseCode::NO_PERMISSION, remark);
        }
    }
    if shard.closing.get() {
        // Stopping: clients retry elsewhere (sends retry on 14), nothing lands after the
        // final persist.
        return req.error(
            ResponseCode::SERVICE_NOT_AVAILABLE,
            "broker is shutting down",
        );
    }
    if shard.ident.cfg.broker_role == crate::config::broker::BrokerRole::Slave {
        if let Some(refused) = replication::refused_on_slave(shard, code, req) {
            return refused;
        }
    }
    let reply = match code {
        C::SEND_MESSAGE | C::SEND_MESSAGE_V2 | C::SEND_BATCH_MESSAGE => {
            let started = std::time::Instant::now();
            let r = send::send(shard, conn, req).await;
            shard.send_latency.record(started.elapsed());
            r
        }
        C::SEND_REPLY_MESSAGE | C::SEND_REPLY_MESSAGE_V2 => reply::reply(shard, conn, req).await,
        C::END_TRANSACTION => end_transaction::end(shard, conn, req).await,
        C::PULL_MESSAGE => pull::pull(shard, conn, req).await,
        C::QUERY_CONSUMER_OFFSET => offsets::query(shard, req).await,
        C::UPDATE_CONSUMER_OFFSET => offsets::update(shard, req).await,
        C::GET_MAX_OFFSET => offsets::max(shard, req).await,
        C::GET_MIN_OFFSET => offsets::min(shard, req).await,
        C::SEARCH_OFFSET_BY_TIMESTAMP => offsets::by_time(shard, req).await,
        C::GET_EARLIEST_MSG_STORETIME => offsets::earliest_time(shard, req).await,
        C::HEART_BEAT => clients::heartbeat(shard, conn, req).await,
        C::UNREGISTER_CLIENT => clients::unregister(shard, conn, req).await,
        C::GET_CONSUMER_LIST_BY_GROUP => clients::consumer_list(shard, req).await,
        C::CHECK_CLIENT_CONFIG => clients::check_client_config(shard, req),
        C::CONSUMER_SEND_MSG_BACK => send_back::send_back(shard, conn, req).await,
        C::LOCK_BATCH_MQ => locks::lock(shard, req).await,
        C::UNLOCK_BATCH_MQ => locks::unlock(shard, req).await,
        C::VIEW_MESSAGE_BY_ID => view::by_offset(shard, req).await,
        C::QUERY_MESSAGE => query_message::query_message(shard, req).await,
        C::UPDATE_AND_CREATE_TOPIC => admin_topics::create(shard, req).await,
        C::DELETE_TOPIC_IN_BROKER => admin_topics::delete(shard, req).await,
        C::GET_ALL_TOPIC_CONFIG => admin_topics::all(shard, req),
        C::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => admin_topics::upsert_group(shard, req).await,
        C::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => admin_topics::all_groups(shard, req),
        C::DELETE_SUBSCRIPTIONGROUP => admin_topics::delete_group(shard, req).await,
        C::GET_BROKER_RUNTIME_INFO => runtime_info::runtime_info(shard, req).await,
        C::GET_BROKER_CONFIG => broker_config::get(shard, req),
        C::UPDATE_BROKER_CONFIG => broker_config::update(shard, req).await,
        C::GET_TOPIC_STATS_INFO => stats::topic_stats(shard, req).await,
        C::GET_CONSUME_STATS => stats::consume_stats(shard, req).await,
        C::GET_BROKER_CONSUME_STATS => stats::broker_consume_stats(shard, req).await,
        C::GET_CONSUMER_CONNECTION_LIST => clients::consumer_connections(shard, req).await,
        C::GET_PRODUCER_CONNECTION_LIST => clients::producer_connections(shard, req).await,
        C::QUERY_TOPIC_CONSUME_BY_WHO => stats::consumed_by(shard, req).await,
        C::GET_CONSUMER_RUNNING_INFO => call_consumer::running_info(shard, req).await,
        C::CONSUME_MESSAGE_DIRECTLY => call_consumer::consume_directly(shard, req).await,
        C::INVOKE_BROKER_TO_RESET_OFFSET => reset_offset::reset(shard, req).await,
        C::GET_ALL_CONSUMER_OFFSET => replication::all_consumer_offsets(shard, req).await,
        C::GET_ALL_DELAY_OFFSET => replication::all_delay_offsets(shard, req).await,
        C::GET_BROKER_HA_STATUS => replication::ha_status(shard, req).await,
        C::UPDATE_AND_CREATE_ACL_CONFIG => acl_admin::upsert(shard, req).await,
        C::DELETE_ACL_CONFIG => acl_admin::delete(shard, req).await,
        C::GET_BROKER_CLUSTER_ACL_INFO => acl_admin::version(shard, req),
        C::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG => acl_admin::global_white(shard, req).await,
        _ => return not_supported(req),
    };
    reply.unwrap_or_else(|e| {
        tracing::debug!(code = req.code, peer = %conn.peer(), "request failed: {e}");
        req.error(ResponseCode::SYSTEM_ERROR, e.to_string())
    })
}
