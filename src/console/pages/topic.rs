//! One topic: its route, each queue's offsets, the groups consuming it; update, send a
//! test message, delete.

use std::collections::BTreeSet;

use crate::admin::route_of;
use crate::client::producer::Message;
use crate::console::html::{esc, input, link, select, time, Flash, Table};
use crate::console::routes::{Reply, Req};
use crate::console::Console;
use crate::protocol::body::{TopicConfig, TopicRouteData};
use crate::protocol::codes::perm;

const TITLE: &str = "Topic";
const TAB: &str = "/topics";

/// The page of `name`.
pub async fn show(c: &Console, r: &Req, flash: Option<Flash>) -> Reply {
    let topic = r.arg("name");
    let route = match route_of(&c.admin, topic).await {
        Ok(route) => route,
        Err(e) => {
            let flash = match flash {
                Some(f) => Flash {
                    ok: f.ok,
                    text: format!("{}\n{e}", f.text),
                },
                None => Flash::error(e.to_string()),
            };
            return Reply::page(TITLE, TAB, String::new(), Some(flash));
        }
    };
    let mut body = format!("<h2 id=\"topic-name\">{}</h2>", esc(topic));
    body.push_str(&route_table(&route));
    let mut queues = Table::new(
        "queues",
        &[
            "Broker group",
            "Queue",
            "Min offset",
            "Max offset",
            "Last stored",
        ],
    );
    let mut groups = BTreeSet::new();
    for b in &route.broker_datas {
        let Some(addr) = b.master_addr() else {
            continue;
        };
        match c.admin.topic_stats(addr, topic).await {
            Ok(rows) => {
                for (mq, o) in rows {
                    queues.row(&[
                        esc(&mq.broker_name),
                        mq.queue_id.to_string(),
                        o.min_offset.to_string(),
                        o.max_offset.to_string(),
                        time(o.last_update_timestamp),
                    ]);
                }
            }
            Err(e) => body.push_str(&format!("<p class=\"error\">{}</p>", esc(&e.to_string()))),
        }
        if let Ok(g) = c.admin.consumed_by(addr, topic).await {
            groups.extend(g);
        }
    }
    body.push_str("<h2>Queues</h2>");
    body.push_str(&queues.finish());
    body.push_str("<h2>Consumer groups</h2><ul id=\"topic-groups\">");
    for g in &groups {
        body.push_str(&format!("<li>{}</li>", link("/group", "name", g, g)));
    }
    body.push_str("</ul>");
    if !c.read_only {
        body.push_str(&forms(topic, &route));
    }
    Reply::page(TITLE, TAB, body, flash)
}

