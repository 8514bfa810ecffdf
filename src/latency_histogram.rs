//! Fixed-bucket latency histograms for per-core metrics: one increment per event in plain
//! cells (no atomics, no allocation; each core owns its own), read at scrape time as
//! Prometheus `_bucket`/`_count`/`_sum` series. The broker keeps one for send latency and
//! the store one for commit-log write rounds. Fixed buckets, unlike HdrHistogram, sum across
//! shards and scrapes the way Prometheus expects, at the cost of coarse quantiles.

use std::cell::Cell;
use std::time::Duration;

/// A histogram over fixed upper bounds in milliseconds.
pub struct LatencyHistogram {
    bounds_ms: &'static [f64],
    /// Counts per bucket, not cumulative; events beyond the last bound are only in `count`.
    counts: Box<[Cell<u64>]>,
    count: Cell<u64>,
    sum_us: Cell<u64>,
}

/// A histogram read at one moment: cumulative counts per upper bound, count and sum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramSnapshot {
    /// (upper bound ms, events at or below it).
    pub buckets: Vec<(f64, u64)>,
    /// All events, including those beyond the last bound (`le="+Inf"`).
    pub count: u64,
    /// Sum of all events, ms.
    pub sum_ms: f64,
}

impl LatencyHistogram {
    /// An empty histogram over `bounds_ms`, which must be ascending.
    pub fn new(bounds_ms: &'static [f64]) -> Self {
        assert!(
            bounds_ms.windows(2).all(|w| w[0] < w[1]),
            "histogram bounds must ascend"
        );
        Self {
            bounds_ms,
            counts: bounds_ms.iter().map(|_| Cell::new(0)).collect(),
            count: Cell::new(0),
            sum_us: Cell::new(0),
        }
    }

    /// Records one event.
    pub fn record(&self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        if let Some(i) = self.bounds_ms.iter().position(|b| ms <= *b) {
            self.counts[i].set(self.counts[i].get() + 1);
        }
        self.count.set(self.count.get() + 1);
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_us.set(self.sum_us.get().saturating_add(us));
    }

    /// The histogram now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut acc = 0;
        let buckets = self
            .bounds_ms
            .iter()
            .zip(self.counts.iter())
            .map(|(le, c)| {
                acc += c.get();
                (*le, acc)
            })
            .collect();
        HistogramSnapshot {
            buckets,
            count: self.count.get(),
            sum_ms: self.sum_us.get() as f64 / 1000.0,
        }
    }
}

impl HistogramSnapshot {
    /// Adds `other`, taken over the same bounds (another shard's).
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        if self.buckets.is_empty() {
            self.buckets = other.buckets.clone();
        } else {
            assert_eq!(
                self.buckets.len(),
                other.buckets.len(),
                "merging histograms over different bounds"
            );
            for (acc, (_, n)) in self.buckets.iter_mut().zip(&other.buckets) {
                acc.1 += n;
            }
        }
        self.count += other.count;
        self.sum_ms += other.sum_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS_MS: [f64; 4] = [0.1, 1.0, 10.0, 100.0];

    #[test]
    fn buckets_are_cumulative_and_overflow_counts_only_in_count() {
        let h = LatencyHistogram::new(&BOUNDS_MS);
        h.record(Duration::from_micros(80));
        h.record(Duration::from_micros(700));
        h.record(Duration::from_secs(5));
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(0.1, 1), (1.0, 2), (10.0, 2), (100.0, 2)]);
        assert_eq!(s.count, 3, "5 s is beyond the last bound: +Inf only");
        assert!((s.sum_ms - 5000.78).abs() < 0.01);
    }

    #[test]
    fn merge_adds_bucket_by_bucket() {
        let (a, b) = (
            LatencyHistogram::new(&BOUNDS_MS),
            LatencyHistogram::new(&BOUNDS_MS),
        );
        a.record(Duration::from_micros(50));
        b.record(Duration::from_millis(5));
        b.record(Duration::from_millis(50));
        let mut total = HistogramSnapshot::default();
        total.merge(&a.snapshot());
        total.merge(&b.snapshot());
        assert_eq!(
            total.buckets,
            vec![(0.1, 1), (1.0, 1), (10.0, 2), (100.0, 3)]
        );
        assert_eq!(total.count, 3);
        assert!((total.sum_ms - 55.05).abs() < 0.001);
    }

    #[test]
    #[should_panic(expected = "ascend")]
    fn unordered_bounds_are_refused() {
        static BAD_MS: [f64; 2] = [5.0, 1.0];
        let _ = LatencyHistogram::new(&BAD_MS);
    }
}
