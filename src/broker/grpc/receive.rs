//! ReceiveMessage: a POP receive over every queue of the topic on this broker (the
//! client's queue choice is ignored, as the proxy does), long-polling until a message
//! arrives, a lease runs out, or the poll time — bounded by `grpc-timeout` — passes.
//!
//! The stream is `{status}`, then one `{message}` each, then `{delivery_timestamp}`;
//! nothing found is `{status MESSAGE_NOT_FOUND}` then the timestamp, which both SDKs
//! treat as an empty receive.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use hyper::Response;

use super::body::{channel, BodyWriter, GrpcBody};
use super::convert::{to_message, Delivery};
use super::renewal::{extend_all, Held};
use super::route::accepted_types;
use super::server::{grpc_response, Call};
use super::telemetry::LONG_POLLING_TIMEOUT_MS;
use super::{duration_ms, ms_timestamp, name_of, ok, status};
use crate::broker::handlers::topic_check;
use crate::broker::pop::handle::ReceiptHandle;
use crate::broker::pop::owner::{self, PopRequest, Popped, MAX_POP_BATCH};
use crate::broker::property_filter;
use crate::protocol::codes::perm;
use crate::protocol::grpc::status::GrpcCode;
use crate::protocol::grpc::v2;
use crate::protocol::grpc::v2::receive_message_response::Content;
use crate::store::record::{tags_hash_code, Record};

/// Shortest lease a receive may ask for, ms. RocketMQ's proxy asks 10 s; 1 s keeps short
/// redelivery tests possible and is still far above a round trip.
pub const MIN_INVISIBLE_MS: i64 = 1_000;
/// Longest lease, ms (the proxy's 12 h).
pub const MAX_INVISIBLE_MS: i64 = 12 * 3600 * 1000;
/// Time kept back from the client's deadline for the answer to reach it, ms.
pub const DEADLINE_MARGIN_MS: u64 = 500;

thread_local! {
    /// Rotates the first queue tried, so one busy queue does not starve the others.
    static NEXT_START: Cell<usize> = const { Cell::new(0) };
}

/// Opens the stream and serves the receive on this core.
pub fn open(call: Rc<Call>, req: v2::ReceiveMessageRequest) -> Response<GrpcBody> {
    let (w, body) = channel();
    glommio::spawn_local(async move {
        match prepare(&call, req).await {
            Ok(plan) => serve(&call, plan, &w).await,
            Err(s) => {
                w.send(&v2::ReceiveMessageResponse {
                    content: Some(Content::Status(s)),
                });
                w.finish(GrpcCode::Ok, "");
            }
        }
    })
    .detach();
    grpc_response(body)
}

struct Plan {
    pop: PopRequest,
    /// The client, when known on this core at the start (it may end while this waits).
    client: Option<String>,
    /// Renew the leases for `client` (a push consumer's receive).
    renew: bool,
    /// Owner shard → its queues.
    owners: Vec<(usize, Vec<i32>)>,
    poll_until: Instant,
}

fn bad(code: v2::Code, message: String) -> v2::Status {
    v2::Status {
        code: code as i32,
        message,
    }
}

/// A receive's filter: tag codes (`None` takes every tag) and a SQL92 condition.
struct Filter {
    tags: Option<Vec<i64>>,
    sql: Option<String>,
}

/// The filter of a receive; a SQL92 one must compile and be enabled on the broker
/// (`enablePropertyFilter`, as for 4.x pulls).
fn filter_of(f: &Option<v2::FilterExpression>, sql_enabled: bool) -> Result<Filter, v2::Status> {
    let all = Filter {
        tags: None,
        sql: None,
    };
    let Some(f) = f else {
        return Ok(all);
    };
    match v2::FilterType::try_from(f.r#type) {
        Ok(v2::FilterType::Sql) => {
            let sql = f.expression.trim();
            property_filter::check(sql_enabled, sql).map_err(|(_, why)| {
                bad(
                    v2::Code::IllegalFilterExpression,
                    format!("SQL92 filter {sql:?}: {why}"),
                )
            })?;
            Ok(Filter {
                tags: None,
                sql: Some(sql.to_owned()),
            })
        }
        _ => {
            let e = f.expression.trim();
            if e.is_empty() || e == "*" {
                return Ok(all);
            }
            Ok(Filter {
                tags: Some(
                    e.split("||")
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(tags_hash_code)
                        .collect(),
                ),
                sql: None,
            })
        }
    }
}

