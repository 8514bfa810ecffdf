//! Topic lists (206, 224, 304, 311..313) and DELETE_TOPIC_IN_NAMESRV (216).

use super::Reply;
use crate::namesrv::Namesrv;
use crate::protocol::body::{self, TopicList};
use crate::protocol::header::namesrv::{
    DeleteTopicFromNamesrvRequestHeader, GetTopicsByClusterRequestHeader,
};
use crate::protocol::RemotingCommand;

fn list(req: &RemotingCommand, topics: TopicList) -> Reply {
    Ok(req.success().with_body(body::to_json(&topics)))
}

/// Every topic known.
pub fn all(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    list(req, ns.routes.borrow().all_topics())
}

/// Topics served by a cluster's groups.
pub fn by_cluster(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    let h: GetTopicsByClusterRequestHeader = req.header()?;
    list(req, ns.routes.borrow().topics_of_cluster(&h.cluster))
}

/// Cluster and group names (the implicit per-cluster/per-group topics).
pub fn system(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    list(req, ns.routes.borrow().system_topics())
}

/// Unit topics, optionally only those with unit subscriptions.
pub fn unit(ns: &Namesrv, req: &RemotingCommand, unit_sub: Option<bool>) -> Reply {
    list(req, ns.routes.borrow().topics_by_unit_flags(true, unit_sub))
}

/// Non-unit topics that have unit subscriptions.
pub fn has_unit_sub_non_unit(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    list(
        req,
        ns.routes.borrow().topics_by_unit_flags(false, Some(true)),
    )
}

/// Removes a topic's queue data (only on the given cluster's groups when named).
pub fn delete(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    let h: DeleteTopicFromNamesrvRequestHeader = req.header()?;
    ns.routes
        .borrow_mut()
        .delete_topic(&h.topic, h.cluster_name.as_deref());
    tracing::info!(topic = %h.topic, cluster = ?h.cluster_name, "topic deleted from nameserver");
    Ok(req.success())
}
