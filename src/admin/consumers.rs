//! brokerConsumeStats, consumerProgress, consumerConnection: consumer lag per queue.

use std::collections::BTreeMap;

use super::table::{local_time, Table};
use super::AdminError;
use crate::client::admin::AdminClient;
use crate::client::pull_consumer::{PullConsumer, PullOptions, QueueAt};
use crate::client::rpc::resolve;
use crate::protocol::body::client::{MessageQueue, SubscriptionData};
use crate::protocol::body::TopicRouteData;
use crate::protocol::topics::{retry_topic, RETRY_PREFIX};

/// brokerConsumeStats -b [-l MIN_DIFF] [-o].
pub async fn broker_consume_stats(
    admin: &AdminClient,
    broker: &str,
    min_diff: i64,
    order: bool,
    json: bool,
) -> Result<String, AdminError> {
    let (rows, _) = admin.broker_consume_stats(broker, order).await?;
    let mut t = Table::new(
        "%-64s  %-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s",
        "%-64s  %-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s",
        &[
            "#Topic",
            "#Group",
            "#Broker Name",
            "#QID",
            "#Broker Offset",
            "#Consumer Offset",
            "#Diff",
            "#LastTime",
        ],
    );
    let mut total = 0;
    for (group, mq, w) in rows {
        let diff = (w.broker_offset - w.consumer_offset).max(0);
        if diff < min_diff {
            continue;
        }
        total += diff;
        t.row(vec![
            mq.topic,
            group,
            mq.broker_name,
            mq.queue_id.to_string(),
            w.broker_offset.to_string(),
            w.consumer_offset.to_string(),
            diff.to_string(),
            if w.last_timestamp > 0 {
                local_time(w.last_timestamp, false)
            } else {
                String::new()
            },
        ]);
    }
    t.footer("Diff Total", total.to_string());
    Ok(if json { t.to_json() } else { t.render() })
}

/// The route of the group's retry topic: the brokers the group consumes from.
pub async fn group_route(admin: &AdminClient, group: &str) -> Result<TopicRouteData, AdminError> {
    admin
        .topic_route(&retry_topic(group))
        .await?
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "the consumer group [{group}] is unknown to the nameservers"
            ))
        })
}

/// One queue of a group's progress.
#[derive(Debug, Clone)]
pub struct QueueProgress {
    /// The queue.
    pub mq: MessageQueue,
    /// Master address of the queue's broker.
    pub broker_addr: String,
    /// The queue's max offset.
    pub broker_offset: i64,
    /// The group's committed offset.
    pub consumer_offset: i64,
    /// Store time of the last consumed message, ms (0: none).
    pub last_timestamp: i64,
    /// IP of the client holding the queue, when asked for and known.
    pub holder: Option<String>,
}

impl QueueProgress {
    /// Messages the group has yet to consume on this queue.
    pub fn diff(&self) -> i64 {
        (self.broker_offset - self.consumer_offset).max(0)
    }
}

/// A group's progress on every queue it consumes, and its consume TPS; with `holders`, the
/// IP of the client holding each queue.
pub async fn group_progress(
    admin: &AdminClient,
    group: &str,
    holders: bool,
) -> Result<(Vec<QueueProgress>, f64), AdminError> {
    let route = group_route(admin, group).await?;
    let held = if holders {
        queue_holders(admin, &route, group).await
    } else {
        BTreeMap::new()
    };
    let (mut out, mut tps) = (Vec::new(), 0.0f64);
    for b in &route.broker_datas {
        let Some(addr) = b.master_addr() else {
            continue;
        };
        let (rows, t_tps) = admin.consume_stats(addr, group, None).await?;
        tps += t_tps;
        for (mq, w) in rows {
            out.push(QueueProgress {
                holder: held.get(&mq).cloned(),
                mq,
                broker_addr: addr.to_owned(),
                broker_offset: w.broker_offset,
                consumer_offset: w.consumer_offset,
                last_timestamp: w.last_timestamp,
            });
        }
    }
    Ok((out, tps))
}

