//! coremq: a thread-per-core message broker that speaks Apache RocketMQ 4.x's remoting
//! protocol. See DESIGN notes in README.md; the tree mirrors the architecture:
//! [`protocol`] (wire format), [`remoting`] (connections on glommio), [`namesrv`] (route
//! registry), [`broker`] (thread-per-core shards serving clients), [`store`] (the per-shard
//! storage engine), [`config`] (property files), [`cli`] (the `coremq` command).

pub mod admin;
pub mod bench;
pub mod broker;
pub mod chart;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod console;
pub mod filter;
pub mod http_io;
pub mod latency_histogram;
pub mod logging;
pub mod namesrv;
pub mod protocol;
pub mod remoting;
pub mod runtime;
pub mod stdout;
pub mod store;
