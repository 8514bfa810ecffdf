//! Benchmarks built into the binary (`coremq bench ...`).

pub mod consumer;
pub mod device;
pub mod producer;
pub mod stats;
pub mod store;
