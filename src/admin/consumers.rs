//! brokerConsumeStats, consumerProgress, consumerConnection: consumer lag per queue.

use super::table::{local_time, Table};
use super::AdminError;
use crate::broker::metadata::retry_topic;
use crate::client::admin::AdminClient;
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

/// consumerProgress -g: every broker of the group's retry topic.
pub async fn consumer_progress(
    admin: &AdminClient,
    group: &str,
    json: bool,
) -> Result<String, AdminError> {
    let route = group_route(admin, group).await?;
    let mut t = Table::new(
        "%-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s",
        "%-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s",
        &[
            "#Topic",
            "#Broker Name",
            "#QID",
            "#Broker Offset",
            "#Consumer Offset",
            "#Diff",
            "#LastTime",
        ],
    );
    let (mut total, mut tps) = (0i64, 0.0f64);
    for b in &route.broker_datas {
        let Some(addr) = b.master_addr() else {
            continue;
        };
        let (rows, t_tps) = admin.consume_stats(addr, group, None).await?;
        tps += t_tps;
        for (mq, w) in rows {
            let diff = (w.broker_offset - w.consumer_offset).max(0);
            total += diff;
            t.row(vec![
                mq.topic,
                mq.broker_name,
                mq.queue_id.to_string(),
                w.broker_offset.to_string(),
                w.consumer_offset.to_string(),
                diff.to_string(),
                if w.last_timestamp > 0 {
                    local_time(w.last_timestamp, false)
                } else {
                    "N/A".into()
                },
            ]);
        }
    }
    t.footer("Consume TPS", format!("{tps:.2}"));
    t.footer("Diff Total", total.to_string());
    Ok(if json { t.to_json() } else { t.render() })
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
