//! topicList, topicRoute, topicStatus, topicClusterList, updateTopic, deleteTopic.

use super::table::{local_time, Table};
use super::{cluster_masters, route_of, targets, AdminError, Command};
use crate::client::admin::AdminClient;
use crate::protocol::body::TopicConfig;
use crate::protocol::codes::perm;
use crate::protocol::topics::{DLQ_PREFIX, RETRY_PREFIX};

/// topicList [-c].
pub async fn topic_list(
    admin: &AdminClient,
    detail: bool,
    json: bool,
) -> Result<String, AdminError> {
    let topics = admin.topic_list().await?;
    if !detail {
        return Ok(if json {
            serde_json::to_string_pretty(&topics).unwrap_or_default() + "\n"
        } else {
            topics.iter().map(|t| format!("{t}\n")).collect()
        });
    }
    let info = admin.cluster_info().await?;
    let mut t = Table::new(
        "%-20s  %-48s  %-48s",
        "%-20s  %-64s  %-64s",
        &["#Cluster Name", "#Topic", "#Consumer Group"],
    );
    for topic in topics
        .iter()
        .filter(|t| !t.starts_with(RETRY_PREFIX) && !t.starts_with(DLQ_PREFIX))
    {
        let Some(route) = admin.topic_route(topic).await? else {
            continue;
        };
        let Some(bd) = route.broker_datas.first() else {
            continue;
        };
        let cluster = info
            .cluster_addr_table
            .iter()
            .find(|(_, names)| names.contains(&bd.broker_name))
            .map(|(c, _)| c.clone())
            .unwrap_or_default();
        let mut groups = std::collections::BTreeSet::new();
        for b in &route.broker_datas {
            if let Some(addr) = b.master_addr() {
                groups.extend(admin.consumed_by(addr, topic).await?);
            }
        }
        if groups.is_empty() {
            t.row(vec![cluster.clone(), topic.clone(), String::new()]);
        }
        for g in groups {
            t.row(vec![cluster.clone(), topic.clone(), g]);
        }
    }
    Ok(if json { t.to_json() } else { t.render() })
}

/// topicRoute -t [-l].
pub async fn topic_route(
    admin: &AdminClient,
    topic: &str,
    list: bool,
    json: bool,
) -> Result<String, AdminError> {
    let route = route_of(admin, topic).await?;
    if !list || json {
        return Ok(serde_json::to_string_pretty(&route).unwrap_or_default() + "\n");
    }
    let mut t = Table::new(
        "%-45s %-32s %-50s %-10s %-11s %-5s",
        "%-45s %-32s %-50s %-10s %-11s %-5s",
        &[
            "#ClusterName",
            "#BrokerName",
            "#BrokerAddrs",
            "#ReadQueue",
            "#WriteQueue",
            "#Perm",
        ],
    );
    let (mut r, mut w) = (0, 0);
    for q in &route.queue_datas {
        let b = route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == q.broker_name);
        let addrs = b
            .map(|b| format!("{:?}", b.broker_addrs))
            .unwrap_or_default();
        t.row(vec![
            b.map(|b| b.cluster.clone()).unwrap_or_default(),
            q.broker_name.clone(),
            addrs,
            q.read_queue_nums.to_string(),
            q.write_queue_nums.to_string(),
            q.perm.to_string(),
        ]);
        r += q.read_queue_nums;
        w += q.write_queue_nums;
    }
    let mut out = t.render();
    out.push_str(&format!("\nTotal: {} {r} {w}\n", route.queue_datas.len()));
    Ok(out)
}

/// topicClusterList -t: the clusters the topic lives in, one per line.
pub async fn topic_cluster_list(
    admin: &AdminClient,
    topic: &str,
    json: bool,
) -> Result<String, AdminError> {
    let route = route_of(admin, topic).await?;
    let info = admin.cluster_info().await?;
    // mqadmin looks only at the first group; a topic spread over clusters shows them all.
    let clusters = clusters_of(&info, &route);
    Ok(if json {
        serde_json::to_string_pretty(&clusters).unwrap_or_default() + "\n"
    } else {
        clusters.iter().map(|c| format!("{c}\n")).collect()
    })
}

