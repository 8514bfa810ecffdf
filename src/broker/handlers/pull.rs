//! PULL_MESSAGE (11) — spec §2.4: checks and the subscription on the connection's core,
//! the read (with long polling and the piggy-backed offset commit) on the queue's owner.

use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::{topic_check, HandlerError, Reply};
use crate::broker::shard::Shard;
use crate::broker::{hot_window, property_filter};
use crate::filter::SQL92;
use crate::protocol::body::client::{SubscriptionData, SubscriptionGroupConfig};
use crate::protocol::codes::perm;
use crate::protocol::header::broker::{
    PullMessageRequestHeader, PullMessageResponseHeader, PULL_FLAG_COMMIT_OFFSET,
    PULL_FLAG_SUBSCRIPTION, PULL_FLAG_SUSPEND,
};
use crate::protocol::{CommandHeader, RemotingCommand, ResponseCode};
use crate::remoting::Connection;
use crate::store::shard_store::{GetStatus, ReadLimits};
use crate::store::StoreError;

/// Messages per pull response at most (RocketMQ's maxTransferCountOnMessageInMemory).
pub const MAX_PULL_MSGS: usize = 32;
/// Bytes per pull response at most (the first message is always sent).
pub const MAX_PULL_BYTES: usize = 256 * 1024;
/// Pulls one shard (the one holding the client's connection) reads at once. Each read
/// fills fresh buffers (up to [`MAX_PULL_BYTES`], or one big message) that live until its
/// response is encoded on the connection, so a burst of thousands of pulls (a consumer
/// that sends them and reads no answer) holds at most this many responses' worth before
/// they reach the connection's bounded queue. Parked long-polling pulls hold no permit.
pub const MAX_CONCURRENT_PULL_READS: u64 = 64;

thread_local! {
    /// This shard's permits for [`MAX_CONCURRENT_PULL_READS`].
    static PULL_READS: Rc<glommio::sync::Semaphore> =
        Rc::new(glommio::sync::Semaphore::new(MAX_CONCURRENT_PULL_READS));
}

/// What the owner is asked to read.
#[derive(Clone)]
struct PullQuery {
    group: String,
    topic: String,
    qid: i32,
    offset: u64,
    max_msgs: usize,
    commit: Option<i64>,
    suspend: Option<Duration>,
    tag_codes: Option<Vec<i64>>,
    /// A SQL92 expression the records must match (compiled again on the owner's core).
    sql: Option<String>,
}

/// What the owner read.
struct PullOutcome {
    /// Nothing to read yet: a long-polling pull parks.
    nothing_yet: bool,
    status: GetStatus,
    records: Vec<Bytes>,
    next: u64,
    min: u64,
    max: u64,
    /// The read was further behind the log's end than the memory rule allows (RocketMQ's
    /// suggestPullingFromSlave).
    far_behind: bool,
}

/// Which broker the client should pull this queue from next (spec trap 5, RocketMQ's
/// rule): the master unless slaveReadEnable, then the group's choice, or its
/// whichBrokerWhenConsumeSlowly when the read was far behind.
fn suggested_broker(
    slave_read_enable: bool,
    far_behind: bool,
    group: &SubscriptionGroupConfig,
) -> i64 {
    match (slave_read_enable, far_behind) {
        (false, _) => 0,
        (true, true) => group.which_broker_when_consume_slowly,
        (true, false) => group.broker_id,
    }
}

