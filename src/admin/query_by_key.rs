//! queryMsgByKey and queryMsgByUniqueKey: QUERY_MESSAGE on every broker of the topic's
//! route, printed as mqadmin prints them (a table of ids, queues and offsets; or one
//! message's detail, or its direct consumption by a client).

use super::messages::print_msg;
use super::AdminError;
use crate::client::admin::AdminClient;

/// Records mqadmin's queryMsgByKey asks each broker for.
pub const QUERY_BY_KEY_MAX: i32 = 64;
/// Records a unique-key query asks for (the broker caps it at defaultQueryMaxNum).
pub const QUERY_BY_UNIQUE_KEY_MAX: i32 = 32;

/// queryMsgByKey -t TOPIC -k KEY [-b BEGIN -e END].
pub async fn query_by_key(
    admin: &AdminClient,
    topic: &str,
    key: &str,
    begin: i64,
    end: i64,
    json: bool,
) -> Result<String, AdminError> {
    let msgs = admin
        .query_message(topic, key, QUERY_BY_KEY_MAX, begin, end, false)
        .await?;
    if json {
        let rows: Vec<_> = msgs
            .iter()
            .map(|m| {
                serde_json::json!({
                    "msgId": m.msg_id,
                    "queueId": m.queue_id,
                    "queueOffset": m.queue_offset,
                })
            })
            .collect();
        return Ok(serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n");
    }
    let mut out = format!("{:<50} {:>4} {:>40}\n", "#Message ID", "#QID", "#Offset");
    for m in &msgs {
        out.push_str(&format!(
            "{:<50} {:>4} {:>40}\n",
            m.msg_id, m.queue_id, m.queue_offset
        ));
    }
    Ok(out)
}

/// The message whose unique key is `id` (the oldest, should a producer have reused it).
pub async fn by_unique_key(
    admin: &AdminClient,
    topic: &str,
    id: &str,
) -> Result<crate::client::message::Received, AdminError> {
    let mut msgs = admin
        .query_message(topic, id, QUERY_BY_UNIQUE_KEY_MAX, 0, i64::MAX, true)
        .await?;
    msgs.sort_by_key(|m| m.store_timestamp);
    msgs.into_iter().next().ok_or_else(|| {
        AdminError::NotFound(format!(
            "query message by unique key {id} of topic [{topic}]: no message"
        ))
    })
}

/// queryMsgByUniqueKey -t TOPIC -i ID: the message's detail, as queryMsgById prints it.
pub async fn query_by_unique_key(
    admin: &AdminClient,
    topic: &str,
    id: &str,
    json: bool,
) -> Result<String, AdminError> {
    let m = by_unique_key(admin, topic, id).await?;
    let mut all = Vec::new();
    let out = print_msg(admin, &m, false, &mut all).await?;
    Ok(if json {
        serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
    } else {
        out
    })
}

/// queryMsgByUniqueKey -t TOPIC -i ID -g GROUP -d CLIENT: that client consumes the message
/// once, through the broker storing it (named by its offset message id, as mqadmin does).
pub async fn consume_unique_directly(
    admin: &AdminClient,
    topic: &str,
    id: &str,
    group: &str,
    client_id: &str,
    json: bool,
) -> Result<String, AdminError> {
    let m = by_unique_key(admin, topic, id).await?;
    let r = admin
        .consume_message_directly(m.store_host, group, client_id, &m.offset_msg_id)
        .await?;
    Ok(if json {
        serde_json::to_string_pretty(&serde_json::json!({
            "msgId": id,
            "order": r.order,
            "autoCommit": r.auto_commit,
            "consumeResult": r.consume_result.name(),
            "remark": r.remark,
            "spentTimeMills": r.spent_time_mills,
        }))
        .unwrap_or_default()
            + "\n"
    } else {
        format!("{r}\n")
    })
}
