//! queryMsgById, queryMsgByOffset: one stored message as mqadmin's printMsg shows it — its
//! fields, its body saved to a file, and whether each consuming group has consumed it.

use std::path::PathBuf;
use std::time::Duration;

use super::table::local_time;
use super::AdminError;
use crate::client::admin::AdminClient;
use crate::client::message::Received;
use crate::client::producer::{Message, Producer};
use crate::client::pull_consumer::{PullConsumer, PullOptions, PullStatus, QueueAt};
use crate::client::rpc::DEFAULT_TIMEOUT_MS;
use crate::protocol::body::client::SubscriptionData;
use crate::protocol::message_id;

/// The producer group mqadmin resends with.
pub const RESEND_PRODUCER_GROUP: &str = "ReSendMsgById";
/// The group mqadmin's tools pull with.
pub const TOOLS_CONSUMER_GROUP: &str = "TOOLS_CONSUMER";
/// Bodies are saved under the temp dir here (RocketMQ's /tmp/rocketmq/msgbodys).
const BODY_DIR: &str = "rocketmq/msgbodys";

/// queryMsgById -i ID[,ID...].
pub async fn query_by_id(admin: &AdminClient, ids: &str, json: bool) -> Result<String, AdminError> {
    let mut out = String::new();
    let mut all = Vec::new();
    for (_, addr, offset) in parse_ids(ids)? {
        let m = admin.view_message(addr, offset).await?;
        out.push_str(&print_msg(admin, &m, true, &mut all).await?);
    }
    Ok(if json {
        serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
    } else {
        out
    })
}

/// The offset message ids in `ids`, each with the broker address and commit-log offset it
/// names.
fn parse_ids(ids: &str) -> Result<Vec<(&str, std::net::SocketAddr, i64)>, AdminError> {
    ids.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|id| {
            let (addr, offset) = message_id::decode(id).ok_or_else(|| {
                AdminError::NotFound(format!(
                    "{id} is not an offset message id: query message by id finished, but no message."
                ))
            })?;
            Ok((id, addr, offset))
        })
        .collect()
}

/// queryMsgById -g GROUP -d CLIENT_ID -i ID[,ID...]: the client consumes each message once,
/// through the broker storing it; prints mqadmin's ConsumeMessageDirectlyResult line.
pub async fn consume_directly(
    admin: &AdminClient,
    ids: &str,
    group: &str,
    client_id: &str,
    json: bool,
) -> Result<String, AdminError> {
    let (mut out, mut all) = (String::new(), Vec::new());
    for (id, addr, _) in parse_ids(ids)? {
        let r = admin
            .consume_message_directly(addr, group, client_id, id)
            .await?;
        out.push_str(&format!("{r}\n"));
        all.push(serde_json::json!({
            "msgId": id,
            "order": r.order,
            "autoCommit": r.auto_commit,
            "consumeResult": r.consume_result.name(),
            "remark": r.remark,
            "spentTimeMills": r.spent_time_mills,
        }));
    }
    Ok(if json {
        serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
    } else {
        out
    })
}

/// queryMsgById -s true -i ID[,ID...]: reads each message and sends it again, as stored
/// (topic, tags, keys, properties, its unique id), with the producer group mqadmin uses.
pub async fn resend(admin: &AdminClient, ids: &str, json: bool) -> Result<String, AdminError> {
    let ids = parse_ids(ids)?;
    let producer = Producer::new(
        RESEND_PRODUCER_GROUP,
        admin.namesrv().to_vec(),
        Duration::from_millis(DEFAULT_TIMEOUT_MS),
    )?
    .with_credentials(admin.credentials());
    let (mut out, mut all) = (String::new(), Vec::new());
    for (id, addr, offset) in ids {
        let m = admin.view_message(addr, offset).await?;
        let r = producer.send(&Message::copy_of(&m)).await?;
        out.push_str(&format!("prepare resend msg. originalMsgId={id}\n{r}\n"));
        all.push(serde_json::json!({
            "originalMsgId": id,
            "sendStatus": r.status.name(),
            "msgId": r.msg_id,
            "offsetMsgId": r.offset_msg_id,
            "queueOffset": r.queue_offset,
        }));
    }
    Ok(if json {
        serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
    } else {
        out
    })
}

/// queryMsgByOffset -t -b BROKER_NAME -i QUEUE -o OFFSET: prints nothing when no message
/// is there.
pub async fn query_by_offset(
    admin: &AdminClient,
    topic: &str,
    broker_name: &str,
    queue_id: i32,
    offset: i64,
    json: bool,
) -> Result<String, AdminError> {
    let pull = PullConsumer::new(TOOLS_CONSUMER_GROUP, admin.namesrv().to_vec())?
        .with_credentials(admin.credentials());
    let q: QueueAt = pull
        .queues(topic)
        .await?
        .into_iter()
        .find(|q| q.mq.broker_name == broker_name && q.mq.queue_id == queue_id)
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "no queue {queue_id} of topic [{topic}] on broker [{broker_name}]"
            ))
        })?;
    let sub = SubscriptionData::from_expression(topic, "*", 0);
    let r = pull
        .pull(&q, &sub, offset, 1, PullOptions::default())
        .await?;
    let mut all = Vec::new();
    let mut out = String::new();
    if r.status == PullStatus::Found {
        if let Some(m) = r.messages.first() {
            out = print_msg(admin, m, true, &mut all).await?;
        }
    }
    Ok(if json {
        serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
    } else {
        out
    })
}

