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

/// The runtime table (also exported as `rocketmq_brokeruntime_*` metrics).
pub async fn runtime_table(shard: &Rc<Shard>) -> Result<KvTable, super::HandlerError> {
    let per_shard = shard
        .run_on_all(|s| async move {
            let stats = s.store.stats();
            let earliest = s.store.earliest_store_time().await;
            (
                earliest,
                s.throughput.totals(),
                s.throughput.rates(),
                stats.log_end,
                stats.log_end - stats.log_durable,
                s.waiters.parked(),
            )
        })
        .await?;
    let mut totals = Totals::default();
    let mut rates = Rates::default();
    let (mut log_end, mut unflushed, mut parked) = (0u64, 0u64, 0usize);
    let mut earliest = 0i64;
    for (e, t, r, end, unfl, p) in per_shard {
        if e > 0 && (earliest == 0 || e < earliest) {
            earliest = e;
        }
        totals.put_msgs += t.put_msgs;
        totals.get_msgs += t.get_msgs;
        for i in 0..3 {
            rates.put[i] += r.put[i];
            rates.get[i] += r.get[i];
        }
        log_end += end;
        unflushed += unfl;
        parked += p;
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
    Ok(t)
}
