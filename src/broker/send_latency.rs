//! Send latency per shard: the time from a send request's dispatch to its answer, in a
//! fixed-bucket histogram (one increment per send) read by the metrics scrape.

use crate::latency_histogram::LatencyHistogram;

/// Bucket upper bounds, milliseconds (Prometheus `le`).
pub const SEND_LATENCY_BUCKETS_MS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0,
];

/// An empty send latency histogram.
pub fn histogram() -> LatencyHistogram {
    LatencyHistogram::new(&SEND_LATENCY_BUCKETS_MS)
}
