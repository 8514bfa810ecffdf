//! brokerConsumeStats, consumerProgress, consumerConnection: consumer lag per queue.

use std::collections::BTreeMap;

use super::table::{local_time, Table};
use super::AdminError;
use crate::broker::metadata::{retry_topic, RETRY_PREFIX};
use crate::client::admin::AdminClient;
use crate::client::pull_consumer::{PullConsumer, PullOptions, QueueAt};
use crate::client::rpc::resolve;
use crate::protocol::body::client::{MessageQueue, SubscriptionData};
use crate::protocol::body::TopicRouteData;

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
async fn group_route(admin: &AdminClient, group: &str) -> Result<TopicRouteData, AdminError> {
    admin
        .topic_route(&retry_topic(group))
        .await?
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "the consumer group [{group}] is unknown to the nameservers"
            ))
        })
}

/// consumerProgress -g: every broker of the group's retry topic; with `show_ip`, the IP of
/// the client holding each queue (`N/A` when none does).
pub async fn consumer_progress(
    admin: &AdminClient,
    group: &str,
    show_ip: bool,
    json: bool,
) -> Result<String, AdminError> {
    let route = group_route(admin, group).await?;
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
    let holders = if show_ip {
        queue_holders(admin, &route, group).await
    } else {
        BTreeMap::new()
    };
    let (mut total, mut tps) = (0i64, 0.0f64);
    let mut lagging = Vec::new();
    for b in &route.broker_datas {
        let Some(addr) = b.master_addr() else {
            continue;
        };
        let (rows, t_tps) = admin.consume_stats(addr, group, None).await?;
        tps += t_tps;
        for (mq, w) in rows {
            let diff = (w.broker_offset - w.consumer_offset).max(0);
            total += diff;
            if diff > 0 {
                lagging.push((mq.clone(), addr.to_owned(), w.consumer_offset));
            }
            let mut row = vec![
                mq.topic.clone(),
                mq.broker_name.clone(),
                mq.queue_id.to_string(),
                w.broker_offset.to_string(),
                w.consumer_offset.to_string(),
            ];
            if show_ip {
                row.push(holders.get(&mq).cloned().unwrap_or_else(|| "N/A".into()));
            }
            row.push(diff.to_string());
            row.push(if w.last_timestamp > 0 {
                local_time(w.last_timestamp, false)
            } else {
                "N/A".into()
            });
            t.row(row);
        }
    }
    t.footer("Consume TPS", format!("{tps:.2}"));
    t.footer("Diff Total", total.to_string());
    let lag = store_to_consume_lag_ms(admin, &lagging).await?;
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
async fn store_to_consume_lag_ms(
    admin: &AdminClient,
    lagging: &[(crate::protocol::body::client::MessageQueue, String, i64)],
) -> Result<i64, AdminError> {
    if lagging.is_empty() {
        return Ok(0);
    }
    let pull = PullConsumer::new(
        super::messages::TOOLS_CONSUMER_GROUP,
        admin.namesrv().to_vec(),
    )?;
    let now = crate::clock::now_ms();
    let mut oldest = 0i64;
    for (mq, addr, offset) in lagging {
        let q = QueueAt {
            mq: mq.clone(),
            addr: resolve(addr)?,
        };
        let sub = SubscriptionData::from_expression(&mq.topic, "*", 0);
        let r = pull
            .pull(&q, &sub, *offset, 1, PullOptions::default())
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
            c.version.to_string(),
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
    let groups: Vec<String> = admin
        .topic_list()
        .await?
        .into_iter()
        .filter_map(|topic| topic.strip_prefix(RETRY_PREFIX).map(str::to_owned))
        .collect();
    for group in groups {
        let Some(route) = admin.topic_route(&retry_topic(&group)).await? else {
            continue;
        };
        let (mut tps, mut diff, mut conn) = (0.0f64, 0i64, None);
        for b in &route.broker_datas {
            let Some(addr) = b.master_addr() else {
                continue;
            };
            if let Ok((rows, t_tps)) = admin.consume_stats(addr, &group, None).await {
                tps += t_tps;
                diff += rows
                    .iter()
                    .map(|(_, w)| w.broker_offset - w.consumer_offset)
                    .sum::<i64>();
            }
            if conn.is_none() {
                conn = admin.consumer_connection(addr, &group).await.ok().flatten();
            }
        }
        let count = conn.as_ref().map_or(0, |c| c.connection_set.len());
        let (version, kind, model) = match &conn {
            Some(c) if count > 0 => {
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
        t.row(vec![
            group.chars().take(64).collect(),
            count.to_string(),
            version,
            kind,
            model,
            (tps as i64).to_string(),
            diff.to_string(),
        ]);
    }
    Ok(if json { t.to_json() } else { t.render() })
}
