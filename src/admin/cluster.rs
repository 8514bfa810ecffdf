//! clusterList, brokerStatus, getBrokerConfig, and a broker group's write permission on
//! the nameservers (wipeWritePerm, addWritePerm).

use super::table::Table;
use super::{targets, AdminError};
use crate::client::admin::AdminClient;

/// The first number of a `putTps`-style "10s 1m 10m" value.
pub fn first_number(v: Option<&String>) -> f64 {
    v.and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

/// wipeWritePerm / addWritePerm -b BROKER_NAME: on every nameserver, mqadmin's line per
/// nameserver. Fails (exit 1) only when no nameserver took the change.
pub async fn write_perm(
    admin: &AdminClient,
    broker_name: &str,
    add: bool,
    json: bool,
) -> Result<String, AdminError> {
    let verb = if add { "add" } else { "wipe" };
    let (mut out, mut rows, mut last_error) = (String::new(), Vec::new(), None);
    for ns in admin.namesrv().to_vec() {
        match admin.write_perm(ns, broker_name, add).await {
            Ok(n) => {
                out.push_str(&format!(
                    "{verb} write perm of broker[{broker_name}] in name server[{ns}] OK, {n}\n"
                ));
                rows.push(
                    serde_json::json!({"nameServer": ns.to_string(), "ok": true, "topics": n}),
                );
            }
            Err(e) => {
                out.push_str(&format!(
                    "{verb} write perm of broker[{broker_name}] in name server[{ns}] Failed\n  {e}\n"
                ));
                rows.push(serde_json::json!({"nameServer": ns.to_string(), "ok": false, "error": e.to_string()}));
                last_error = Some(e);
            }
        }
    }
    if let Some(e) = last_error.filter(|_| rows.iter().all(|r| r["ok"] == false)) {
        return Err(e.into());
    }
    Ok(if json {
        serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"
    } else {
        out
    })
}

/// clusterList [-m].
pub async fn cluster_list(
    admin: &AdminClient,
    more: bool,
    json: bool,
) -> Result<String, AdminError> {
    let info = admin.cluster_info().await?;
    let mut t = if more {
        Table::new(
            "%-16s  %-32s %14s %14s %14s %14s",
            "%-16s  %-32s %14s %14s %14s %14s",
            &[
                "#Cluster Name",
                "#Broker Name",
                "#InTotalYest",
                "#OutTotalYest",
                "#InTotalToday",
                "#OutTotalToday",
            ],
        )
    } else {
        Table::new(
            "%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s",
            "%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s",
            &[
                "#Cluster Name",
                "#Broker Name",
                "#BID",
                "#Addr",
                "#Version",
                "#InTPS(LOAD)",
                "#OutTPS(LOAD)",
                "#PCWait(ms)",
                "#Hour",
                "#SPACE",
            ],
        )
    };
    for (cluster, names) in &info.cluster_addr_table {
        for name in names {
            let Some(b) = info.broker_addr_table.get(name) else {
                continue;
            };
            for (id, addr) in &b.broker_addrs {
                let rt = admin.runtime_info(addr).await?;
                let get = |k: &str| rt.get(k).cloned().unwrap_or_default();
                let num = |k: &str| rt.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
                if more {
                    t.row(vec![
                        cluster.clone(),
                        name.clone(),
                        (num("msgPutTotalTodayMorning") - num("msgPutTotalYesterdayMorning"))
                            .to_string(),
                        (num("msgGetTotalTodayMorning") - num("msgGetTotalYesterdayMorning"))
                            .to_string(),
                        (num("msgPutTotalTodayNow") - num("msgPutTotalTodayMorning")).to_string(),
                        (num("msgGetTotalTodayNow") - num("msgGetTotalTodayMorning")).to_string(),
                    ]);
                    continue;
                }
                // A slave that stopped following (or was refused) is said under the table:
                // the row alone would look healthy.
                let state = get("haState");
                if state == "DIVERGED" || state == "REFUSED" {
                    t.footer(
                        &format!("Replication of {name} BID {id} {addr}"),
                        format!("{state}: {}", get("haStateDetail")),
                    );
                }
                let earliest = num("earliestMessageTimeStamp");
                let hours = if earliest > 0 {
                    (crate::clock::now_ms() - earliest) as f64 / 3_600_000.0
                } else {
                    0.0
                };
                let space: f64 = get("commitLogDiskRatio").parse().unwrap_or(0.0);
                t.row(vec![
                    cluster.clone(),
                    name.clone(),
                    id.to_string(),
                    addr.clone(),
                    get("brokerVersionDesc"),
                    format!(
                        "{:9.2}({},{}ms)",
                        first_number(rt.get("putTps")),
                        get("sendThreadPoolQueueSize"),
                        get("sendThreadPoolQueueHeadWaitTimeMills")
                    ),
                    format!(
                        "{:9.2}({},{}ms)",
                        first_number(rt.get("getTransferedTps")),
                        get("pullThreadPoolQueueSize"),
                        get("pullThreadPoolQueueHeadWaitTimeMills")
                    ),
                    get("pageCacheLockTimeMills"),
                    format!("{hours:2.2}"),
                    format!("{space:.4}"),
                ]);
            }
        }
    }
    Ok(if json { t.to_json() } else { t.render() })
}

/// brokerStatus (-b | -c): the runtime table, `%-32s: %s` per key.
pub async fn broker_status(
    admin: &AdminClient,
    broker: Option<String>,
    cluster: Option<String>,
    json: bool,
) -> Result<String, AdminError> {
    let addrs = targets(admin, broker, cluster.clone()).await?;
    let mut out = String::new();
    let mut all = serde_json::Map::new();
    for addr in addrs {
        let rt = admin.runtime_info(&addr).await?;
        for (k, v) in &rt {
            if cluster.is_some() {
                out.push_str(&format!("{addr:<24} {k:<32}: {v}\n"));
            } else {
                out.push_str(&format!("{k:<32}: {v}\n"));
            }
        }
        all.insert(addr, serde_json::to_value(rt).unwrap_or_default());
    }
    Ok(if json {
        serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
    } else {
        out
    })
}

/// getBrokerConfig (-b | -c): `key = value` lines per broker.
pub async fn broker_config(
    admin: &AdminClient,
    broker: Option<String>,
    cluster: Option<String>,
    json: bool,
) -> Result<String, AdminError> {
    let mut out = String::new();
    let mut all = serde_json::Map::new();
    for addr in targets(admin, broker, cluster).await? {
        let text = admin.broker_config(&addr).await?;
        let kv = config_table(&addr, &text, &mut out);
        all.insert(addr, serde_json::Value::Object(kv));
    }
    Ok(if json {
        serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
    } else {
        out
    })
}

/// One server's `key=value` config text as mqadmin prints it (a `====ADDR====` line, then
/// `%-50s=  %s` per key), appended to `out`; the same keys as a JSON object.
pub fn config_table(
    addr: &str,
    text: &str,
    out: &mut String,
) -> serde_json::Map<String, serde_json::Value> {
    out.push_str(&format!("============{addr}============\n"));
    let mut kv = serde_json::Map::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            out.push_str(&format!("{k:<50}=  {v}\n"));
            kv.insert(k.to_owned(), serde_json::Value::String(v.to_owned()));
        }
    }
    kv
}

/// updateBrokerConfig (-b | -c) -k KEY -v VALUE.
pub async fn update_broker_config(
    admin: &AdminClient,
    broker: Option<String>,
    cluster: Option<String>,
    key: &str,
    value: &str,
    json: bool,
) -> Result<String, AdminError> {
    let (key, value) = (key.trim(), value.trim());
    let mut out = String::new();
    let mut done = Vec::new();
    for addr in targets(admin, broker, cluster).await? {
        admin.update_broker_config(&addr, &[(key, value)]).await?;
        out.push_str(&format!("update broker config success, {addr}\n"));
        done.push(addr);
    }
    Ok(if json {
        serde_json::to_string_pretty(&serde_json::json!({"brokers": done, key: value}))
            .unwrap_or_default()
            + "\n"
    } else {
        out
    })
}