/// consumerProgress -g: every broker of the group's retry topic; with `show_ip`, the IP of
/// the client holding each queue (`N/A` when none does).
pub async fn consumer_progress(
    admin: &AdminClient,
    group: &str,
    show_ip: bool,
    json: bool,
) -> Result<String, AdminError> {
    let mut columns = vec![
        "#Topic",
        "#Broker Name",
        "#QID",
        "#Broker Offset",
        "#Consumer Offset",
    ];
    let pattern = if show_ip {
        columns.push("#Client IP");
        "%-64s  %-32s  %-4s  %-20s  %-20s  %-20s %-20s  %s"
    } else {
        "%-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s"
    };
    columns.extend(["#Diff", "#LastTime"]);
    let mut t = Table::new(pattern, pattern, &columns);
    let (queues, tps) = group_progress(admin, group, show_ip).await?;
    let mut total = 0i64;
    for q in &queues {
        total += q.diff();
        let mut row = vec![
            q.mq.topic.clone(),
            q.mq.broker_name.clone(),
            q.mq.queue_id.to_string(),
            q.broker_offset.to_string(),
            q.consumer_offset.to_string(),
        ];
        if show_ip {
            row.push(q.holder.clone().unwrap_or_else(|| "N/A".into()));
        }
        row.push(q.diff().to_string());
        row.push(if q.last_timestamp > 0 {
            local_time(q.last_timestamp, false)
        } else {
            "N/A".into()
        });
        t.row(row);
    }
    t.footer("Consume TPS", format!("{tps:.2}"));
    t.footer("Diff Total", total.to_string());
    let lag = store_to_consume_lag_ms(admin, &queues).await?;
    t.footer("Store-to-Consume Lag(ms)", lag.to_string());
    Ok(if json { t.to_json() } else { t.render() })
}

/// Which client holds each queue: every live consumer of the group, asked through a broker
/// (307), by the IP part of its client id. Like mqadmin, a consumer that cannot be asked
/// leaves its queues at `N/A` rather than failing the command.
async fn queue_holders(
    admin: &AdminClient,
    route: &TopicRouteData,
    group: &str,
) -> BTreeMap<MessageQueue, String> {
    let mut holders = BTreeMap::new();
    for b in &route.broker_datas {
        let Some(addr) = b.master_addr() else {
            continue;
        };
        let Ok(Some(cc)) = admin.consumer_connection(addr, group).await else {
            continue;
        };
        for c in &cc.connection_set {
            match admin.consumer_running_info(addr, group, &c.client_id).await {
                Ok(queues) => {
                    let ip = c.client_id.split('@').next().unwrap_or_default();
                    for (mq, _) in queues {
                        holders.insert(mq, ip.to_owned());
                    }
                }
                Err(e) => tracing::debug!("running info of {}: {e}", c.client_id),
            }
        }
        break;
    }
    holders
}

/// Age of the oldest message the group has not consumed: now minus the store time of the
/// message at each lagging queue's committed offset (0 when caught up).
pub async fn store_to_consume_lag_ms(
    admin: &AdminClient,
    queues: &[QueueProgress],
) -> Result<i64, AdminError> {
    let lagging: Vec<&QueueProgress> = queues.iter().filter(|q| q.diff() > 0).collect();
    if lagging.is_empty() {
        return Ok(0);
    }
    let pull = PullConsumer::new(
        super::messages::TOOLS_CONSUMER_GROUP,
        admin.namesrv().to_vec(),
    )?
    .with_credentials(admin.credentials());
    let now = crate::clock::now_ms();
    let mut oldest = 0i64;
    for q in lagging {
        let at = QueueAt {
            mq: q.mq.clone(),
            addr: resolve(&q.broker_addr)?,
        };
        let sub = SubscriptionData::from_expression(&q.mq.topic, "*", 0);
        let r = pull
            .pull(&at, &sub, q.consumer_offset, 1, PullOptions::default())
            .await?;
        if let Some(m) = r.messages.first() {
            oldest = oldest.max(now - m.store_timestamp);
        }
    }
    Ok(oldest.max(0))
}

