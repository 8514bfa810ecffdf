//! GET_BROKER_RUNTIME_INFO (28), what `mqadmin clusterList` prints, gathered from every
//! shard; GET_BROKER_CONFIG (26), the effective config as properties text.

use std::rc::Rc;

use super::Reply;
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
#[derive(Debug, Clone, Copy)]
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
    t
}