/// mqadmin's printMsg: saves the body, prints the fields and the message track
/// (queryMsgByUniqueKey's variant has no `OffsetID:` line).
pub(super) async fn print_msg(
    admin: &AdminClient,
    m: &Received,
    with_offset_id: bool,
    all: &mut Vec<serde_json::Value>,
) -> Result<String, AdminError> {
    let path = save_body(m)
        .map_err(|e| AdminError::NotFound(format!("cannot save the body of {}: {e}", m.msg_id)))?;
    let props = m
        .properties
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let or_null = |s: &str| {
        if s.is_empty() {
            "null".to_owned()
        } else {
            s.to_owned()
        }
    };
    let mut fields: Vec<(&str, String)> = vec![
        ("OffsetID:", m.offset_msg_id.clone()),
        ("Topic:", m.topic.clone()),
        ("Tags:", format!("[{}]", or_null(&m.tags))),
        ("Keys:", format!("[{}]", or_null(&m.keys))),
        ("Queue ID:", m.queue_id.to_string()),
        ("Queue Offset:", m.queue_offset.to_string()),
        ("CommitLog Offset:", m.commit_log_offset.to_string()),
        ("Reconsume Times:", m.reconsume_times.to_string()),
        ("Born Timestamp:", local_time(m.born_timestamp, true)),
        ("Store Timestamp:", local_time(m.store_timestamp, true)),
        ("Born Host:", m.born_host.to_string()),
        ("Store Host:", m.store_host.to_string()),
        ("System Flag:", m.sys_flag.to_string()),
        ("Properties:", format!("{{{props}}}")),
        ("Message Body Path:", path.display().to_string()),
    ];
    if !with_offset_id {
        fields.remove(0);
    }
    let mut out = String::new();
    for (label, value) in &fields {
        out.push_str(&format!("{label:<20} {value}\n"));
    }
    let tracks = track(admin, m).await;
    if tracks.is_empty() {
        out.push_str("\n\nWARN: No Consumer\n");
    } else {
        out.push_str("\n\n");
        for (group, kind, desc) in &tracks {
            out.push_str(&format!(
                "MessageTrack [consumerGroup={group}, trackType={kind}, exceptionDesc={desc}]"
            ));
        }
        out.push('\n');
    }
    let mut obj = serde_json::Map::new();
    for (label, value) in fields {
        obj.insert(label.trim_end_matches(':').to_owned(), value.into());
    }
    obj.insert(
        "tracks".into(),
        serde_json::json!(tracks
            .iter()
            .map(|(g, k, d)| serde_json::json!({"consumerGroup": g, "trackType": k, "exceptionDesc": d}))
            .collect::<Vec<_>>()),
    );
    all.push(serde_json::Value::Object(obj));
    Ok(out)
}

fn save_body(m: &Received) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(BODY_DIR);
    std::fs::create_dir_all(&dir)?;
    // The id comes from the producer: only a plain hex name is used as a file name.
    let name = if !m.msg_id.is_empty() && m.msg_id.chars().all(|c| c.is_ascii_hexdigit()) {
        &m.msg_id
    } else {
        &m.offset_msg_id
    };
    let path = dir.join(name);
    std::fs::write(&path, &m.body)?;
    Ok(path)
}

/// (group, trackType, exceptionDesc) for every group consuming the message's topic:
/// CONSUMED once the group's committed offset is past it (CONSUMED_BUT_FILTERED when its
/// subscription skips the tag), NOT_CONSUME_YET before, PULL for pull consumers,
/// NOT_ONLINE when no consumer of the group is connected.
pub async fn track(admin: &AdminClient, m: &Received) -> Vec<(String, String, String)> {
    let broker = m.store_host.to_string();
    let Ok(groups) = admin.consumed_by(&broker, &m.topic).await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for group in groups {
        let conn = match admin.consumer_connection(&broker, &group).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                out.push((
                    group.clone(),
                    "NOT_ONLINE".into(),
                    format!("CODE:206 DESC:the consumer group[{group}] not online"),
                ));
                continue;
            }
            Err(e) => {
                out.push((group, "UNKNOWN".into(), e.to_string()));
                continue;
            }
        };
        if conn.consume_type == "CONSUME_ACTIVELY" {
            out.push((group, "PULL".into(), "null".into()));
            continue;
        }
        let consumed = admin
            .consume_stats(&broker, &group, Some(&m.topic))
            .await
            .map(|(rows, _)| {
                rows.iter().any(|(q, w)| {
                    q.topic == m.topic
                        && q.queue_id == m.queue_id
                        && w.consumer_offset > m.queue_offset
                })
            });
        let kind = match consumed {
            Ok(true) => {
                let filtered = conn.subscription_table.get(&m.topic).is_some_and(|s| {
                    !s.takes_all() && !s.sub_string.is_empty() && !s.tags_set.contains(&m.tags)
                });
                if filtered {
                    "CONSUMED_BUT_FILTERED"
                } else {
                    "CONSUMED"
                }
            }
            Ok(false) => "NOT_CONSUME_YET",
            Err(_) => "UNKNOWN",
        };
        out.push((group, kind.into(), "null".into()));
    }
    out
}