/// consumerConnection -g.
pub async fn consumer_connection(
    admin: &AdminClient,
    group: &str,
    json: bool,
) -> Result<String, AdminError> {
    let route = group_route(admin, group).await?;
    let mut found = None;
    for b in &route.broker_datas {
        if let Some(addr) = b.master_addr() {
            if let Some(cc) = admin.consumer_connection(addr, group).await? {
                found = Some(cc);
                break;
            }
        }
    }
    let cc = found
        .ok_or_else(|| AdminError::NotFound(format!("the consumer group [{group}] not online")))?;
    if json {
        return Ok(serde_json::to_string_pretty(&cc).unwrap_or_default() + "\n");
    }
    let mut t = Table::new(
        "%-36s %-22s %-10s %s",
        "%-36s %-22s %-10s %s",
        &["#ClientId", "#ClientAddr", "#Language", "#Version"],
    );
    for c in &cc.connection_set {
        t.row(vec![
            c.client_id.clone(),
            c.client_addr.clone(),
            c.language.clone(),
            crate::protocol::version_name(c.version),
        ]);
    }
    let mut out = t.render();
    out.push_str("\nBelow is subscription:\n");
    for (topic, s) in &cc.subscription_table {
        out.push_str(&format!("{topic:<64} {}\n", s.sub_string));
    }
    out.push_str(&format!(
        "\nConsumeType: {}\nMessageModel: {}\nConsumeFromWhere: {}\n",
        cc.consume_type, cc.message_model, cc.consume_from_where
    ));
    Ok(out)
}

/// A group at a glance: its live clients, consume TPS and total lag.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    /// Group name.
    pub group: String,
    /// Live clients.
    pub clients: usize,
    /// Oldest client version, or `OFFLINE`.
    pub version: String,
    /// `PUSH` or `PULL` (empty when offline).
    pub kind: String,
    /// `CLUSTERING` or `BROADCASTING` for push consumers.
    pub model: String,
    /// Consume TPS over every broker.
    pub tps: f64,
    /// Messages not yet consumed.
    pub diff: i64,
}

/// Every group with a retry topic: the groups the nameservers know to have consumed.
pub async fn group_names(admin: &AdminClient) -> Result<Vec<String>, AdminError> {
    Ok(admin
        .topic_list()
        .await?
        .into_iter()
        .filter_map(|topic| topic.strip_prefix(RETRY_PREFIX).map(str::to_owned))
        .collect())
}

/// The summary of one group (None when its retry topic has no route).
pub async fn group_summary(
    admin: &AdminClient,
    group: &str,
) -> Result<Option<GroupSummary>, AdminError> {
    let Some(route) = admin.topic_route(&retry_topic(group)).await? else {
        return Ok(None);
    };
    let (mut tps, mut diff, mut conn) = (0.0f64, 0i64, None);
    for b in &route.broker_datas {
        let Some(addr) = b.master_addr() else {
            continue;
        };
        if let Ok((rows, t_tps)) = admin.consume_stats(addr, group, None).await {
            tps += t_tps;
            diff += rows
                .iter()
                .map(|(_, w)| w.broker_offset - w.consumer_offset)
                .sum::<i64>();
        }
        if conn.is_none() {
            conn = admin.consumer_connection(addr, group).await.ok().flatten();
        }
    }
    let clients = conn.as_ref().map_or(0, |c| c.connection_set.len());
    let (version, kind, model) = match &conn {
        Some(c) if clients > 0 => {
            let min = c
                .connection_set
                .iter()
                .map(|x| x.version)
                .min()
                .unwrap_or(0);
            let push = c.consume_type != "CONSUME_ACTIVELY";
            (
                crate::protocol::version_name(min),
                if push { "PUSH" } else { "PULL" }.to_owned(),
                if push {
                    c.message_model.clone()
                } else {
                    String::new()
                },
            )
        }
        _ => ("OFFLINE".to_owned(), String::new(), String::new()),
    };
    Ok(Some(GroupSummary {
        group: group.to_owned(),
        clients,
        version,
        kind,
        model,
        tps,
        diff,
    }))
}

/// consumerProgress without -g: one row per group with a retry topic.
pub async fn all_groups_progress(admin: &AdminClient, json: bool) -> Result<String, AdminError> {
    let mut t = Table::new(
        "%-64s  %-6s  %-24s %-5s  %-14s  %-7s  %s",
        "%-64s  %-6s  %-24s %-5s  %-14s  %-7s  %s",
        &[
            "#Group",
            "#Count",
            "#Version",
            "#Type",
            "#Model",
            "#TPS",
            "#Diff Total",
        ],
    );
    for group in group_names(admin).await? {
        let Some(g) = group_summary(admin, &group).await? else {
            continue;
        };
        t.row(vec![
            g.group.chars().take(64).collect(),
            g.clients.to_string(),
            g.version,
            g.kind,
            g.model,
            (g.tps as i64).to_string(),
            g.diff.to_string(),
        ]);
    }
    Ok(if json { t.to_json() } else { t.render() })
}
