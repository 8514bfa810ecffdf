//! Start-up: bind, load the KV file, print the boot line, serve, expire silent brokers.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::handlers::NamesrvHandler;
use super::kv_config::{KvConfig, KvConfigError};
use super::route_table::RouteTable;
use super::Namesrv;
use crate::config::namesrv::NamesrvConfig;
use crate::remoting::{server, ConnectionLimits};
use crate::runtime::{run_unpinned, NETWORK_ONLY_IO_MEMORY_BYTES};

/// The shortest wait between expiry scans, whatever scanNotActiveBrokerInterval says.
const MIN_SCAN_INTERVAL_MS: u64 = 10;

/// Why the nameserver could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NamesrvError {
    /// `bindAddress` is not an IP address.
    #[error("bad bindAddress {0:?}: expected an IPv4 or IPv6 address")]
    BadAddress(String),
    /// The port could not be bound (in use, no permission).
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// OS error text.
        reason: String,
    },
    /// The KV file could not be loaded.
    #[error(transparent)]
    Kv(#[from] KvConfigError),
    /// The executor failed.
    #[error("{0}")]
    Runtime(String),
}

/// Runs the nameserver until the process is stopped.
pub fn run(config: NamesrvConfig) -> Result<(), NamesrvError> {
    let ip: std::net::IpAddr = config
        .bind_address
        .parse()
        .map_err(|_| NamesrvError::BadAddress(config.bind_address.clone()))?;
    let addr = SocketAddr::new(ip, config.listen_port);
    let kv = KvConfig::load(&config.kv_config_path)?;
    // Bound here, before the boot line, so "address in use" is an error at start. No
    // SO_REUSEPORT: a second nameserver on the same port must fail, not share it. A
    // nameserver restarted right after a crash may find its port still held a moment.
    let socket =
        server::bind_waiting_for_release(&addr.to_string(), || server::bind_socket(addr, false))
            .map_err(|e| NamesrvError::Bind {
                addr,
                reason: e.to_string(),
            })?;
    crate::stdout::server_line("The Name Server boot success. serializeType=JSON");
    tracing::info!(%addr, "The Name Server boot success. serializeType=JSON");
    run_unpinned(
        "namesrv",
        NETWORK_ONLY_IO_MEMORY_BYTES,
        move || async move {
            let idle = Duration::from_secs(config.server_channel_max_idle_time_seconds.max(1));
            let ns = Rc::new(Namesrv {
                config: RefCell::new(config),
                routes: RefCell::new(RouteTable::default()),
                kv: RefCell::new(kv),
            });
            glommio::spawn_local(expire_loop(ns.clone())).detach();
            let limits = ConnectionLimits { idle };
            server::serve(
                server::into_listener(socket),
                Rc::new(NamesrvHandler(ns)),
                limits,
            )
            .await;
        },
    )
    .map_err(|e| NamesrvError::Runtime(e.to_string()))
}

/// Drops brokers that stopped registering; the interval is read before each wait, so
/// updateNamesrvConfig can change it.
async fn expire_loop(ns: Rc<Namesrv>) {
    loop {
        let every = ns.config.borrow().scan_not_active_broker_interval;
        glommio::timer::sleep(Duration::from_millis(every.max(MIN_SCAN_INTERVAL_MS))).await;
        for addr in ns.routes.borrow_mut().expire(Instant::now()) {
            tracing::warn!(broker = %addr, "broker removed: no registration within its timeout");
        }
    }
}