/// Every cluster holding one of the route's broker groups.
pub fn clusters_of<'a>(
    info: &'a crate::protocol::body::ClusterInfo,
    route: &crate::protocol::body::TopicRouteData,
) -> std::collections::BTreeSet<&'a String> {
    info.cluster_addr_table
        .iter()
        .filter(|(_, names)| {
            route
                .broker_datas
                .iter()
                .any(|b| names.contains(&b.broker_name))
        })
        .map(|(cluster, _)| cluster)
        .collect()
}

/// topicStatus -t.
pub async fn topic_status(
    admin: &AdminClient,
    topic: &str,
    json: bool,
) -> Result<String, AdminError> {
    let route = route_of(admin, topic).await?;
    let mut t = Table::new(
        "%-32s  %-4s  %-20s  %-20s    %s",
        "%-32s  %-4s  %-20s  %-20s    %s",
        &[
            "#Broker Name",
            "#QID",
            "#Min Offset",
            "#Max Offset",
            "#Last Updated",
        ],
    );
    let mut brokers = route.broker_datas.clone();
    brokers.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    for b in brokers {
        let Some(addr) = b.master_addr() else {
            continue;
        };
        for (mq, o) in admin.topic_stats(addr, topic).await? {
            t.row(vec![
                mq.broker_name,
                mq.queue_id.to_string(),
                o.min_offset.to_string(),
                o.max_offset.to_string(),
                if o.last_update_timestamp > 0 {
                    local_time(o.last_update_timestamp, true)
                } else {
                    String::new()
                },
            ]);
        }
    }
    if t.is_empty() {
        return Err(AdminError::NotFound(
            "Not found the topic stats info".into(),
        ));
    }
    Ok(if json { t.to_json() } else { t.render() })
}

/// updateTopic -t (-b | -c) [-r] [-w] [-p] [-o].
pub async fn update_topic(
    admin: &AdminClient,
    cmd: Command,
    json: bool,
) -> Result<String, AdminError> {
    let Command::UpdateTopic {
        topic,
        broker,
        cluster,
        read,
        write,
        perm: p,
        order,
        attributes,
    } = cmd
    else {
        return Err(AdminError::NotFound("not updateTopic".into()));
    };
    let attributes = crate::protocol::topic_attributes::apply(
        &Default::default(),
        attributes.as_deref().unwrap_or(""),
    )
    .map_err(AdminError::Invalid)?;
    let config = TopicConfig {
        attributes,
        read_queue_nums: read,
        write_queue_nums: write,
        perm: p,
        order,
        ..TopicConfig::new(&topic, read)
    };
    let mut out = String::new();
    let mut done = Vec::new();
    for addr in targets(admin, broker, cluster).await? {
        admin.create_topic(&addr, &config).await?;
        out.push_str(&format!("create topic to {addr} success.\n"));
        done.push(addr);
    }
    out.push_str(&format!(
        "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}, topicFilterType={}, topicSysFlag={}, order={}]\n",
        config.topic_name,
        config.read_queue_nums,
        config.write_queue_nums,
        perm::to_text(config.perm),
        config.topic_filter_type,
        config.topic_sys_flag,
        config.order
    ));
    Ok(if json {
        serde_json::to_string_pretty(&serde_json::json!({"brokers": done, "topicConfig": config}))
            .unwrap_or_default()
            + "\n"
    } else {
        out
    })
}

/// deleteTopic -t -c.
pub async fn delete_topic(
    admin: &AdminClient,
    topic: &str,
    cluster: &str,
    json: bool,
) -> Result<String, AdminError> {
    let info = admin.cluster_info().await?;
    let masters = cluster_masters(&info, cluster)?;
    for (_, addr) in &masters {
        admin.delete_topic_in_broker(addr, topic).await?;
    }
    admin.delete_topic_in_namesrv(topic, cluster).await?;
    Ok(if json {
        serde_json::to_string_pretty(
            &serde_json::json!({"topic": topic, "cluster": cluster, "deleted": true}),
        )
        .unwrap_or_default()
            + "\n"
    } else {
        format!("delete topic [{topic}] from cluster [{cluster}] success.\ndelete topic [{topic}] from NameServer success.\n")
    })
}