/// Serves 11.
pub async fn pull(shard: &Rc<Shard>, conn: &Connection, req: &RemotingCommand) -> Reply {
    let h: PullMessageRequestHeader = req.header()?;
    let fail = |code: ResponseCode, remark: String| Ok(req.error(code, remark));
    let cfg = shard.cfg();
    if cfg.broker_permission as i32 & perm::READ == 0 {
        return fail(
            ResponseCode::NO_PERMISSION,
            format!(
                "the broker[{}] pulling message is forbidden",
                cfg.broker_name
            ),
        );
    }
    let Some(tc) = shard.meta.borrow().topics.get(&h.topic).cloned() else {
        return fail(
            ResponseCode::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please!", h.topic),
        );
    };
    if tc.perm & perm::READ == 0 {
        return fail(
            ResponseCode::NO_PERMISSION,
            format!("the topic[{}] pulling message is forbidden", h.topic),
        );
    }
    if h.queue_id < 0 || h.queue_id >= tc.read_queue_nums {
        return fail(
            ResponseCode::SYSTEM_ERROR,
            format!(
                "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}] consumer:[{}]",
                h.queue_id,
                h.topic,
                tc.read_queue_nums,
                conn.peer()
            ),
        );
    }
    let Some(group) = topic_check::group(shard, &h.consumer_group)
        .await
        .map_err(HandlerError::Meta)?
    else {
        return fail(
            ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group [{}] does not exist", h.consumer_group),
        );
    };
    if !group.consume_enable {
        return fail(
            ResponseCode::NO_PERMISSION,
            format!("subscription group no permission, {}", h.consumer_group),
        );
    }
    let sub = match subscription(shard, &h).await? {
        Ok(s) => s,
        Err((code, remark)) => return fail(code, remark),
    };
    let sql = sub.is_sql92().then(|| sub.sub_string.clone());
    if let Some(expr) = &sql {
        if let Err((code, remark)) = property_filter::check(cfg.enable_property_filter, expr) {
            return fail(code, remark);
        }
    }
    let tag_codes = (!sub.takes_all()).then(|| sub.code_set.iter().copied().collect());
    let suspend = (h.sys_flag & PULL_FLAG_SUSPEND != 0).then(|| {
        Duration::from_millis(if cfg.long_polling_enable {
            h.suspend_timeout_millis.max(0) as u64
        } else {
            cfg.short_polling_time_mills
        })
    });
    let q = PullQuery {
        group: h.consumer_group.clone(),
        topic: h.topic.clone(),
        qid: h.queue_id,
        offset: h.queue_offset.max(0) as u64,
        max_msgs: (h.max_msg_nums.max(1) as usize).min(MAX_PULL_MSGS),
        commit: (h.sys_flag & PULL_FLAG_COMMIT_OFFSET != 0).then_some(h.commit_offset),
        suspend,
        tag_codes,
        sql,
    };
    let owner = shard.queue_owner(&h.topic, h.queue_id);
    let reads = PULL_READS.with(Rc::clone);
    let mut q = q;
    let out = loop {
        // A response is built only with room reserved under the connection's unsent limit
        // (a peer that reads nothing holds no read or permit, only this wait) ...
        let Ok(_room) = conn.reserve(MAX_PULL_BYTES).await else {
            return fail(ResponseCode::SYSTEM_BUSY, "connection closed".to_owned());
        };
        // ... and by at most MAX_CONCURRENT_PULL_READS at once per shard. Never closed, so
        // acquiring only waits; both are held from the read to the response.
        let _permit = reads.acquire_permit(1).await;
        let query = q.clone();
        let out = shard
            .run_on(
                owner,
                move |s| async move { read_as_owner(&s, query).await },
            )
            .await??;
        q.commit = None;
        if !out.nothing_yet {
            break out;
        }
        let Some(d) = q.suspend.take() else {
            break out;
        };
        drop(_permit);
        drop(_room);
        let (topic, qid, offset) = (q.topic.clone(), q.qid, q.offset);
        let woke = shard
            .run_on(owner, move |s| async move {
                park(&s, &topic, qid, offset, d).await
            })
            .await?;
        if !woke {
            break out;
        }
    };
    let suggest = suggested_broker(cfg.slave_read_enable, out.far_behind, &group);
    let slave = cfg.broker_role == crate::config::broker::BrokerRole::Slave;
    Ok(response(req, h.queue_offset, out, (suggest, slave)))
}

/// The subscription the pull filters by: from the request when it carries one, else the
/// one heard in heartbeats (this core first, then the group's keeper).
async fn subscription(
    shard: &Rc<Shard>,
    h: &PullMessageRequestHeader,
) -> Result<Result<SubscriptionData, (ResponseCode, String)>, HandlerError> {
    let kind = h.expression_type.as_deref().unwrap_or("TAG");
    if !matches!(kind, "TAG" | "" | SQL92) {
        return Ok(Err((
            ResponseCode::SUBSCRIPTION_PARSE_FAILED,
            format!("expression type {kind:?} is not supported: coremq filters by TAG or SQL92"),
        )));
    }
    if h.sys_flag & PULL_FLAG_SUBSCRIPTION != 0 {
        let expr = h.subscription.as_deref().unwrap_or("*");
        return Ok(Ok(SubscriptionData::of_type(
            kind,
            &h.topic,
            expr,
            h.sub_version,
        )));
    }
    let local = shard
        .local
        .borrow()
        .subscription(&h.consumer_group, &h.topic);
    let fresh = |s: &SubscriptionData| s.sub_version >= h.sub_version;
    if let Some(s) = local.as_ref().filter(|s| fresh(s)) {
        return Ok(Ok(s.clone()));
    }
    let (group, topic) = (h.consumer_group.clone(), h.topic.clone());
    let owner = shard.group_owner(&group);
    let kept = shard
        .run_on(owner, move |s| async move {
            s.clients.borrow().subscription(&group, &topic)
        })
        .await?;
    match kept.or(local) {
        Some(s) if fresh(&s) => {
            shard.local.borrow_mut().subscribe(&h.consumer_group, &s);
            Ok(Ok(s))
        }
        Some(s) => Ok(Err((
            ResponseCode::SUBSCRIPTION_NOT_LATEST,
            format!(
                "the consumer's subscription not latest: have {}, asked {}",
                s.sub_version, h.sub_version
            ),
        ))),
        None => Ok(Err((
            ResponseCode::SUBSCRIPTION_NOT_EXIST,
            format!(
                "the consumer's subscription not exist, group {} topic {}",
                h.consumer_group, h.topic
            ),
        ))),
    }
}

