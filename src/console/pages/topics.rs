//! Topics: the list by kind, and the form that creates a topic on a cluster or a broker
//! group.

use crate::admin::targets;
use crate::console::html::{input, link, select, Flash, Table};
use crate::console::routes::{Reply, Req};
use crate::console::Console;
use crate::protocol::body::{ClusterInfo, TopicConfig};
use crate::protocol::topics::{topic_kind, topic_name_problem, TopicKind};

const TITLE: &str = "Topics";
const TAB: &str = "/topics";
/// Most queues the forms accept per broker (RocketMQ's BenchmarkTest has 1,024).
pub const MAX_FORM_QUEUES: i32 = 1024;

const KINDS: &[(&str, &str)] = &[
    ("normal", "Normal"),
    ("retry", "Retry"),
    ("dlq", "Dead-letter"),
    ("system", "System"),
    ("all", "All"),
];

fn kind_key(k: TopicKind) -> &'static str {
    match k {
        TopicKind::Normal => "normal",
        TopicKind::Retry => "retry",
        TopicKind::Dlq => "dlq",
        TopicKind::System => "system",
    }
}

/// Names of clusters and broker groups (topics named so are the brokers' own).
pub fn cluster_names(info: &ClusterInfo) -> Vec<&str> {
    info.cluster_addr_table
        .keys()
        .chain(info.broker_addr_table.keys())
        .map(String::as_str)
        .collect()
}

/// Permission choices of the forms.
pub fn perm_options() -> Vec<(String, String)> {
    [
        (6, "6 read and write"),
        (4, "4 read only"),
        (2, "2 write only"),
    ]
    .iter()
    .map(|(v, t)| (v.to_string(), (*t).to_owned()))
    .collect()
}

/// The list, filtered by `kind`.
pub async fn list(c: &Console, r: &Req, flash: Option<Flash>) -> Reply {
    let (topics, info) = match (c.admin.topic_list().await, c.admin.cluster_info().await) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => return super::failed(TITLE, TAB, e),
    };
    let names = cluster_names(&info);
    let want = match r.arg("kind") {
        "" => "normal",
        k => k,
    };
    let mut body = String::from("<p class=\"filters\" id=\"kinds\">");
    for (key, label) in KINDS {
        let n = topics
            .iter()
            .filter(|t| *key == "all" || kind_key(topic_kind(t, &names)) == *key)
            .count();
        let class = if *key == want {
            " class=\"active\""
        } else {
            ""
        };
        body.push_str(&format!(
            "<a href=\"/topics?kind={key}\" id=\"kind-{key}\"{class}>{label} ({n})</a>"
        ));
    }
    body.push_str("</p>");
    let mut t = Table::new("topics", &["Topic", "Kind"]);
    for topic in &topics {
        let kind = kind_key(topic_kind(topic, &names));
        if want == "all" || kind == want {
            t.row(&[link("/topic", "name", topic, topic), kind.to_owned()]);
        }
    }
    body.push_str(&t.finish());
    if !c.read_only {
        body.push_str(&create_form(&info));
    }
    Reply::page(TITLE, TAB, body, flash)
}

fn create_form(info: &ClusterInfo) -> String {
    let mut targets: Vec<(String, String)> = info
        .cluster_addr_table
        .keys()
        .map(|c| {
            (
                format!("cluster:{c}"),
                format!("every master of cluster {c}"),
            )
        })
        .collect();
    targets.extend(
        info.broker_addr_table
            .keys()
            .map(|b| (format!("broker:{b}"), format!("broker group {b}"))),
    );
    format!(
        "<h2>Create or update a topic</h2>\
         <form method=\"post\" action=\"/topics/create\" class=\"action\" id=\"create-topic\">\
         {}{}{}{}{}<button type=\"submit\" id=\"create-topic-submit\">Create</button></form>",
        input("topic", "Topic", "", "required"),
        input("read", "Read queues", "8", "size=\"5\""),
        input("write", "Write queues", "8", "size=\"5\""),
        select("perm", "Permission", &perm_options(), "6"),
        select("target", "On", &targets, ""),
    )
}

/// Checks the fields of a topic form: (read queues, write queues, perm).
pub fn queue_fields(r: &Req) -> Result<(i32, i32, i32), String> {
    let read = super::number_in("read queues", r.arg("read"), 1..=MAX_FORM_QUEUES)?;
    let write = super::number_in("write queues", r.arg("write"), 1..=MAX_FORM_QUEUES)?;
    let perm = super::number_in("permission", r.arg("perm"), 2..=6)?;
    if perm % 2 != 0 {
        return Err(format!("permission: {perm} is not 2, 4 or 6"));
    }
    Ok((read, write, perm))
}

/// Creates a topic on the chosen cluster's masters or broker group.
pub async fn create(c: &Console, r: &Req) -> Reply {
    let flash = match create_checked(c, r).await {
        Ok(text) => {
            tracing::info!(user = %r.who(), topic = %r.arg("topic"), target = %r.arg("target"), "console: topic created");
            Flash::ok(text)
        }
        Err(e) => Flash::error(e),
    };
    list(c, r, Some(flash)).await
}

async fn create_checked(c: &Console, r: &Req) -> Result<String, String> {
    let topic = r.arg("topic");
    if let Some(problem) = topic_name_problem(topic) {
        return Err(format!("topic: {problem}"));
    }
    let (read, write, perm) = queue_fields(r)?;
    let (broker, cluster) = match r.arg("target").split_once(':') {
        Some(("cluster", name)) => (None, Some(name.to_owned())),
        Some(("broker", name)) => (Some(name.to_owned()), None),
        _ => {
            return Err(format!(
                "on: {:?} is not a cluster or a broker group",
                r.arg("target")
            ))
        }
    };
    let addrs = targets(&c.admin, broker, cluster)
        .await
        .map_err(|e| e.to_string())?;
    let config = TopicConfig {
        read_queue_nums: read,
        write_queue_nums: write,
        perm,
        ..TopicConfig::new(topic, read)
    };
    let mut out = String::new();
    for addr in addrs {
        c.admin
            .create_topic(&addr, &config)
            .await
            .map_err(|e| format!("{out}create topic [{topic}] on {addr}: {e}"))?;
        out.push_str(&format!("create topic [{topic}] to {addr} success.\n"));
    }
    Ok(out)
}
