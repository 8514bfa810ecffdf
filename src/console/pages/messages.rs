//! Messages: find by topic and time range, by key, or by message id (the producer's
//! msgId with its topic, or the broker's offsetMsgId alone).

use crate::admin::messages::TOOLS_CONSUMER_GROUP;
use crate::admin::query_by_key::{by_unique_key, QUERY_BY_KEY_MAX};
use crate::admin::route_of;
use crate::client::message::Received;
use crate::client::pull_consumer::{PullConsumer, PullOptions, QueueAt};
use crate::client::rpc::resolve;
use crate::console::html::{esc, input, link, time, Flash, Table};
use crate::console::routes::{Reply, Req};
use crate::console::Console;
use crate::protocol::body::client::SubscriptionData;
use crate::protocol::message_id;

const TITLE: &str = "Messages";
const TAB: &str = "/messages";
/// Most messages a time-range search lists.
pub const MAX_LISTED_MESSAGES: usize = 256;
/// Messages pulled per request while walking a queue's time range.
const PULL_BATCH: i32 = 32;

/// The search forms, and the result of the one sent.
pub async fn search(c: &Console, r: &Req) -> Reply {
    let mut body = forms(r);
    let found = match r.arg("mode") {
        "" => return Reply::page(TITLE, TAB, body, None),
        "time" => by_time(c, r).await,
        "key" => by_key(c, r).await,
        "id" => match by_id(c, r).await {
            Ok(m) => {
                let to = format!(
                    "/message?id={}",
                    crate::console::html::url(&m.offset_msg_id)
                );
                return Reply::Redirect(to, None);
            }
            Err(e) => Err(e),
        },
        other => Err(format!("mode: {other:?} is not time, key or id")),
    };
    match found {
        Ok(msgs) => {
            body.push_str(&format!("<p id=\"found\">{} message(s)</p>", msgs.len()));
            body.push_str(&table(&msgs));
            Reply::page(TITLE, TAB, body, None)
        }
        Err(e) => Reply::page(TITLE, TAB, body, Some(Flash::error(e))),
    }
}

fn forms(r: &Req) -> String {
    // Each form shows back the values it was sent with; the others stay empty.
    let value = |mode: &str, key: &str| {
        if r.arg("mode") == mode {
            r.arg(key)
        } else {
            ""
        }
    };
    format!(
        "<form method=\"get\" action=\"/messages\" class=\"action\" id=\"by-time\">\
         <input type=\"hidden\" name=\"mode\" value=\"time\">{}{}{}\
         <button type=\"submit\" id=\"by-time-submit\">Find by time</button></form>\
         <form method=\"get\" action=\"/messages\" class=\"action\" id=\"by-key\">\
         <input type=\"hidden\" name=\"mode\" value=\"key\">{}{}\
         <button type=\"submit\" id=\"by-key-submit\">Find by key</button></form>\
         <form method=\"get\" action=\"/messages\" class=\"action\" id=\"by-id\">\
         <input type=\"hidden\" name=\"mode\" value=\"id\">{}{}\
         <button type=\"submit\" id=\"by-id-submit\">Find by id</button></form>",
        input("topic", "Topic", value("time", "topic"), "required"),
        input(
            "begin",
            "From",
            value("time", "begin"),
            "placeholder=\"2026-01-31T08:00\""
        ),
        input(
            "end",
            "To",
            value("time", "end"),
            "placeholder=\"2026-01-31T09:00\""
        ),
        input("key-topic", "Topic", value("key", "key-topic"), "required"),
        input("key", "Key", value("key", "key"), "required"),
        input(
            "id",
            "Message id or offsetMsgId",
            value("id", "id"),
            "required size=\"36\""
        ),
        input(
            "id-topic",
            "Topic (for a msgId)",
            value("id", "id-topic"),
            ""
        ),
    )
}