async fn prepare(call: &Call, req: v2::ReceiveMessageRequest) -> Result<Plan, v2::Status> {
    let shard = &call.shard;
    let group = name_of(&req.group, "group")?;
    let topic = req
        .message_queue
        .as_ref()
        .ok_or_else(|| bad(v2::Code::BadRequest, "message_queue is missing".into()))
        .and_then(|q| name_of(&q.topic, "message_queue.topic"))?;
    let filter = filter_of(&req.filter_expression, shard.cfg().enable_property_filter)?;
    // A push consumer's receive (auto_renew) gets defaultInvisibleTimeMills, as from the
    // proxy, whatever it asks; the lease is then renewed while the client lives.
    let asked = match req.auto_renew {
        true => Some(shard.cfg().default_invisible_time_mills as i64),
        false => duration_ms(&req.invisible_duration),
    };
    let invisible_ms = match asked {
        Some(ms) if (MIN_INVISIBLE_MS..=MAX_INVISIBLE_MS).contains(&ms) => ms,
        Some(ms) => {
            return Err(bad(
                v2::Code::IllegalInvisibleTime,
                format!(
                "invisible_duration {ms} ms is outside [{MIN_INVISIBLE_MS}, {MAX_INVISIBLE_MS}] ms"
            ),
            ))
        }
        None => {
            return Err(bad(
                v2::Code::IllegalInvisibleTime,
                "invisible_duration is missing".into(),
            ))
        }
    };
    let t = shard
        .meta
        .borrow()
        .topics
        .get(&topic)
        .cloned()
        .ok_or_else(|| bad(v2::Code::TopicNotFound, format!("topic {topic} not found")))?;
    if t.perm & perm::READ == 0 || shard.cfg().broker_permission as i32 & perm::READ == 0 {
        return Err(bad(
            v2::Code::Forbidden,
            format!("topic {topic} is not readable"),
        ));
    }
    let g = topic_check::group(shard, &group)
        .await
        .map_err(|e| bad(v2::Code::InternalServerError, e))?
        .ok_or_else(|| {
            bad(
                v2::Code::ConsumerGroupNotFound,
                format!("consumer group {group} not found (autoCreateSubscriptionGroup is off)"),
            )
        })?;
    if !g.consume_enable {
        return Err(bad(
            v2::Code::Forbidden,
            format!("consumer group {group} may not consume (consumeEnable=false)"),
        ));
    }
    let fifo = g.consume_message_orderly || accepted_types(&t) == [v2::MessageType::Fifo];
    let poll_ms = duration_ms(&req.long_polling_timeout)
        .unwrap_or(LONG_POLLING_TIMEOUT_MS)
        .clamp(0, LONG_POLLING_TIMEOUT_MS) as u64;
    let mut poll = Duration::from_millis(poll_ms);
    if let Some(left) = call.remaining() {
        poll = poll.min(left.saturating_sub(Duration::from_millis(DEADLINE_MARGIN_MS)));
    }
    // Queues by owner, each owner's list starting at a rotating point.
    let n = t.read_queue_nums.max(0) as usize;
    let start = NEXT_START.with(|c| {
        let v = c.get();
        c.set(v.wrapping_add(1));
        v
    });
    let mut owners: Vec<(usize, Vec<i32>)> = Vec::new();
    for i in 0..n {
        let qid = ((start + i) % n.max(1)) as i32;
        let o = shard.queue_owner(&topic, qid);
        match owners.iter_mut().find(|(s, _)| *s == o) {
            Some((_, qs)) => qs.push(qid),
            None => owners.push((o, vec![qid])),
        }
    }
    let batch = (req.batch_size.max(1) as usize).min(MAX_POP_BATCH);
    let client = shard
        .grpc_clients
        .borrow()
        .knows(&call.client_id)
        .then(|| call.client_id.clone());
    Ok(Plan {
        renew: req.auto_renew && client.is_some() && shard.cfg().enable_proxy_auto_renew,
        client,
        pop: PopRequest {
            group,
            topic,
            queues: Vec::new(),
            max: batch,
            invisible_ms,
            tag_codes: filter.tags,
            sql: filter.sql,
            fifo,
            max_attempts: g.retry_max_times.max(0) as u32 + 1,
        },
        owners,
        poll_until: Instant::now() + poll,
    })
}

