//! updateSubGroup, deleteSubGroup: subscription groups on a broker or every master of a
//! cluster, printed as mqadmin prints them.

use super::{cluster_masters, targets, AdminError};
use crate::client::admin::AdminClient;
use crate::protocol::body::client::SubscriptionGroupConfig;
use crate::protocol::topics::{dlq_topic, retry_topic};

/// updateSubGroup's options beyond the target and group (None: RocketMQ's default).
#[derive(Debug, Clone, Default)]
pub struct GroupOptions {
    /// -s.
    pub consume_enable: Option<bool>,
    /// -m.
    pub consume_from_min_enable: Option<bool>,
    /// -d.
    pub consume_broadcast_enable: Option<bool>,
    /// -q.
    pub retry_queue_nums: Option<i32>,
    /// -r.
    pub retry_max_times: Option<i32>,
    /// -i.
    pub broker_id: Option<i64>,
    /// -w.
    pub which_broker_when_consume_slowly: Option<i64>,
    /// -a.
    pub notify_consumer_ids_changed: Option<bool>,
    /// -o (RocketMQ 5).
    pub consume_message_orderly: Option<bool>,
}

/// The config updateSubGroup sends: RocketMQ's defaults, except that the command turns
/// broadcast and consume-from-min off unless asked.
pub fn group_config(group: &str, o: &GroupOptions) -> SubscriptionGroupConfig {
    let d = SubscriptionGroupConfig::default();
    SubscriptionGroupConfig {
        group_name: group.to_owned(),
        consume_enable: o.consume_enable.unwrap_or(d.consume_enable),
        consume_from_min_enable: o.consume_from_min_enable.unwrap_or(false),
        consume_broadcast_enable: o.consume_broadcast_enable.unwrap_or(false),
        retry_queue_nums: o.retry_queue_nums.unwrap_or(d.retry_queue_nums),
        retry_max_times: o.retry_max_times.unwrap_or(d.retry_max_times),
        broker_id: o.broker_id.unwrap_or(d.broker_id),
        which_broker_when_consume_slowly: o
            .which_broker_when_consume_slowly
            .unwrap_or(d.which_broker_when_consume_slowly),
        notify_consumer_ids_changed_enable: o
            .notify_consumer_ids_changed
            .unwrap_or(d.notify_consumer_ids_changed_enable),
        consume_message_orderly: o.consume_message_orderly.unwrap_or(false),
    }
}

/// Java's `SubscriptionGroupConfig.toString()`.
fn describe(c: &SubscriptionGroupConfig) -> String {
    format!(
        "SubscriptionGroupConfig [groupName={}, consumeEnable={}, consumeFromMinEnable={}, consumeBroadcastEnable={}, retryQueueNums={}, retryMaxTimes={}, brokerId={}, whichBrokerWhenConsumeSlowly={}, notifyConsumerIdsChangedEnable={}]",
        c.group_name,
        c.consume_enable,
        c.consume_from_min_enable,
        c.consume_broadcast_enable,
        c.retry_queue_nums,
        c.retry_max_times,
        c.broker_id,
        c.which_broker_when_consume_slowly,
        c.notify_consumer_ids_changed_enable
    )
}

/// updateSubGroup (-b | -c) -g [options].
pub async fn update_sub_group(
    admin: &AdminClient,
    broker: Option<String>,
    cluster: Option<String>,
    group: &str,
    opts: &GroupOptions,
    json: bool,
) -> Result<String, AdminError> {
    let cfg = group_config(group, opts);
    let mut out = String::new();
    let mut done = Vec::new();
    for addr in targets(admin, broker, cluster).await? {
        admin.upsert_group(&addr, &cfg).await?;
        out.push_str(&format!("create subscription group to {addr} success.\n"));
        done.push(addr);
    }
    out.push_str(&describe(&cfg));
    out.push('\n');
    Ok(if json {
        serde_json::to_string_pretty(&serde_json::json!({"brokers": done, "groupConfig": cfg}))
            .unwrap_or_default()
            + "\n"
    } else {
        out
    })
}

/// deleteSubGroup (-b | -c) -g [-r]: with -c, the group's retry and dead-letter topics
/// go too.
pub async fn delete_sub_group(
    admin: &AdminClient,
    broker: Option<String>,
    cluster: Option<String>,
    group: &str,
    remove_offset: bool,
    json: bool,
) -> Result<String, AdminError> {
    let mut out = String::new();
    let mut done = Vec::new();
    match (broker, cluster) {
        (Some(b), _) => {
            for addr in targets(admin, Some(b), None).await? {
                admin.delete_group(&addr, group, remove_offset).await?;
                out.push_str(&format!(
                    "delete subscription group [{group}] from broker [{addr}] success.\n"
                ));
                done.push(addr);
            }
        }
        (None, Some(c)) => {
            let info = admin.cluster_info().await?;
            let masters = cluster_masters(&info, &c)?;
            for (_, addr) in &masters {
                admin.delete_group(addr, group, remove_offset).await?;
                out.push_str(&format!(
                    "delete subscription group [{group}] from broker [{addr}] in cluster [{c}] success.\n"
                ));
                done.push(addr.clone());
            }
            for topic in [retry_topic(group), dlq_topic(group)] {
                out.push_str(&super::topics::delete_topic(admin, &topic, &c, false).await?);
            }
        }
        (None, None) => {
            return Err(AdminError::NotFound(
                "give -b BROKER_ADDR or -c CLUSTER".into(),
            ))
        }
    }
    Ok(if json {
        serde_json::to_string_pretty(
            &serde_json::json!({"group": group, "brokers": done, "deleted": true}),
        )
        .unwrap_or_default()
            + "\n"
    } else {
        out
    })
}
