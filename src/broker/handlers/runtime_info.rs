//! GET_BROKER_RUNTIME_INFO (28), what `mqadmin clusterList` prints, gathered from every
//! shard; GET_BROKER_CONFIG (26), the effective config as properties text.

use std::rc::Rc;

use super::Reply;
use crate::broker::replication::{FollowState, ShardHa};
use crate::broker::shard::Shard;
use crate::broker::throughput::{Rates, Totals};
use crate::protocol::body::{to_json, KvTable};
use crate::protocol::RemotingCommand;
use crate::store::DiskUsage;

/// Version string shown in clusterList (RocketMQ's form, for tools that parse it).
pub const BROKER_VERSION_DESC: &str = "V4_9_4";

fn tps(v: [f64; 3]) -> String {
    format!("{:.2} {:.2} {:.2}", v[0], v[1], v[2])
}

/// 28.
pub async fn runtime_info(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let t = runtime_table(shard).await?;
    Ok(req.success().with_body(to_json(&t)))
}

/// One shard's contribution to the runtime table.
#[derive(Debug, Clone)]
pub struct RuntimePart {
    /// Store time of the shard's oldest message, 0 when it has none.
    pub earliest: i64,
    /// Messages put and delivered since start.
    pub totals: Totals,
    /// Put and delivery rates.
    pub rates: Rates,
    /// Local end of the shard's commit log.
    pub log_end: u64,
    /// Commit-log bytes not yet durable.
    pub unflushed: u64,
    /// Parked long-polling pulls.
    pub parked: usize,
    /// Replication state of the shard.
    pub ha: ShardHa,
}

impl RuntimePart {
    /// Reads this shard's part (run on the shard itself).
    pub async fn of(s: &Shard) -> RuntimePart {
        let stats = s.store.stats();
        RuntimePart {
            earliest: s.store.earliest_store_time().await,
            totals: s.throughput.totals(),
            rates: s.throughput.rates(),
            log_end: stats.log_end,
            unflushed: stats.log_end - stats.log_durable,
            parked: s.waiters.parked(),
            ha: ShardHa::of(s),
        }
    }
}

/// The runtime table (also exported as `rocketmq_brokeruntime_*` metrics).
async fn runtime_table(shard: &Rc<Shard>) -> Result<KvTable, super::HandlerError> {
    let parts = shard
        .run_on_all(|s| async move { RuntimePart::of(&s).await })
        .await?;
    Ok(runtime_table_of(shard, &parts))
}

