//! Send latency per shard: a fixed-bucket histogram of the time from a send request's
//! dispatch to its answer, kept in plain cells (one increment per send, no allocation)
//! and read by the metrics scrape.

use std::cell::Cell;
use std::time::Duration;

/// Bucket upper bounds, milliseconds (Prometheus `le`).
pub const SEND_LATENCY_BUCKETS_MS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0,
];

/// Counts per bucket (not cumulative), total count and sum.
#[derive(Default)]
pub struct SendLatency {
    counts: [Cell<u64>; SEND_LATENCY_BUCKETS_MS.len()],
    count: Cell<u64>,
    sum_us: Cell<u64>,
}

impl SendLatency {
    /// Records one send.
    pub fn record(&self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        if let Some(i) = SEND_LATENCY_BUCKETS_MS.iter().position(|b| ms <= *b) {
            self.counts[i].set(self.counts[i].get() + 1);
        }
        self.count.set(self.count.get() + 1);
        self.sum_us
            .set(self.sum_us.get() + d.as_micros().min(u64::MAX as u128) as u64);
    }

    /// (upper bound, cumulative count) per bucket, the count and the sum in ms.
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let mut acc = 0;
        let buckets = SEND_LATENCY_BUCKETS_MS
            .iter()
            .zip(&self.counts)
            .map(|(le, c)| {
                acc += c.get();
                (*le, acc)
            })
            .collect();
        (buckets, self.count.get(), self.sum_us.get() as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let h = SendLatency::default();
        h.record(Duration::from_micros(80));
        h.record(Duration::from_micros(700));
        h.record(Duration::from_secs(5));
        let (b, count, sum) = h.snapshot();
        assert_eq!(b[0], (0.1, 1));
        assert_eq!(b[3], (1.0, 2));
        assert_eq!(
            b.last().unwrap().1,
            2,
            "5 s is beyond the last bucket: +Inf only"
        );
        assert_eq!(count, 3);
        assert!((sum - 5000.78).abs() < 0.01);
    }
}
