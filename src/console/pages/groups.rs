//! Consumer groups: every group with its clients online, consume TPS and total lag.

use crate::admin::consumers::{group_names, group_summary};
use crate::console::html::{esc, link, Table};
use crate::console::routes::Reply;
use crate::console::Console;

const TITLE: &str = "Consumer groups";
const TAB: &str = "/groups";

/// The list.
pub async fn list(c: &Console) -> Reply {
    let names = match group_names(&c.admin).await {
        Ok(n) => n,
        Err(e) => return super::failed(TITLE, TAB, e),
    };
    let mut t = Table::new(
        "groups",
        &[
            "Group",
            "Clients online",
            "Version",
            "Type",
            "Model",
            "TPS",
            "Lag",
        ],
    );
    for name in names {
        match group_summary(&c.admin, &name).await {
            Ok(Some(g)) => t.row(&[
                link("/group", "name", &g.group, &g.group),
                g.clients.to_string(),
                esc(&g.version),
                esc(&g.kind),
                esc(&g.model),
                format!("{:.2}", g.tps),
                g.diff.to_string(),
            ]),
            Ok(None) => {}
            Err(e) => t.row(&[
                link("/group", "name", &name, &name),
                format!("<span class=\"error\">{}</span>", esc(&e.to_string())),
            ]),
        }
    }
    Reply::page(TITLE, TAB, t.finish(), None)
}