/// The runtime table from every shard's part, gathered by the caller.
pub fn runtime_table_of(shard: &Shard, parts: &[RuntimePart]) -> KvTable {
    let mut totals = Totals::default();
    let mut rates = Rates::default();
    let (mut log_end, mut unflushed, mut parked) = (0u64, 0u64, 0usize);
    let mut earliest = 0i64;
    for p in parts {
        if p.earliest > 0 && (earliest == 0 || p.earliest < earliest) {
            earliest = p.earliest;
        }
        totals.put_msgs += p.totals.put_msgs;
        totals.get_msgs += p.totals.get_msgs;
        for i in 0..3 {
            rates.put[i] += p.rates.put[i];
            rates.get[i] += p.rates.get[i];
        }
        log_end += p.log_end;
        unflushed += p.unflushed;
        parked += p.parked;
    }
    let cfg = shard.cfg();
    let disk = DiskUsage::of(&cfg.store_path_root_dir)
        .map(|d| d.ratio_percent() / 100.0)
        .unwrap_or(0.0);
    let mut t = KvTable::default();
    let mut put = |k: &str, v: String| {
        t.table.insert(k.to_owned(), v);
    };
    put("brokerVersionDesc", BROKER_VERSION_DESC.into());
    put("brokerVersion", crate::protocol::SERVER_VERSION.to_string());
    put("coremqVersion", env!("CARGO_PKG_VERSION").into());
    put("putTps", tps(rates.put));
    put("getTransferedTps", tps(rates.get));
    put("getTransferredTps", tps(rates.get));
    put("getFoundTps", tps(rates.get));
    for k in [
        "sendThreadPoolQueueSize",
        "pullThreadPoolQueueSize",
        "queryThreadPoolQueueSize",
        "sendThreadPoolQueueHeadWaitTimeMills",
        "pullThreadPoolQueueHeadWaitTimeMills",
        "queryThreadPoolQueueHeadWaitTimeMills",
        "pageCacheLockTimeMills",
        "msgPutTotalYesterdayMorning",
        "msgGetTotalYesterdayMorning",
        "msgPutTotalTodayMorning",
        "msgGetTotalTodayMorning",
        "timerReadBehind",
        "timerOffsetBehind",
        "timerCongestNum",
        "ackThreadPoolQueueSize",
    ] {
        put(k, "0".into());
    }
    put("earliestMessageTimeStamp", earliest.to_string());
    put("timerEnqueueTps", "0.0".into());
    put("timerDequeueTps", "0.0".into());
    // Totals since this broker started (RocketMQ counts from midnight).
    put("msgPutTotalTodayNow", totals.put_msgs.to_string());
    put("msgGetTotalTodayNow", totals.get_msgs.to_string());
    put("commitLogDiskRatio", format!("{disk:.4}"));
    put("commitLogMaxOffset", log_end.to_string());
    put("commitLogMinOffset", "0".into());
    put("remainHowManyDataToFlush", unflushed.to_string());
    put("pullParked", parked.to_string());
    put("brokerActive", "true".into());
    put("shardCount", shard.shards.to_string());
    put(
        "brokerRole",
        crate::config::ConfigValue::render(&cfg.broker_role),
    );
    let has: Vec<&ShardHa> = parts.iter().map(|p| &p.ha).collect();
    replication_keys(&has, cfg.ha_slave_fallbehind_max, &mut put);
    t
}

/// coremq's replication keys (RocketMQ 4.9's table has none): a slave's master, state
/// and lag; a master's slaves with their acknowledged bytes and lag, summed over shards.
fn replication_keys(parts: &[&ShardHa], fallbehind_max: u64, put: &mut impl FnMut(&str, String)) {
    let lag: u64 = parts.iter().filter_map(|p| p.lag_bytes()).sum();
    if parts.first().is_some_and(|p| p.slave) {
        // The shard in the worst state speaks for the broker.
        let rank = |s: &FollowState| match s {
            FollowState::Diverged(_) => 5,
            FollowState::Refused(_) => 4,
            FollowState::Disconnected(_) => 3,
            FollowState::Connecting => 2,
            FollowState::WaitingForMaster => 1,
            FollowState::Following => 0,
        };
        let worst = parts.iter().max_by_key(|p| rank(&p.follow.state));
        if let Some(w) = worst {
            put("haState", w.follow.state.name().to_owned());
            if let Some(d) = w.follow.state.detail() {
                put("haStateDetail", d.to_owned());
            }
            put(
                "haMasterAddress",
                w.follow.master_ha.clone().unwrap_or_default(),
            );
            put(
                "haMasterBrokerAddr",
                w.follow.master_addr.clone().unwrap_or_default(),
            );
        }
        put("haLagBytes", lag.to_string());
        return;
    }
    // The same table haStatus prints, summed per slave over its shards.
    let info = crate::broker::replication::ha_runtime_info(parts, fallbehind_max);
    let mut slaves: std::collections::BTreeMap<&str, (i64, i64, usize)> = Default::default();
    for c in &info.ha_connection_info {
        let e = slaves.entry(c.addr.as_str()).or_default();
        e.0 += c.slave_ack_offset;
        e.1 += c.diff;
        e.2 += 1;
    }
    put("haSlaveNum", slaves.len().to_string());
    put("haInSyncSlaveNum", info.in_sync_slave_nums.to_string());
    put("haLagBytes", lag.to_string());
    for (addr, (acked, lag, shards)) in slaves {
        put(
            &format!("haSlave_{addr}"),
            format!("ackOffset={acked},lagBytes={lag},shards={shards}"),
        );
    }
}
