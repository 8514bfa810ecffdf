//! One consumer group: lag per queue and who holds it, its clients and subscriptions, its
//! subscription config, a lag chart, and reset offset to a time.

use std::collections::BTreeSet;

use crate::admin::consumers::{group_progress, group_route};
use crate::chart::{line_chart, Series};
use crate::console::html::{esc, input, link, select, time, Flash, Table};
use crate::console::routes::{Reply, Req};
use crate::console::Console;
use crate::protocol::body::client::ConsumerConnection;

const TITLE: &str = "Consumer group";
const TAB: &str = "/groups";

/// The page of group `name`.
pub async fn show(c: &Console, r: &Req, flash: Option<Flash>) -> Reply {
    let group = r.arg("name");
    let (queues, tps) = match group_progress(&c.admin, group, true).await {
        Ok(p) => p,
        Err(e) => return super::failed(TITLE, TAB, e),
    };
    let total: i64 = queues.iter().map(|q| q.diff()).sum();
    let mut body = format!(
        "<h2 id=\"group-name\">{}</h2><p>Consume TPS <b id=\"group-tps\">{tps:.2}</b> · \
         total lag <b id=\"total-lag\">{total}</b></p>",
        esc(group)
    );
    let mut t = Table::new(
        "lag",
        &[
            "Topic",
            "Broker group",
            "Queue",
            "Broker offset",
            "Consumer offset",
            "Client",
            "Lag",
            "Last consumed",
        ],
    );
    for q in &queues {
        t.row(&[
            link("/topic", "name", &q.mq.topic, &q.mq.topic),
            esc(&q.mq.broker_name),
            q.mq.queue_id.to_string(),
            q.broker_offset.to_string(),
            q.consumer_offset.to_string(),
            esc(q.holder.as_deref().unwrap_or("N/A")),
            q.diff().to_string(),
            time(q.last_timestamp),
        ]);
    }
    body.push_str(&t.finish());
    let points = c.history.borrow().lag_points(group);
    body.push_str("<h2>Lag over the last hour</h2>");
    body.push_str(&line_chart(
        "lag-chart",
        "messages",
        &[Series {
            name: "lag".into(),
            points: points.iter().map(|(t, v)| (*t, *v as f64)).collect(),
        }],
    ));
    let route = group_route(&c.admin, group).await.ok();
    let masters: Vec<String> = route
        .iter()
        .flat_map(|r| r.broker_datas.iter())
        .filter_map(|b| b.master_addr().map(str::to_owned))
        .collect();
    let mut conn = None;
    for addr in &masters {
        if let Ok(Some(cc)) = c.admin.consumer_connection(addr, group).await {
            conn = Some(cc);
            break;
        }
    }
    body.push_str(&clients(conn.as_ref()));
    body.push_str(&config(c, group, &masters).await);
    if !c.read_only {
        let mut topics: BTreeSet<String> = queues.iter().map(|q| q.mq.topic.clone()).collect();
        if let Some(cc) = &conn {
            topics.extend(cc.subscription_table.keys().cloned());
        }
        body.push_str(&reset_form(group, &topics));
    }
    Reply::page(TITLE, TAB, body, flash)
}

fn clients(conn: Option<&ConsumerConnection>) -> String {
    let Some(cc) = conn.filter(|cc| !cc.connection_set.is_empty()) else {
        return "<h2>Clients</h2><p id=\"clients-offline\">No client of this group is online.</p>"
            .into();
    };
    let mut subs = Table::new("subscriptions", &["Topic", "Expression"]);
    for (topic, s) in &cc.subscription_table {
        subs.row(&[esc(topic), esc(&s.sub_string)]);
    }
    format!(
        "<h2>Clients</h2>{}<p>{} · {} · {}</p><h2>Subscriptions</h2>{}",
        super::connections_table("clients", &cc.connection_set),
        esc(&cc.consume_type),
        esc(&cc.message_model),
        esc(&cc.consume_from_where),
        subs.finish()
    )
}

async fn config(c: &Console, group: &str, masters: &[String]) -> String {
    let mut t = Table::new(
        "group-config",
        &[
            "Broker",
            "Consume enabled",
            "Broadcast allowed",
            "Retry queues",
            "Max retries",
            "Reads from broker id",
            "When slow, from broker id",
        ],
    );
    for addr in masters {
        let row = match c.admin.subscription_groups(addr).await {
            Ok(all) => match all.get(group) {
                Some(g) => vec![
                    esc(addr),
                    g.consume_enable.to_string(),
                    g.consume_broadcast_enable.to_string(),
                    g.retry_queue_nums.to_string(),
                    g.retry_max_times.to_string(),
                    g.broker_id.to_string(),
                    g.which_broker_when_consume_slowly.to_string(),
                ],
                None => vec![esc(addr), "no config (defaults apply)".into()],
            },
            Err(e) => vec![esc(addr), esc(&e.to_string())],
        };
        t.row(&row);
    }
    format!("<h2>Subscription config</h2>{}", t.finish())
}

fn reset_form(group: &str, topics: &BTreeSet<String>) -> String {
    // The group's own topics first: its retry topic is rarely what an operator resets.
    let mut options: Vec<(String, String)> =
        topics.iter().map(|t| (t.clone(), t.clone())).collect();
    options.sort_by_key(|(t, _)| t.starts_with(crate::protocol::topics::RETRY_PREFIX));
    let first = options.first().map(|o| o.0.clone()).unwrap_or_default();
    format!(
        "<h2>Reset offset to a time</h2>\
         <form method=\"post\" action=\"/group/reset\" class=\"action\" id=\"reset-offset\" \
         data-confirm=\"Move the offsets of {g} to this time?\">\
         <input type=\"hidden\" name=\"name\" value=\"{g}\">{}{}\
         <button type=\"submit\" id=\"reset-offset-submit\">Reset</button></form>",
        select("topic", "Topic", &options, &first),
        input(
            "time",
            "Time (YYYY-MM-DDTHH:MM[:SS] or ms)",
            "",
            "required placeholder=\"2026-01-31T08:00\""
        ),
        g = esc(group),
    )
}

/// Moves the group's offsets on a topic to a time (its consumers are told when online).
pub async fn reset(c: &Console, r: &Req) -> Reply {
    let (group, topic) = (r.arg("name"), r.arg("topic"));
    let flash = match super::time_field("time", r.arg("time")) {
        Err(e) => Flash::error(e),
        Ok(_) if topic.is_empty() => Flash::error("topic: choose the topic to reset"),
        Ok(ms) => {
            let at = ms.to_string();
            match crate::admin::offsets::reset_offset_by_time(
                &c.admin, group, topic, &at, true, false,
            )
            .await
            {
                Ok(text) => {
                    tracing::info!(user = %r.who(), group = %group, topic = %topic, timestamp = ms, "console: offsets reset");
                    Flash::ok(text)
                }
                Err(e) => Flash::error(format!("reset [{group}] on [{topic}]: {e}")),
            }
        }
    };
    show(c, r, Some(flash)).await
}
