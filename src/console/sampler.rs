//! The console's memory of the last hour: every few seconds it asks each broker for its
//! TPS and each consumer group for its lag, and keeps a bounded ring per series. Nothing is
//! written to disk: a restarted console starts its charts empty, as rocketmq-console's
//! dashboard does without its own store.

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use super::Console;
use crate::admin::cluster::first_number;
use crate::admin::consumers::{group_names, group_summary};

/// How far back the charts reach.
pub const HISTORY_SPAN_MS: u64 = 60 * 60 * 1000;
/// Series kept at most (brokers plus groups); more are not sampled.
pub const MAX_SERIES: usize = 512;

/// One broker sample: (time ms, in TPS, out TPS).
pub type BrokerPoint = (i64, f64, f64);
/// One group sample: (time ms, lag).
pub type LagPoint = (i64, i64);

/// Bounded sample rings, one per broker address and per group.
pub struct History {
    capacity: usize,
    brokers: BTreeMap<String, VecDeque<BrokerPoint>>,
    groups: BTreeMap<String, VecDeque<LagPoint>>,
}

fn push<T>(ring: &mut VecDeque<T>, capacity: usize, v: T) {
    if ring.len() == capacity {
        ring.pop_front();
    }
    ring.push_back(v);
}

impl History {
    /// Rings long enough for an hour at `interval`.
    pub fn new(interval: Duration) -> Self {
        let capacity = (HISTORY_SPAN_MS / interval.as_millis().max(1) as u64).max(2) as usize;
        History {
            capacity,
            brokers: BTreeMap::new(),
            groups: BTreeMap::new(),
        }
    }

    fn has_room(&self, known: bool) -> bool {
        known || self.brokers.len() + self.groups.len() < MAX_SERIES
    }

    /// Records a broker's TPS.
    pub fn broker(&mut self, addr: &str, p: BrokerPoint) {
        if self.has_room(self.brokers.contains_key(addr)) {
            let cap = self.capacity;
            push(self.brokers.entry(addr.to_owned()).or_default(), cap, p);
        }
    }

    /// Records a group's lag.
    pub fn group(&mut self, group: &str, p: LagPoint) {
        if self.has_room(self.groups.contains_key(group)) {
            let cap = self.capacity;
            push(self.groups.entry(group.to_owned()).or_default(), cap, p);
        }
    }

    /// A broker's samples, oldest first.
    pub fn broker_points(&self, addr: &str) -> Vec<BrokerPoint> {
        self.brokers
            .get(addr)
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default()
    }

    /// A group's samples, oldest first.
    pub fn lag_points(&self, group: &str) -> Vec<LagPoint> {
        self.groups
            .get(group)
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Drops series with no sample since `cutoff_ms` (brokers and groups that went away).
    fn forget_older_than(&mut self, cutoff_ms: i64) {
        self.brokers
            .retain(|_, r| r.back().is_some_and(|p| p.0 >= cutoff_ms));
        self.groups
            .retain(|_, r| r.back().is_some_and(|p| p.0 >= cutoff_ms));
    }
}

/// Samples forever, every `interval`; a failed round is logged and the next one tried.
pub async fn run(console: Rc<Console>, interval: Duration) {
    loop {
        if let Err(e) = sample_once(&console).await {
            tracing::debug!("console sample: {e}");
        }
        glommio::timer::sleep(interval).await;
    }
}

async fn sample_once(c: &Console) -> Result<(), crate::admin::AdminError> {
    let now = crate::clock::now_ms();
    let info = c.admin.cluster_info().await?;
    for b in info.broker_addr_table.values() {
        for addr in b.broker_addrs.values() {
            if let Ok(rt) = c.admin.runtime_info(addr).await {
                let point = (
                    now,
                    first_number(rt.get("putTps")),
                    first_number(rt.get("getTransferedTps")),
                );
                c.history.borrow_mut().broker(addr, point);
            }
        }
    }
    for group in group_names(&c.admin).await?.into_iter().take(MAX_SERIES) {
        if let Ok(Some(s)) = group_summary(&c.admin, &group).await {
            c.history.borrow_mut().group(&group, (now, s.diff));
        }
    }
    c.history
        .borrow_mut()
        .forget_older_than(now - HISTORY_SPAN_MS as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_hold_an_hour_and_series_are_capped() {
        let mut h = History::new(Duration::from_secs(600));
        assert_eq!(h.capacity, 6);
        for i in 0..10 {
            h.broker("b:1", (i, i as f64, 0.0));
        }
        let pts = h.broker_points("b:1");
        assert_eq!(pts.len(), 6);
        assert_eq!(pts[0].0, 4, "the oldest samples go first");
        for i in 0..MAX_SERIES + 5 {
            h.group(&format!("g{i}"), (100, 1));
        }
        assert_eq!(h.brokers.len() + h.groups.len(), MAX_SERIES);
        h.forget_older_than(50);
        assert!(
            h.broker_points("b:1").is_empty(),
            "b:1's last sample is at 9"
        );
        assert_eq!(h.lag_points("g0"), vec![(100, 1)]);
    }
}
