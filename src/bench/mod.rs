//! Benchmarks built into the binary (`coremq bench ...`).

pub mod device;
pub mod store;
