//! One message: its fields, properties and body, which groups consumed it, and the two
//! actions of rocketmq-console: have one client consume it again, or send it again.

use crate::admin::messages::track;
use crate::client::message::Received;
use crate::console::html::{esc, link, select, time, Flash, Table};
use crate::console::routes::{Reply, Req};
use crate::console::Console;
use crate::protocol::message_id;

const TITLE: &str = "Message";
const TAB: &str = "/messages";
/// Bytes of a binary body shown as hex.
pub const MAX_HEX_BODY_BYTES: usize = 4096;

async fn fetch(c: &Console, id: &str) -> Result<Received, String> {
    let (addr, offset) = message_id::decode(id)
        .ok_or_else(|| format!("{id:?} is not an offsetMsgId (find a msgId on Messages)"))?;
    c.admin
        .view_message(addr, offset)
        .await
        .map_err(|e| format!("message {id} on {addr}: {e}"))
}

/// The body as text when it is printable UTF-8, else as hex.
pub fn body_view(body: &[u8]) -> (&'static str, String) {
    match std::str::from_utf8(body) {
        Ok(s)
            if !s
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            ("text", s.to_owned())
        }
        _ => {
            let shown = &body[..body.len().min(MAX_HEX_BODY_BYTES)];
            let mut hex = String::with_capacity(shown.len() * 3);
            for (i, chunk) in shown.chunks(16).enumerate() {
                let bytes: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                hex.push_str(&format!("{:08x}  {}\n", i * 16, bytes.join(" ")));
            }
            if body.len() > shown.len() {
                hex.push_str(&format!("... {} bytes in all\n", body.len()));
            }
            ("hex", hex)
        }
    }
}

/// The page of the message whose offsetMsgId is `id`.
pub async fn show(c: &Console, r: &Req, flash: Option<Flash>) -> Reply {
    let id = r.arg("id");
    let m = match fetch(c, id).await {
        Ok(m) => m,
        Err(e) => return super::failed(TITLE, TAB, e),
    };
    let mut fields = Table::new("message-fields", &["Field", "Value"]);
    let rows: [(&str, String); 14] = [
        ("Message id", m.msg_id.clone()),
        ("offsetMsgId", m.offset_msg_id.clone()),
        ("Topic", m.topic.clone()),
        ("Tags", m.tags.clone()),
        ("Keys", m.keys.clone()),
        ("Queue", m.queue_id.to_string()),
        ("Queue offset", m.queue_offset.to_string()),
        ("Commit log offset", m.commit_log_offset.to_string()),
        ("Reconsume times", m.reconsume_times.to_string()),
        (
            "Born",
            format!("{} from {}", time(m.born_timestamp), m.born_host),
        ),
        (
            "Stored",
            format!("{} on {}", time(m.store_timestamp), m.store_host),
        ),
        ("System flag", m.sys_flag.to_string()),
        ("Body size", format!("{} bytes", m.body.len())),
        ("Flag", m.flag.to_string()),
    ];
    for (k, v) in rows {
        fields.row(&[esc(k), esc(&v)]);
    }
    let mut body = fields.finish();
    body.push_str(&format!(
        "<p>{}</p>",
        link("/topic", "name", &m.topic, "the topic's page")
    ));
    let mut props = Table::new("properties", &["Property", "Value"]);
    for (k, v) in m.properties.iter() {
        props.row(&[esc(k), esc(v)]);
    }
    body.push_str("<h2>Properties</h2>");
    body.push_str(&props.finish());
    let (kind, shown) = body_view(&m.body);
    body.push_str(&format!(
        "<h2>Body ({kind})</h2><pre class=\"body\" id=\"message-body\">{}</pre>",
        esc(&shown)
    ));
    let tracks = track(&c.admin, &m).await;
    let mut t = Table::new("tracks", &["Consumer group", "State", "Detail"]);
    for (group, state, detail) in &tracks {
        t.row(&[
            link("/group", "name", group, group),
            esc(state),
            esc(detail),
        ]);
    }
    body.push_str("<h2>Consumed by</h2>");
    body.push_str(&t.finish());
    if !c.read_only {
        body.push_str(&actions(c, &m, &tracks).await);
    }
    Reply::page(TITLE, TAB, body, flash)
}

async fn actions(c: &Console, m: &Received, tracks: &[(String, String, String)]) -> String {
    let broker = m.store_host.to_string();
    let mut clients = Vec::new();
    for (group, _, _) in tracks {
        if let Ok(Some(cc)) = c.admin.consumer_connection(&broker, group).await {
            for cl in &cc.connection_set {
                clients.push((
                    format!("{group} {}", cl.client_id),
                    format!("{group}: {}", cl.client_id),
                ));
            }
        }
    }
    let id = esc(&m.offset_msg_id);
    let mut out = String::from("<h2>Actions</h2>");
    if clients.is_empty() {
        out.push_str("<p>No consumer of this topic is online to consume it again.</p>");
    } else {
        out.push_str(&format!(
            "<form method=\"post\" action=\"/message/consume\" class=\"action\" id=\"consume-again\">\
             <input type=\"hidden\" name=\"id\" value=\"{id}\">{}\
             <button type=\"submit\" id=\"consume-again-submit\">Consume again by this client</button></form>",
            select("client", "Client", &clients, "")
        ));
    }
    out.push_str(&format!(
        "<form method=\"post\" action=\"/message/resend\" class=\"action\" id=\"resend\" \
         data-confirm=\"Send this message again to its topic?\">\
         <input type=\"hidden\" name=\"id\" value=\"{id}\">\
         <button type=\"submit\" id=\"resend-submit\">Resend</button></form>"
    ));
    out
}

/// One client of a group consumes the message once more (CONSUME_MESSAGE_DIRECTLY).
pub async fn consume_again(c: &Console, r: &Req) -> Reply {
    let id = r.arg("id");
    let flash = match r.arg("client").split_once(' ') {
        None => Flash::error("client: choose the client to consume it"),
        Some((group, client)) => match message_id::decode(id) {
            None => Flash::error(format!("{id:?} is not an offsetMsgId")),
            Some((addr, _)) => match c
                .admin
                .consume_message_directly(addr, group, client, id)
                .await
            {
                Ok(result) => {
                    tracing::info!(user = %r.who(), msg = %id, group = %group, client = %client, "console: consumed again");
                    Flash::ok(result.to_string())
                }
                Err(e) => Flash::error(format!("{client} of {group}: {e}")),
            },
        },
    };
    show(c, r, Some(flash)).await
}

/// Sends the message again to its topic, as stored.
pub async fn resend(c: &Console, r: &Req) -> Reply {
    let id = r.arg("id");
    let flash = match crate::admin::messages::resend(&c.admin, id, false).await {
        Ok(text) => {
            tracing::info!(user = %r.who(), msg = %id, "console: resent");
            Flash::ok(text)
        }
        Err(e) => Flash::error(format!("resend {id}: {e}")),
    };
    show(c, r, Some(flash)).await
}

#[cfg(test)]
mod tests {
    use super::body_view;

    #[test]
    fn binary_bodies_show_as_hex() {
        assert_eq!(body_view(b"Hello\n\tworld").0, "text");
        let (kind, hex) = body_view(&[0, 1, 0xff, b'a']);
        assert_eq!(kind, "hex");
        assert_eq!(hex, "00000000  00 01 ff 61\n");
        let (_, long) = body_view(&vec![0u8; super::MAX_HEX_BODY_BYTES + 1]);
        assert!(long.ends_with(&format!(
            "... {} bytes in all\n",
            super::MAX_HEX_BODY_BYTES + 1
        )));
    }
}
