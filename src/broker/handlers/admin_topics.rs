//! Topic and group administration — spec §2.9: UPDATE_AND_CREATE_TOPIC (17),
//! DELETE_TOPIC_IN_BROKER (215), GET_ALL_TOPIC_CONFIG (21),
//! UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200), GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201),
//! DELETE_SUBSCRIPTIONGROUP (207). Changes go through shard 0 (see `metadata`).

use std::rc::Rc;
use std::time::Duration;

use super::{HandlerError, Reply};
use crate::broker::metadata::{topic_name_problem, MetaChange, AUTO_CREATE_TOPIC};
use crate::broker::shard::Shard;
use crate::protocol::body::client::SubscriptionGroupConfig;
use crate::protocol::body::{from_json_lenient, to_json, TopicConfig};
use crate::protocol::header::broker::{
    CreateTopicRequestHeader, DeleteSubscriptionGroupRequestHeader, TopicHeader,
};
use crate::protocol::{RemotingCommand, ResponseCode};

/// How long a create waits for the nameservers to hear of the topic before answering.
pub const REGISTER_WAIT_MS: u64 = 2 * crate::broker::registration::NAMESRV_TIMEOUT_MS;

/// Queues a topic may have at most.
pub const MAX_QUEUES_PER_TOPIC: i32 = 65_536;

/// 17: creates or replaces a topic, then re-registers.
pub async fn create(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: CreateTopicRequestHeader = req.header()?;
    if let Some(p) = topic_name_problem(&h.topic) {
        return Ok(req.error(ResponseCode::SYSTEM_ERROR, p));
    }
    if h.topic == AUTO_CREATE_TOPIC || h.topic == shard.cfg().broker_cluster_name {
        return Ok(req.error(
            ResponseCode::SYSTEM_ERROR,
            format!("The topic[{}] is conflict with system topic.", h.topic),
        ));
    }
    for (name, n) in [
        ("readQueueNums", h.read_queue_nums),
        ("writeQueueNums", h.write_queue_nums),
    ] {
        if !(1..=MAX_QUEUES_PER_TOPIC).contains(&n) {
            return Ok(req.error(
                ResponseCode::SYSTEM_ERROR,
                format!("{name}={n} must be 1..={MAX_QUEUES_PER_TOPIC}"),
            ));
        }
    }
    let current = shard
        .meta
        .borrow()
        .topics
        .get(&h.topic)
        .map(|t| t.attributes.clone())
        .unwrap_or_default();
    let attributes = match crate::protocol::topic_attributes::apply(
        &current,
        h.attributes.as_deref().unwrap_or(""),
    ) {
        Ok(a) => a,
        Err(e) => return Ok(req.error(ResponseCode::SYSTEM_ERROR, e)),
    };
    let t = TopicConfig {
        topic_name: h.topic.clone(),
        attributes,
        read_queue_nums: h.read_queue_nums,
        write_queue_nums: h.write_queue_nums,
        perm: h.perm,
        topic_filter_type: h.topic_filter_type.unwrap_or_else(|| "SINGLE_TAG".into()),
        topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
        order: h.order.unwrap_or(false),
    };
    shard
        .change_meta(MetaChange::UpsertTopic(t))
        .await
        .map_err(HandlerError::Meta)?;
    // As RocketMQ, the nameservers hear of the topic before the answer: a client that
    // asks for the route right after a create finds it.
    let registered = shard
        .run_on(0, |s0| async move {
            let round = s0.register_now.asked();
            s0.register_now
                .finished_through(round, Duration::from_millis(REGISTER_WAIT_MS))
                .await
        })
        .await?;
    if !registered {
        tracing::warn!(
            topic = h.topic,
            "topic created; nameserver registration still pending"
        );
    }
    tracing::info!(topic = h.topic, "topic created or updated by admin");
    Ok(req.success())
}

/// 215: forgets a topic and its consumer offsets (its stored messages age out with
/// retention; mqadmin removes it from the nameservers itself, 216).
pub async fn delete(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: TopicHeader = req.header()?;
    shard
        .change_meta(MetaChange::DeleteTopic(h.topic.clone()))
        .await
        .map_err(HandlerError::Meta)?;
    let topic = h.topic.clone();
    shard
        .run_on_all(move |s| {
            let topic = topic.clone();
            async move { s.offsets.borrow_mut().remove_topic(&topic) }
        })
        .await?;
    tracing::info!(topic = h.topic, "topic deleted by admin");
    Ok(req.success())
}

/// 21: the topic table.
pub fn all(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    Ok(req
        .success()
        .with_body(to_json(&shard.meta.borrow().topic_wrapper())))
}

/// 200: creates or replaces a subscription group.
pub async fn upsert_group(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let g: SubscriptionGroupConfig = from_json_lenient(&req.body).map_err(HandlerError::Body)?;
    if g.group_name.is_empty() {
        return Ok(req.error(ResponseCode::SYSTEM_ERROR, "groupName is empty"));
    }
    shard
        .change_meta(MetaChange::UpsertGroup(g))
        .await
        .map_err(HandlerError::Meta)?;
    Ok(req.success())
}

/// 201: the group table.
pub fn all_groups(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    Ok(req
        .success()
        .with_body(to_json(&shard.meta.borrow().group_wrapper())))
}

/// 207: forgets a group and its offsets.
pub async fn delete_group(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: DeleteSubscriptionGroupRequestHeader = req.header()?;
    shard
        .change_meta(MetaChange::DeleteGroup(h.group_name.clone()))
        .await
        .map_err(HandlerError::Meta)?;
    // As RocketMQ: the group's offsets stay unless the caller asks (a group recreated
    // later resumes where it was).
    if h.remove_offset == Some(true) {
        let group = h.group_name.clone();
        shard
            .run_on_all(move |s| {
                let group = group.clone();
                async move { s.offsets.borrow_mut().remove_group(&group) }
            })
            .await?;
    }
    Ok(req.success())
}
