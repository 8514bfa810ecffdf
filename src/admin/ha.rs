//! haStatus (RocketMQ 5's command, GET_BROKER_HA_STATUS 907): a master's slaves per shard
//! with their acknowledged offsets, lag and state; a slave's master and how far behind
//! each of its shards is.

use super::table::{local_time, Table};
use super::{targets, AdminError};
use crate::client::admin::AdminClient;
use crate::protocol::body::ha::HaRuntimeInfo;

/// haStatus -b ADDR | -c CLUSTER.
pub async fn ha_status(
    admin: &AdminClient,
    broker: Option<String>,
    cluster: Option<String>,
    json: bool,
) -> Result<String, AdminError> {
    let addrs = targets(admin, broker, cluster).await?;
    let mut out = String::new();
    let mut all = serde_json::Map::new();
    for addr in addrs {
        let info = admin.ha_status(&addr).await?;
        out.push_str(&render(&addr, &info));
        all.insert(addr, serde_json::to_value(&info).unwrap_or_default());
    }
    Ok(if json {
        serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
    } else {
        out
    })
}

fn kv(out: &mut String, k: &str, v: impl std::fmt::Display) {
    out.push_str(&format!("{k:<32}: {v}\n"));
}

/// One broker's status as text.
pub fn render(addr: &str, info: &HaRuntimeInfo) -> String {
    let mut out = String::new();
    if info.master {
        let slaves: std::collections::BTreeSet<&str> = info
            .ha_connection_info
            .iter()
            .map(|c| c.addr.as_str())
            .collect();
        kv(&mut out, "#MasterAddr", addr);
        kv(
            &mut out,
            "#MasterCommitLogMaxOffset",
            info.master_commit_log_max_offset,
        );
        kv(&mut out, "#SlaveNum", slaves.len());
        kv(&mut out, "#InSyncSlaveNum", info.in_sync_slave_nums);
        let mut t = Table::new(
            "%-24s  %-16s %-16s %-20s %-12s %-18s %s",
            "%-24s  %-16s %-16s %-20s %-12s %-18s %s",
            &[
                "#SlaveAddr",
                "#SlaveAckOffset",
                "#Diff",
                "#TransferSpeed(KB/s)",
                "#Status",
                "#TransferFromWhere",
                "#Shard",
            ],
        );
        for c in &info.ha_connection_info {
            t.row(vec![
                c.addr.clone(),
                c.slave_ack_offset.to_string(),
                c.diff.to_string(),
                format!("{:.2}", c.transferred_byte_in_second as f64 / 1024.0),
                if c.in_sync { "OK" } else { "Fall Behind" }.to_owned(),
                c.transfer_from_where.to_string(),
                c.shard.to_string(),
            ]);
        }
        out.push_str(&t.render());
    } else {
        let c = &info.ha_client_runtime_info;
        kv(&mut out, "#MasterAddr", &c.master_addr);
        kv(
            &mut out,
            "#CommitLogMaxOffset",
            info.master_commit_log_max_offset,
        );
        kv(
            &mut out,
            "#TransferSpeed(KB/s)",
            format!("{:.2}", c.transferred_byte_in_second as f64 / 1024.0),
        );
        kv(
            &mut out,
            "#LastReadTime",
            local_time(c.last_read_timestamp, true),
        );
        kv(
            &mut out,
            "#LastWriteTime",
            local_time(c.last_write_timestamp, true),
        );
        kv(&mut out, "#MasterFlushOffset", c.master_flush_offset);
        let mut t = Table::new(
            "%-6s  %-20s %-14s %-16s %-16s %s",
            "%-6s  %-20s %-14s %-16s %-16s %s",
            &[
                "#Shard",
                "#State",
                "#LagBytes",
                "#MaxOffset",
                "#MasterOffset",
                "#Detail",
            ],
        );
        for s in &info.shard_clients {
            t.row(vec![
                s.shard.to_string(),
                s.state.clone(),
                s.lag_bytes.to_string(),
                s.max_offset.to_string(),
                s.master_flush_offset.to_string(),
                s.detail.clone(),
            ]);
        }
        out.push_str(&t.render());
    }
    out
}
