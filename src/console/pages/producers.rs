//! Producers: the live connections of a producer group on a topic.

use crate::admin::producers::producer_connections;
use crate::console::html::{input, Flash};
use crate::console::routes::{Reply, Req};
use crate::console::Console;

const TITLE: &str = "Producers";
const TAB: &str = "/producers";

/// The form, and the connections asked for.
pub async fn show(c: &Console, r: &Req) -> Reply {
    let (group, topic) = (r.arg("group"), r.arg("topic"));
    let mut body = format!(
        "<form method=\"get\" action=\"/producers\" class=\"action\" id=\"producers-form\">{}{}\
         <button type=\"submit\" id=\"producers-submit\">Show</button></form>",
        input("group", "Producer group", group, "required"),
        input("topic", "Topic", topic, "required"),
    );
    if group.is_empty() || topic.is_empty() {
        return Reply::page(TITLE, TAB, body, None);
    }
    match producer_connections(&c.admin, group, topic).await {
        Ok(pc) => {
            body.push_str(&super::connections_table("producers", &pc.connection_set));
            Reply::page(TITLE, TAB, body, None)
        }
        Err(e) => Reply::page(TITLE, TAB, body, Some(Flash::error(e.to_string()))),
    }
}