fn table(msgs: &[Received]) -> String {
    let mut t = Table::new(
        "results",
        &[
            "Message id",
            "offsetMsgId",
            "Tags",
            "Keys",
            "Queue",
            "Offset",
            "Stored",
        ],
    );
    for m in msgs {
        t.row(&[
            esc(&m.msg_id),
            link("/message", "id", &m.offset_msg_id, &m.offset_msg_id),
            esc(&m.tags),
            esc(&m.keys),
            m.queue_id.to_string(),
            m.queue_offset.to_string(),
            time(m.store_timestamp),
        ]);
    }
    t.finish()
}

async fn by_key(c: &Console, r: &Req) -> Result<Vec<Received>, String> {
    let (topic, key) = (r.arg("key-topic"), r.arg("key"));
    if topic.is_empty() || key.is_empty() {
        return Err("give a topic and a key".into());
    }
    let mut msgs = c
        .admin
        .query_message(topic, key, QUERY_BY_KEY_MAX, 0, i64::MAX, false)
        .await
        .map_err(|e| format!("query [{topic}] by key [{key}]: {e}"))?;
    msgs.sort_by_key(|m| m.store_timestamp);
    Ok(msgs)
}

/// A msgId (the producer's unique key, looked up on its topic) or an offsetMsgId (which
/// names its broker and place), whichever finds the message.
async fn by_id(c: &Console, r: &Req) -> Result<Received, String> {
    let (id, topic) = (r.arg("id"), r.arg("id-topic"));
    if id.is_empty() {
        return Err("id: give a message id".into());
    }
    let mut why = Vec::new();
    if !topic.is_empty() {
        match by_unique_key(&c.admin, topic, id).await {
            Ok(m) => return Ok(m),
            Err(e) => why.push(e.to_string()),
        }
    }
    match message_id::decode(id) {
        Some((addr, offset)) => match c.admin.view_message(addr, offset).await {
            Ok(m) => return Ok(m),
            Err(e) => why.push(format!("as an offsetMsgId ({addr}, offset {offset}): {e}")),
        },
        None => why.push(format!("{id} is not an offsetMsgId")),
    }
    if topic.is_empty() {
        why.push("give the topic to look a msgId up".into());
    }
    Err(why.join("\n"))
}

async fn by_time(c: &Console, r: &Req) -> Result<Vec<Received>, String> {
    let topic = r.arg("topic");
    let begin = super::time_field("from", r.arg("begin"))?;
    let end = match r.arg("end") {
        "" => crate::clock::now_ms(),
        text => super::time_field("to", text)?,
    };
    if end < begin {
        return Err("to: the range ends before it begins".into());
    }
    let route = route_of(&c.admin, topic).await.map_err(|e| e.to_string())?;
    let pull = PullConsumer::new(TOOLS_CONSUMER_GROUP, c.admin.namesrv().to_vec())
        .map_err(|e| e.to_string())?
        .with_credentials(c.admin.credentials());
    let sub = SubscriptionData::from_expression(topic, "*", 0);
    let mut out = Vec::new();
    for addr in route.broker_datas.iter().filter_map(|b| b.master_addr()) {
        let stats = c
            .admin
            .topic_stats(addr, topic)
            .await
            .map_err(|e| e.to_string())?;
        for (mq, _) in stats {
            let queue_id = mq.queue_id;
            let first = c
                .admin
                .search_offset(addr, topic, queue_id, begin)
                .await
                .map_err(|e| e.to_string())?;
            let last = c
                .admin
                .search_offset(addr, topic, queue_id, end)
                .await
                .map_err(|e| e.to_string())?;
            let at = QueueAt {
                mq,
                addr: resolve(addr).map_err(|e| e.to_string())?,
            };
            let mut offset = first;
            while offset <= last && out.len() < MAX_LISTED_MESSAGES {
                let got = pull
                    .pull(&at, &sub, offset, PULL_BATCH, PullOptions::default())
                    .await
                    .map_err(|e| e.to_string())?;
                if got.messages.is_empty() || got.next_begin_offset <= offset {
                    break;
                }
                offset = got.next_begin_offset;
                out.extend(
                    got.messages
                        .into_iter()
                        .filter(|m| (begin..=end).contains(&m.store_timestamp)),
                );
            }
        }
    }
    out.sort_by_key(|m| m.store_timestamp);
    out.truncate(MAX_LISTED_MESSAGES);
    Ok(out)
}
