//! Client registry requests — spec §2.6: HEART_BEAT (34), UNREGISTER_CLIENT (35),
//! GET_CONSUMER_LIST_BY_GROUP (38), CHECK_CLIENT_CONFIG (46), and the admin views of it,
//! GET_CONSUMER_CONNECTION_LIST (203) and GET_PRODUCER_CONNECTION_LIST (204).

use std::rc::Rc;
use std::time::Instant;

use super::{topic_check, HandlerError, Reply};
use crate::broker::clients::Member;
use crate::broker::grpc::clients::{merge_consumers, GrpcConsumer};
use crate::broker::metadata::retry_topic;
use crate::broker::shard::Shard;
use crate::protocol::body::client::{ConsumerListBody, HeartbeatData, ProducerConnection};
use crate::protocol::body::{to_json, TopicConfig};
use crate::protocol::header::broker::{
    ConsumerGroupHeader, ProducerGroupHeader, UnregisterClientRequestHeader,
};
use crate::protocol::{RemotingCommand, ResponseCode};
use crate::remoting::Connection;

/// 34: registers the client's groups and subscriptions.
pub async fn heartbeat(shard: &Rc<Shard>, conn: &Connection, req: &RemotingCommand) -> Reply {
    let hb = HeartbeatData::parse(&req.body).map_err(HandlerError::Body)?;
    let member = Member {
        client_id: hb.client_id.clone(),
        shard: shard.id,
        conn_id: conn.id(),
        addr: super::send::v4_peer(conn.peer()).to_string(),
        language: req.language.name().to_owned(),
        version: req.version,
    };
    if conn.is_closed() {
        return Ok(req.success());
    }
    let consumer_names: Vec<String> = hb.consumers.iter().map(|c| c.group_name.clone()).collect();
    shard
        .local
        .borrow_mut()
        .heartbeat(conn, &hb.client_id, &consumer_names, &hb.producers);
    for data in hb.consumers {
        let Some(group) = topic_check::group(shard, &data.group_name)
            .await
            .map_err(HandlerError::Meta)?
        else {
            return Ok(req.error(
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!("subscription group not exist, {}", data.group_name),
            ));
        };
        {
            // Clients subscribe to it; consumerProgress routes through it (trap 10).
            let mut t = TopicConfig::new(
                &retry_topic(&group.group_name),
                group.retry_queue_nums.max(1),
            );
            t.perm = 6;
            topic_check::create_if_absent(shard, t)
                .await
                .map_err(HandlerError::Meta)?;
        }
        for s in &data.subscriptions {
            shard.local.borrow_mut().subscribe(&data.group_name, s);
        }
        let owner = shard.group_owner(&data.group_name);
        let m = member.clone();
        // Checked right before the call: a close seen later sends its removal after this
        // registration (the mesh keeps order per pair of cores), so no ghost member stays.
        if conn.is_closed() {
            return Ok(req.success());
        }
        shard
            .run_on(owner, move |s| async move { s.register_consumer(data, m) })
            .await?;
    }
    for group in hb.producers {
        let owner = shard.group_owner(&group);
        let m = member.clone();
        if conn.is_closed() {
            return Ok(req.success());
        }
        shard
            .run_on(owner, move |s| async move {
                s.clients
                    .borrow_mut()
                    .register_producer(&group, m, Instant::now())
            })
            .await?;
    }
    Ok(req.success())
}

/// 35: leaves the named groups.
pub async fn unregister(shard: &Rc<Shard>, conn: &Connection, req: &RemotingCommand) -> Reply {
    let h: UnregisterClientRequestHeader = req.header()?;
    shard.local.borrow_mut().leave(
        conn.id(),
        h.producer_group.as_deref(),
        h.consumer_group.as_deref(),
    );
    let groups: Vec<String> = h
        .producer_group
        .iter()
        .chain(h.consumer_group.iter())
        .cloned()
        .collect();
    for group in groups {
        let owner = shard.group_owner(&group);
        let h = h.clone();
        shard
            .run_on(owner, move |s| async move {
                let is_producer = h.producer_group.as_deref() == Some(group.as_str());
                let is_consumer = h.consumer_group.as_deref() == Some(group.as_str());
                let rest = s.clients.borrow_mut().unregister(
                    &h.client_id,
                    is_producer.then_some(group.as_str()),
                    is_consumer.then_some(group.as_str()),
                );
                if let Some(rest) = rest {
                    s.notify_members(group, rest);
                }
            })
            .await?;
    }
    Ok(req.success())
}