/// Owner side: commit, read, park once when nothing is there yet, read again.
async fn read_as_owner(s: &Shard, q: PullQuery) -> Result<PullOutcome, StoreError> {
    // As RocketMQ: a slave keeps explicit commits (UPDATE_CONSUMER_OFFSET) but not those
    // piggy-backed on pulls, which clients send to masters only.
    let slave = s.cfg().broker_role == crate::config::broker::BrokerRole::Slave;
    if let Some(c) = q.commit.filter(|_| !slave) {
        s.offsets.borrow_mut().set(&q.group, &q.topic, q.qid, c);
    }
    let limits = ReadLimits {
        max_msgs: q.max_msgs,
        max_bytes: MAX_PULL_BYTES,
    };
    let codes = q.tag_codes;
    let accept = |code: i64| codes.as_ref().is_none_or(|c| c.contains(&code));
    let test = property_filter::record_test(q.sql.as_deref());
    let r = s
        .store
        .read_filtered(&q.topic, q.qid, q.offset, limits, accept, test)
        .await?;
    let nothing_yet = matches!(r.status, GetStatus::OffsetOverflowOne)
        || (r.status == GetStatus::NoMessageInQueue && q.offset == 0);
    if r.status == GetStatus::Found {
        s.throughput.got(r.records.len() as u64);
        s.throughput
            .got_group(&q.group, &q.topic, r.records.len() as u64);
    }
    // Only slaveReadEnable acts on it: no parse on the common path.
    let far_behind = s.cfg().slave_read_enable
        && r.records.last().is_some_and(|last| {
            let Ok(rec) = crate::store::record::Record::parse(last) else {
                return false;
            };
            let end = s.store.physical_of(s.store.log_positions().end);
            !hot_window::is_hot(
                end,
                rec.physical_offset(),
                s.cfg().access_message_in_memory_max_ratio,
            )
        });
    Ok(PullOutcome {
        nothing_yet,
        far_behind,
        status: r.status,
        records: r.records,
        next: r.next_offset,
        min: r.min_offset,
        max: r.max_offset,
    })
}

/// Parks a long-polling pull on the queue's owner until a message arrives past `offset`
/// (true) or `timeout` passes (false). One that came since the read counts at once.
async fn park(s: &Shard, topic: &str, qid: i32, offset: u64, timeout: Duration) -> bool {
    s.store.queue_offsets(topic, qid).1 > offset || s.waiters.wait(topic, qid, timeout).await
}

/// The response, with the four offsets on every code (trap 5).
fn response(
    req: &RemotingCommand,
    requested: i64,
    out: PullOutcome,
    (suggest, slave): (i64, bool),
) -> RemotingCommand {
    let (mut code, mut next, name) = match out.status {
        GetStatus::Found => (ResponseCode::SUCCESS, out.next, "FOUND"),
        GetStatus::NoMatchedMessage => (
            ResponseCode::PULL_RETRY_IMMEDIATELY,
            out.next,
            "NO_MATCHED_MESSAGE",
        ),
        GetStatus::NoMessageInQueue if requested <= 0 => {
            (ResponseCode::PULL_NOT_FOUND, 0, "NO_MESSAGE_IN_QUEUE")
        }
        GetStatus::NoMessageInQueue => (ResponseCode::PULL_OFFSET_MOVED, 0, "NO_MESSAGE_IN_QUEUE"),
        GetStatus::OffsetOverflowOne => (
            ResponseCode::PULL_NOT_FOUND,
            out.next,
            "OFFSET_OVERFLOW_ONE",
        ),
        GetStatus::OffsetOverflowBadly => (
            ResponseCode::PULL_OFFSET_MOVED,
            out.max,
            "OFFSET_OVERFLOW_BADLY",
        ),
        GetStatus::OffsetTooSmall => (ResponseCode::PULL_OFFSET_MOVED, out.min, "OFFSET_TOO_SMALL"),
    };
    // A slave may lag its master: it never moves a client's offset (RocketMQ's
    // offsetCheckInSlave=false). The client retries from where it asked.
    if slave && code == ResponseCode::PULL_OFFSET_MOVED {
        code = ResponseCode::PULL_RETRY_IMMEDIATELY;
        next = requested.max(0) as u64;
    }
    let h = PullMessageResponseHeader {
        suggest_which_broker_id: suggest,
        next_begin_offset: next as i64,
        min_offset: out.min as i64,
        max_offset: out.max as i64,
    };
    let mut resp = req
        .response_to(code, Some(name.to_owned()))
        .with_ext(h.to_ext());
    if code == ResponseCode::SUCCESS {
        let total: usize = out.records.iter().map(Bytes::len).sum();
        let mut body = BytesMut::with_capacity(total);
        for r in &out.records {
            body.extend_from_slice(r);
        }
        resp = resp.with_body(body.freeze());
    }
    resp
}
