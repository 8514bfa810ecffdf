//! The broker: thread-per-core shards that store and serve messages (DESIGN.md).
//!
//! - [`server`]: start-up, listeners, shutdown; [`placement`]: shards, CPUs, address.
//! - [`shard`]: one core's state and [`shard::Shard::run_on`], the only way across cores;
//!   [`router`] moves those calls between cores in [`mailbox`]es; [`shard_map`] says
//!   which core owns a queue.
//! - Per-queue state on the owner: [`offsets`] (consumer offsets), [`locks`] (orderly
//!   consumers), [`long_polling`] (parked pulls); [`delay`] (delay levels, retries);
//!   [`timer`] (timer messages, any delivery time).
//! - Per-group state on the group's keeper: [`clients`]; per-connection state on the
//!   connection's core: [`connections`].
//! - [`metadata`]: topics and subscription groups (shard 0 keeps the original);
//!   [`registration`]: with the nameservers; [`replication`]: master/slave, per shard.
//! - [`grpc`]: RocketMQ 5's gRPC service on every shard; [`pop`]: its POP receive state,
//!   per queue on the owner.
//! - [`acl`]: plain ACL, checked before dispatch on the receiving core.
//! - [`handlers`]: one file per request area; [`message_id`], [`throughput`], [`persist`].

pub mod acl;
pub mod clients;
pub mod connection_moves;
pub mod connections;
pub mod delay;
pub mod grpc;
pub mod handlers;
pub mod hot_window;
pub mod locks;
pub mod long_polling;
pub mod mailbox;
pub mod metadata;
pub mod metrics;
pub mod metrics_http;
pub mod offsets;
pub mod persist;
pub mod placement;
pub mod pop;
pub mod property_filter;
pub mod registration;
pub mod replication;
pub mod router;
pub mod send_latency;
pub mod server;
pub mod shard;
pub mod shard_map;
pub mod throughput;
pub mod timer;
pub mod transaction;