/// 38: the group's live consumers (every client must get the same list, §7.1).
pub async fn consumer_list(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: ConsumerGroupHeader = req.header()?;
    let owner = shard.group_owner(&h.consumer_group);
    let group = h.consumer_group.clone();
    let ids = shard
        .run_on(owner, move |s| async move {
            s.clients.borrow().consumer_ids(&group)
        })
        .await?;
    if ids.is_empty() {
        return Ok(req.error(
            ResponseCode::SYSTEM_ERROR,
            format!("no consumer for this group, {}", h.consumer_group),
        ));
    }
    Ok(req.success().with_body(to_json(&ConsumerListBody {
        consumer_id_list: ids,
    })))
}

/// 46: a consumer's start-up check of its subscription. TAG passes; SQL92 must compile
/// (SUBSCRIPTION_PARSE_FAILED with the column otherwise) and be enabled, so a client fails
/// at start rather than at its first pull.
pub fn check_client_config(shard: &Shard, req: &RemotingCommand) -> Reply {
    let v: serde_json::Value =
        crate::protocol::body::from_json_lenient(&req.body).map_err(HandlerError::Body)?;
    let t = v["subscriptionData"]["expressionType"]
        .as_str()
        .unwrap_or("TAG");
    if t == crate::filter::SQL92 {
        let sql = v["subscriptionData"]["subString"].as_str().unwrap_or("");
        let enabled = shard.cfg().enable_property_filter;
        return Ok(match crate::broker::property_filter::check(enabled, sql) {
            Ok(()) => req.success(),
            Err((code, remark)) => req.error(code, remark),
        });
    }
    if !matches!(t, "TAG" | "") {
        return Ok(req.error(
            ResponseCode::SYSTEM_ERROR,
            format!("The broker does not support consumer to filter message by {t}"),
        ));
    }
    Ok(req.success())
}

/// 203: the live group's connections and subscriptions, 4.x and gRPC clients alike;
/// CONSUMER_NOT_ONLINE when none.
pub async fn consumer_connections(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: ConsumerGroupHeader = req.header()?;
    let owner = shard.group_owner(&h.consumer_group);
    let group = h.consumer_group.clone();
    let remoting = shard
        .run_on(owner, move |s| async move {
            s.clients.borrow().consumer_connection(&group)
        })
        .await?;
    let group = h.consumer_group.clone();
    let grpc: Vec<GrpcConsumer> = shard
        .run_on_all(move |s| {
            let group = group.clone();
            async move { s.grpc_clients.borrow().consumers_of(&group) }
        })
        .await?
        .into_iter()
        .flatten()
        .collect();
    Ok(match merge_consumers(remoting, &grpc) {
        Some(cc) => req.success().with_body(to_json(&cc)),
        None => req.error(
            ResponseCode::CONSUMER_NOT_ONLINE,
            format!("the consumer group[{}] not online", h.consumer_group),
        ),
    })
}

/// 204: a producer group's connections; gRPC producers are found under each topic they
/// publish, the group name RocketMQ 5 gives them.
pub async fn producer_connections(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: ProducerGroupHeader = req.header()?;
    let owner = shard.group_owner(&h.producer_group);
    let group = h.producer_group.clone();
    let mut conns = shard
        .run_on(owner, move |s| async move {
            s.clients.borrow().producer_connections(&group)
        })
        .await?;
    let group = h.producer_group.clone();
    let grpc = shard
        .run_on_all(move |s| {
            let group = group.clone();
            async move { s.grpc_clients.borrow().producers_of(&group) }
        })
        .await?;
    conns.extend(grpc.into_iter().flatten());
    if conns.is_empty() {
        return Ok(req.error(
            ResponseCode::SYSTEM_ERROR,
            format!("the producer group[{}] not exist", h.producer_group),
        ));
    }
    Ok(req.success().with_body(to_json(&ProducerConnection {
        connection_set: conns,
    })))
}