async fn pop_all(call: &Call, plan: &Plan) -> Result<Vec<Popped>, String> {
    let mut got = Vec::new();
    for (owner, queues) in &plan.owners {
        if got.len() >= plan.pop.max {
            break;
        }
        let mut req = plan.pop.clone();
        req.queues = queues.clone();
        req.max = plan.pop.max - got.len();
        let r = call
            .shard
            .run_on(*owner, move |s| owner::pop(s, req))
            .await
            .map_err(|e| e.to_string())??;
        got.extend(r);
    }
    Ok(got)
}

/// Waits until the first of `futs` is done.
async fn first_of(mut futs: Vec<Pin<Box<dyn Future<Output = ()>>>>) {
    if futs.is_empty() {
        return;
    }
    std::future::poll_fn(|cx| {
        for f in futs.iter_mut() {
            if f.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await
}

async fn serve(call: &Call, plan: Plan, w: &BodyWriter) {
    let send_status = |s: Option<v2::Status>| {
        w.send(&v2::ReceiveMessageResponse {
            content: s.map(Content::Status),
        })
    };
    // The caller went away: its stream was reset, or its client ended while this waited.
    let gone = || {
        w.is_gone()
            || plan
                .client
                .as_ref()
                .is_some_and(|c| !call.shard.grpc_clients.borrow().knows(c))
    };
    let key = |p: &Popped| {
        let (g, t) = (plan.pop.group.clone(), plan.pop.topic.clone());
        (g, t, p.queue_id, p.offset)
    };
    loop {
        // A receive whose caller went away takes nothing: the SDK would drop it.
        if gone() {
            send_status(status(v2::Code::MessageNotFound, "the client has gone"));
            break;
        }
        let popped = match pop_all(call, &plan).await {
            Ok(p) => p,
            Err(e) => {
                send_status(status(v2::Code::InternalServerError, e));
                break;
            }
        };
        if !popped.is_empty() && gone() {
            // Gone during the pop: handed back at once, as the proxy nacks a failed write.
            let leases = popped.iter().map(|p| (key(p), p.lease.id)).collect();
            let ms = call.shard.cfg().invisible_time_millis_when_clear as i64;
            extend_all(&call.shard, leases, ms).await;
            break;
        }
        if !popped.is_empty() {
            send_status(ok());
            let now = crate::clock::now_ms();
            for p in popped {
                let Ok(rec) = Record::parse(&p.record) else {
                    continue;
                };
                if let Some(client_id) = plan.client.as_ref().filter(|_| plan.renew) {
                    call.shard.grpc_renewals.borrow_mut().hold(
                        key(&p),
                        Held {
                            client_id: client_id.clone(),
                            lease: p.lease.id,
                            since_ms: now,
                            visible_at_ms: p.lease.visible_at_ms,
                        },
                    );
                }
                let d = Delivery {
                    receipt_handle: ReceiptHandle {
                        queue_id: p.queue_id,
                        offset: p.offset,
                        lease: p.lease.id,
                        visible_at_ms: p.lease.visible_at_ms,
                    }
                    .encode(),
                    attempt: p.lease.attempt,
                    invisible_ms: plan.pop.invisible_ms,
                };
                w.send(&v2::ReceiveMessageResponse {
                    content: Some(Content::Message(to_message(&rec, &d))),
                });
            }
            break;
        }
        let left = plan.poll_until.saturating_duration_since(Instant::now());
        if left.is_zero() || w.is_gone() {
            send_status(status(v2::Code::MessageNotFound, "no new message"));
            break;
        }
        let waits: Vec<Pin<Box<dyn Future<Output = ()>>>> = plan
            .owners
            .iter()
            .map(|(owner, _)| {
                let (g, t, o) = (plan.pop.group.clone(), plan.pop.topic.clone(), *owner);
                let shard = call.shard.clone();
                Box::pin(async move {
                    let _ = shard.run_on(o, move |s| owner::wait(s, g, t, left)).await;
                }) as Pin<Box<dyn Future<Output = ()>>>
            })
            .collect();
        first_of(waits).await;
    }
    w.send(&v2::ReceiveMessageResponse {
        content: Some(Content::DeliveryTimestamp(ms_timestamp(
            crate::clock::now_ms(),
        ))),
    });
    w.finish(GrpcCode::Ok, "");
}