fn route_table(route: &TopicRouteData) -> String {
    let mut t = Table::new(
        "route",
        &[
            "Broker group",
            "Addresses",
            "Read queues",
            "Write queues",
            "Permission",
        ],
    );
    for q in &route.queue_datas {
        let addrs = route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == q.broker_name)
            .map(|b| {
                b.broker_addrs
                    .iter()
                    .map(|(id, a)| format!("{id}: {a}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        t.row(&[
            esc(&q.broker_name),
            esc(&addrs),
            q.read_queue_nums.to_string(),
            q.write_queue_nums.to_string(),
            esc(&perm::to_text(q.perm)),
        ]);
    }
    t.finish()
}

fn forms(topic: &str, route: &TopicRouteData) -> String {
    let first = route.queue_datas.first();
    let (read, write, p) = first.map_or((8, 8, 6), |q| {
        (q.read_queue_nums, q.write_queue_nums, q.perm & 6)
    });
    let hidden = format!(
        "<input type=\"hidden\" name=\"name\" value=\"{}\">",
        esc(topic)
    );
    format!(
        "<h2>Update</h2><form method=\"post\" action=\"/topic/update\" class=\"action\" id=\"update-topic\">\
         {hidden}{}{}{}<button type=\"submit\" id=\"update-topic-submit\">Update on every broker of its route</button></form>\
         <h2>Send a test message</h2><form method=\"post\" action=\"/topic/send\" class=\"action\" id=\"send-message\">\
         {hidden}{}{}<label>Body <textarea name=\"body\" id=\"body\" rows=\"2\" cols=\"40\"></textarea></label>\
         <button type=\"submit\" id=\"send-message-submit\">Send</button></form>\
         <h2>Delete</h2><form method=\"post\" action=\"/topic/delete\" class=\"action\" id=\"delete-topic\" \
         data-confirm=\"Delete topic {} from every cluster of its route?\">\
         {hidden}{}<button type=\"submit\" id=\"delete-topic-submit\">Delete</button></form>",
        input("read", "Read queues", &read.to_string(), "size=\"5\""),
        input("write", "Write queues", &write.to_string(), "size=\"5\""),
        select("perm", "Permission", &super::topics::perm_options(), &p.to_string()),
        input("tag", "Tag", "", ""),
        input("keys", "Keys (space-separated)", "", ""),
        esc(topic),
        input("confirm", "Type the topic's name to confirm", "", "autocomplete=\"off\""),
    )
}

/// Changes the topic's queues and permission on every broker of its route.
pub async fn update(c: &Console, r: &Req) -> Reply {
    let flash = match update_checked(c, r).await {
        Ok(text) => {
            tracing::info!(user = %r.who(), topic = %r.arg("name"), "console: topic updated");
            Flash::ok(text)
        }
        Err(e) => Flash::error(e),
    };
    show(c, r, Some(flash)).await
}

async fn update_checked(c: &Console, r: &Req) -> Result<String, String> {
    let topic = r.arg("name");
    let (read, write, p) = super::topics::queue_fields(r)?;
    let route = route_of(&c.admin, topic).await.map_err(|e| e.to_string())?;
    let config = TopicConfig {
        read_queue_nums: read,
        write_queue_nums: write,
        perm: p,
        ..TopicConfig::new(topic, read)
    };
    let mut out = String::new();
    for addr in route.broker_datas.iter().filter_map(|b| b.master_addr()) {
        c.admin
            .create_topic(addr, &config)
            .await
            .map_err(|e| format!("{out}update topic [{topic}] on {addr}: {e}"))?;
        out.push_str(&format!("update topic [{topic}] on {addr} success.\n"));
    }
    Ok(out)
}

/// Sends one message with the form's tag, keys and body; shows its SendResult.
pub async fn send(c: &Console, r: &Req) -> Reply {
    let topic = r.arg("name");
    let msg = Message {
        topic: topic.to_owned(),
        tags: Some(r.arg("tag").to_owned()).filter(|t| !t.is_empty()),
        keys: r
            .arg("keys")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        body: r.arg("body").as_bytes().to_vec().into(),
        ..Message::default()
    };
    let result = match c.producer() {
        Ok(p) => p.send(&msg).await,
        Err(e) => Err(e),
    };
    let flash = match result {
        Ok(sent) => {
            tracing::info!(user = %r.who(), topic = %topic, msg_id = %sent.msg_id, "console: test message sent");
            Flash::ok(sent.to_string())
        }
        Err(e) => Flash::error(format!("send to [{topic}]: {e}")),
    };
    show(c, r, Some(flash)).await
}

/// Deletes the topic from every cluster of its route, once its name was typed again.
pub async fn delete(c: &Console, r: &Req) -> Reply {
    let topic = r.arg("name");
    if r.arg("confirm") != topic {
        let text = format!("type the topic's name ({topic}) to confirm: nothing was deleted");
        return show(c, r, Some(Flash::error(text))).await;
    }
    match delete_checked(c, topic).await {
        Ok(text) => {
            tracing::info!(user = %r.who(), topic = %topic, "console: topic deleted");
            super::topics::list(c, r, Some(Flash::ok(text))).await
        }
        Err(e) => show(c, r, Some(Flash::error(e))).await,
    }
}

async fn delete_checked(c: &Console, topic: &str) -> Result<String, String> {
    let route = route_of(&c.admin, topic).await.map_err(|e| e.to_string())?;
    let info = c.admin.cluster_info().await.map_err(|e| e.to_string())?;
    let clusters = crate::admin::topics::clusters_of(&info, &route);
    let mut out = String::new();
    for cluster in clusters {
        let text = crate::admin::topics::delete_topic(&c.admin, topic, cluster, false)
            .await
            .map_err(|e| format!("{out}delete topic [{topic}] from cluster [{cluster}]: {e}"))?;
        out.push_str(&text);
    }
    Ok(out)
}
