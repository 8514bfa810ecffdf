//! Benchmarks built into the binary (`coremq bench ...`).

pub mod chart;
pub mod consumer;
pub mod device;
pub mod producer;
pub mod stats;
pub mod store;

/// User property `bench producer --e2e` puts on each message: when it was due to be sent,
/// µs since the epoch; `bench consumer` measures end-to-end latency from it.
pub const SEND_TIME_PROPERTY: &str = "COREMQ_BENCH_DUE_US";
