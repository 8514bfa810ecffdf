//! Cluster: every broker group with its master and slaves, their load and disk, and each
//! broker's TPS over the last hour.

use crate::admin::cluster::first_number;
use crate::chart::{line_chart, Series};
use crate::console::html::{esc, Table};
use crate::console::routes::Reply;
use crate::console::Console;

const TITLE: &str = "Cluster";
const TAB: &str = "/cluster";

/// The page.
pub async fn show(c: &Console) -> Reply {
    let info = match c.admin.cluster_info().await {
        Ok(i) => i,
        Err(e) => return super::failed(TITLE, TAB, e),
    };
    let mut t = Table::new(
        "brokers",
        &[
            "Cluster",
            "Broker group",
            "BID",
            "Address",
            "Version",
            "In TPS",
            "Out TPS",
            "Messages today",
            "Disk used",
            "Replication",
        ],
    );
    let mut addrs = Vec::new();
    for (cluster, names) in &info.cluster_addr_table {
        for name in names {
            let Some(b) = info.broker_addr_table.get(name) else {
                continue;
            };
            for (id, addr) in &b.broker_addrs {
                addrs.push((name.clone(), *id, addr.clone()));
                let mut row = vec![esc(cluster), esc(name), id.to_string(), esc(addr)];
                match c.admin.runtime_info(addr).await {
                    Ok(rt) => {
                        let get = |k: &str| esc(rt.get(k).map_or("", String::as_str));
                        let today = rt
                            .get("msgPutTotalTodayNow")
                            .and_then(|v| v.parse::<i64>().ok())
                            .unwrap_or(0)
                            - rt.get("msgPutTotalTodayMorning")
                                .and_then(|v| v.parse::<i64>().ok())
                                .unwrap_or(0);
                        let disk: f64 = rt
                            .get("commitLogDiskRatio")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0.0);
                        let ha = if *id == 0 {
                            "master".to_owned()
                        } else {
                            format!("slave, {}", get("haState"))
                        };
                        row.extend([
                            get("brokerVersionDesc"),
                            format!("{:.2}", first_number(rt.get("putTps"))),
                            format!("{:.2}", first_number(rt.get("getTransferedTps"))),
                            today.to_string(),
                            format!("{:.1} %", disk * 100.0),
                            esc(&ha),
                        ]);
                    }
                    Err(e) => row.push(format!(
                        "<span class=\"error\">unreachable: {}</span>",
                        esc(&e.to_string())
                    )),
                }
                t.row(&row);
            }
        }
    }
    let mut body = t.finish();
    body.push_str("<h2>TPS over the last hour</h2>");
    let history = c.history.borrow();
    for (name, id, addr) in &addrs {
        let points = history.broker_points(addr);
        let series = [
            Series {
                name: "in".into(),
                points: points.iter().map(|p| (p.0, p.1)).collect(),
            },
            Series {
                name: "out".into(),
                points: points.iter().map(|p| (p.0, p.2)).collect(),
            },
        ];
        body.push_str(&format!("<h3>{} BID {id} ({})</h3>", esc(name), esc(addr)));
        body.push_str(&line_chart(&format!("tps-{addr}"), "msg/s", &series));
    }
    Reply::page(TITLE, TAB, body, None)
}
