//! GET_ROUTEINFO_BY_TOPIC (105) and GET_BROKER_CLUSTER_INFO (106).

use super::Reply;
use crate::namesrv::kv_config::ORDER_TOPIC_CONFIG;
use crate::namesrv::Namesrv;
use crate::protocol::body;
use crate::protocol::header::namesrv::GetRouteInfoRequestHeader;
use crate::protocol::{RemotingCommand, ResponseCode};

/// The topic's route, or TOPIC_NOT_EXIST.
pub fn route_by_topic(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    let h: GetRouteInfoRequestHeader = req.header()?;
    let Some(mut route) = ns.routes.borrow().route(&h.topic) else {
        return Ok(req.error(
            ResponseCode::TOPIC_NOT_EXIST,
            format!(
                "No topic route info in name server for the topic: {}",
                h.topic
            ),
        ));
    };
    if ns.config.borrow().order_message_enable {
        route.order_topic_conf = ns
            .kv
            .borrow()
            .get(ORDER_TOPIC_CONFIG, &h.topic)
            .map(str::to_owned);
    }
    Ok(req.success().with_body(body::to_json(&route)))
}

/// Every broker group and cluster.
pub fn cluster_info(ns: &Namesrv, req: &RemotingCommand) -> Reply {
    let info = ns.routes.borrow().cluster_info();
    Ok(req.success().with_body(body::to_json(&info)))
}
