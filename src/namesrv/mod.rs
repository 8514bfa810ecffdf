//! `coremq namesrv`: the route registry.
//!
//! Brokers register with every nameserver every 30 s; clients ask any nameserver for a
//! topic's route. Nameservers never talk to each other, so their state is soft: it is rebuilt
//! from registrations within one period after a restart (only the KV config is persisted).
//! Traffic is tiny (a few requests per second per client), so the whole role runs on one
//! executor and its state lives in plain `RefCell`s owned by that thread.

pub mod handlers;
pub mod kv_config;
pub mod route_table;
mod server;

use std::cell::RefCell;

pub use server::{run, NamesrvError};

use crate::config::namesrv::NamesrvConfig;
use kv_config::KvConfig;
use route_table::RouteTable;

/// The nameserver's state, owned by its executor.
pub struct Namesrv {
    /// Effective configuration; UPDATE_NAMESRV_CONFIG (318) replaces it whole, so readers
    /// take a short borrow each time they need a value.
    pub config: RefCell<NamesrvConfig>,
    /// Brokers, clusters and routes.
    pub routes: RefCell<RouteTable>,
    /// Persisted KV config.
    pub kv: RefCell<KvConfig>,
}
