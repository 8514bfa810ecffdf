//! Broker start-up and shutdown: plan the shards, lock the store, bind every listener up
//! front (so a busy port is an error at start), start one pinned executor per shard, print
//! the boot line, and on SIGTERM/SIGINT unregister, persist offsets, flush and exit.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use glommio::Placement;
use socket2::Socket;

use super::acl::AclStart;
use super::handlers::BrokerHandler;
use super::metadata::{Metadata, MetadataFiles};
use super::offsets::ConsumerOffsets;
use super::router::Mesh;
use super::shard::{BrokerIdentity, Jobs, Shard};
use super::{delay, placement, registration, replication};
use crate::config::broker::{BrokerConfig, BrokerRole, FlushDiskType};
use crate::remoting::{server, ConnectionLimits};
use crate::store::root::StoreRoot;
use crate::store::{FlushMode, RetentionPolicy, ShardStore, StoreConfig};

/// How often shards look at the stop flag.
pub const STOP_POLL_MS: u64 = 100;

/// Time given to requests in flight between unregistering and closing the stores.
pub const STOP_DRAIN_MS: u64 = 300;
/// Threads per shard for the file operations io_uring cannot do: glommio's ftruncate,
/// rename and remove, and the store's mkdir and directory listing (spawn_blocking). With
/// glommio's default of one, a new 1,024-queue topic's files were made one at a time.
pub const BLOCKING_THREADS_PER_SHARD: usize = 8;

static STOP: AtomicBool = AtomicBool::new(false);
/// Set by shard 0 once the nameservers no longer route clients here.
static UNREGISTERED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGTERM and SIGINT request a clean stop.
pub fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
}

/// True once a stop was requested.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Asks every shard to stop (start-up failure, standalone shutdown).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// A started broker's boot line (RocketMQ's wording; scripts grep "boot success").
pub fn boot_line(ident: &BrokerIdentity) -> String {
    let ns: Vec<String> = ident.namesrv.iter().map(ToString::to_string).collect();
    format!(
        "The broker[{}, {}] boot success. serializeType=JSON and name server is {}",
        ident.cfg.broker_name,
        ident.addr,
        ns.join(";")
    )
}

/// The identity from the config: registered address, nameservers, files.
pub fn identity(
    cfg: BrokerConfig,
    namesrv: Vec<SocketAddr>,
    config_file: Option<PathBuf>,
) -> Result<BrokerIdentity, String> {
    let ip = if cfg.broker_ip1.is_empty() {
        placement::local_ipv4()
    } else {
        cfg.broker_ip1
            .parse()
            .map_err(|_| format!("brokerIP1={:?} is not an IP address", cfg.broker_ip1))?
    };
    let store_host = SocketAddr::new(ip, cfg.listen_port);
    Ok(BrokerIdentity {
        addr: store_host.to_string(),
        store_host,
        namesrv,
        meta_files: MetadataFiles::under(&cfg.store_path_root_dir),
        config_file,
        cfg,
    })
}

fn store_config(cfg: &BrokerConfig, root: PathBuf, shard: u32) -> Result<StoreConfig, String> {
    let mut sc = StoreConfig::new(root, shard);
    sc.commitlog_segment_bytes = cfg.mapped_file_size_commit_log;
    sc.consume_index_segment_bytes = cfg.mapped_file_size_consume_queue;
    sc.flush_mode = match cfg.flush_disk_type {
        FlushDiskType::AsyncFlush => FlushMode::Async,
        FlushDiskType::SyncFlush => FlushMode::Sync,
    };
    sc.flush_interval = Duration::from_millis(cfg.flush_interval_commit_log.max(1));
    sc.sync_flush_timeout = Duration::from_millis(cfg.sync_flush_timeout.max(1));
    sc.checkpoint_interval =
        Duration::from_millis(cfg.flush_consume_queue_thorough_interval.max(1));
    sc.read_cache_bytes = cfg.read_cache_bytes_per_shard as usize;
    sc.cache_idle_release = (cfg.read_cache_idle_release_ms > 0)
        .then(|| Duration::from_millis(cfg.read_cache_idle_release_ms));
    sc.message_index_enable = cfg.message_index_enable;
    sc.message_index_buffer_entries = cfg.message_index_buffer_entries as usize;
    sc.retention = Some(RetentionPolicy {
        delete_hours: RetentionPolicy::parse_delete_when(&cfg.delete_when)
            .map_err(|e| format!("deleteWhen: {e}"))?,
        reserved: Duration::from_secs(cfg.file_reserved_time * 3600),
        disk_max_used_ratio: cfg.disk_max_used_space_ratio,
    });
    Ok(sc)
}

/// Binds `port` on every interface once per shard with SO_REUSEPORT, after checking no
/// other process listens there (a reuse-port bind would silently share the port).
fn bind_shared(port: u16, shards: usize) -> Result<Vec<Socket>, String> {
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    // A broker restarted right after a crash may find its port still held a moment.
    let probe = server::bind_waiting_for_release(&addr.to_string(), || StdListener::bind(addr));
    drop(probe.map_err(|e| format!("cannot listen on {addr}: {e}"))?);
    (0..shards)
        .map(|_| {
            server::bind_socket(addr, true).map_err(|e| format!("cannot listen on {addr}: {e}"))
        })
        .collect()
}

/// Runs the broker until SIGTERM/SIGINT. `on_boot` runs after the boot line.
pub fn run(
    cfg: BrokerConfig,
    namesrv: Vec<SocketAddr>,
    config_file: Option<PathBuf>,
) -> Result<(), String> {
    let cpus = placement::plan(cfg.shard_count, &cfg.shard_cpus)?;
    let shards = cpus.len();
    let ident = identity(cfg, namesrv, config_file)?;
    let cfg = &ident.cfg;
    let root_dir = cfg.store_path_root_dir.clone();
    let root = StoreRoot::open(&root_dir, shards as u32).map_err(|e| e.to_string())?;
    if root.crashed {
        tracing::warn!(store = %root_dir.display(), "the last stop was not clean: recovering");
    }
    let meta = Metadata::load(&ident.meta_files, cfg)?;
    let acl = if cfg.acl_enable {
        Some(AclStart::load(ident.config_file.as_deref(), &root_dir)?)
    } else {
        None
    };
    delay::parse_levels(&cfg.message_delay_level).map_err(|e| format!("messageDelayLevel: {e}"))?;
    let mut main_sockets = bind_shared(cfg.listen_port, shards)?;
    let mut vip_sockets = bind_shared(cfg.listen_port - 2, shards)?;
    let mut grpc_sockets = if cfg.grpc_server_port > 0 {
        bind_shared(cfg.grpc_server_port, shards).map_err(|e| format!("grpcServerPort: {e}"))?
    } else {
        Vec::new()
    };
    // Masters accept slaves on the HA port (shard 0 accepts, the link moves to its shard).
    let mut ha_socket = if cfg.broker_role == BrokerRole::Slave {
        None
    } else {
        let addr = SocketAddr::from(([0, 0, 0, 0], cfg.ha_port()));
        Some(
            server::bind_waiting_for_release(&addr.to_string(), || {
                server::bind_socket(addr, false)
            })
            .map_err(|e| format!("cannot listen on {addr} (haListenPort): {e}"))?,
        )
    };
    let mesh = Mesh::<Jobs>::new(shards);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut handles = Vec::new();
    for (i, cpu) in cpus.iter().enumerate() {
        let placement = cpu.map_or(Placement::Unbound, Placement::Fixed);
        let sockets = vec![main_sockets.remove(0), vip_sockets.remove(0)];
        let grpc = (!grpc_sockets.is_empty()).then(|| grpc_sockets.remove(0));
        let ha = ha_socket.take();
        let (mesh, ident, meta, ready, root_dir, acl) = (
            mesh.clone(),
            ident.clone(),
            meta.clone(),
            ready_tx.clone(),
            root_dir.clone(),
            acl.clone(),
        );
        let io_memory = cfg.io_memory_bytes_per_shard as usize;
        let builder =
            crate::runtime::store_executor(&format!("broker-shard-{i}"), placement, io_memory)
                .spin_before_park(Duration::from_micros(cfg.spin_before_park_micros))
                .blocking_thread_pool_placement(glommio::PoolPlacement::Unbound(
                    BLOCKING_THREADS_PER_SHARD,
                ));
        let h = builder
            .spawn(move || async move {
                let r = shard_main(
                    i,
                    mesh,
                    (ident, meta, acl),
                    (sockets, grpc, ha),
                    root_dir,
                    ready.clone(),
                )
                .await;
                if let Err(e) = &r {
                    let _ = ready.send(Err(format!("shard {i}: {e}")));
                }
                r
            })
            .map_err(|e| format!("starting shard {i} executor: {e}"))?;
        handles.push(h);
    }
    drop(ready_tx);
    for _ in 0..shards {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                request_stop();
                return Err(e);
            }
            Err(_) => return Err("a shard stopped during start-up".into()),
        }
    }
    let line = boot_line(&ident);
    crate::stdout::server_line(&line);
    tracing::info!(shards, "{line}");
    let mut clean = true;
    for (i, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                clean = false;
                tracing::error!(shard = i, "shard stopped with an error: {e}");
            }
            Err(e) => {
                clean = false;
                tracing::error!(shard = i, "shard executor failed: {e}");
            }
        }
    }
    if clean {
        root.close_clean().map_err(|e| e.to_string())?;
        tracing::info!("broker stopped cleanly");
    }
    Ok(())
}

async fn shard_main(
    i: usize,
    mesh: Mesh<Jobs>,
    (ident, meta, acl): (BrokerIdentity, Metadata, Option<AclStart>),
    (sockets, grpc, ha): (Vec<Socket>, Option<Socket>, Option<Socket>),
    root_dir: PathBuf,
    ready: mpsc::Sender<Result<(), String>>,
) -> Result<(), String> {
    let sc = store_config(&ident.cfg, root_dir, i as u32)?;
    let config_dir = sc.shard_dir().join("config");
    let store = Rc::new(ShardStore::open(sc).await.map_err(|e| e.to_string())?);
    let offsets = ConsumerOffsets::load(config_dir.join("consumerOffset.json"))?;
    let delays = ConsumerOffsets::load(config_dir.join("delayOffset.json"))?;
    let pop_dir = config_dir.join("pop");
    let pop_acks = crate::broker::pop::journal::load(&pop_dir)
        .map_err(|e| format!("{}: {e}", pop_dir.display()))?;
    let shard = Shard::start(
        i,
        &mesh,
        Rc::new(ident),
        store.clone(),
        meta,
        (offsets, delays),
        acl.as_ref().map(AclStart::gate),
    );
    // Acks below a queue's committed offset say nothing more.
    let pop_acks: Vec<_> = pop_acks
        .into_iter()
        .filter(|((g, t, q), o)| {
            shard
                .offsets
                .borrow()
                .get(g, t, *q)
                .is_none_or(|c| *o as i64 >= c)
        })
        .collect();
    shard.pop.borrow_mut().restore(pop_acks);
    let journal = crate::broker::pop::journal::AckJournal::open(&pop_dir).await?;
    *shard.pop_journal.borrow_mut() = Some(Rc::new(journal));
    glommio::spawn_local(store.clone().run_retention()).detach();
    glommio::spawn_local(store.clone().run_idle_release()).detach();
    glommio::spawn_local(shard.throughput.clone().run_sampler()).detach();
    glommio::spawn_local(shard.clone().run_client_expiry()).detach();
    glommio::spawn_local(shard.clone().run_offset_flush()).detach();
    if i == 0 && shard.acl.is_some() {
        glommio::spawn_local(super::acl::reload::run(shard.clone())).detach();
    }
    let slave = shard.cfg().broker_role == BrokerRole::Slave;
    // A slave only ever holds what its master made durable; a SYNC_FLUSH master serves
    // only what it made durable itself.
    store.set_reads_durable_only(!slave && shard.cfg().flush_disk_type == FlushDiskType::SyncFlush);
    // Peers' calls run from here on. No shard goes further until every store is open and
    // serving, so none takes clients or registers while a peer still recovers.
    shard.serve_peers().await;
    if slave {
        // A slave's log is its master's: delay levels are delivered there, not here.
        replication::spawn_link(replication::slave::run(shard.clone()));
        if i == 0 {
            glommio::spawn_local(replication::meta_sync::run(shard.clone())).detach();
        }
    } else {
        delay::start(&shard)?;
        super::timer::start(&shard)?;
        super::transaction::start(&shard).await?;
    }
    if let Some(ha) = ha {
        glommio::spawn_local(replication::master::serve(
            server::into_listener(ha),
            shard.clone(),
        ))
        .detach();
    }
    let links = Rc::new(registration::namesrv_links());
    if i == 0 {
        let port = shard.cfg().metrics_port;
        if port > 0 {
            let listener = super::metrics_http::bind(port)?;
            glommio::spawn_local(super::metrics_http::serve(listener, shard.clone())).detach();
        }
    }
    let mut listeners: Vec<_> = sockets
        .into_iter()
        .map(|s| {
            let listener = server::into_listener(s);
            let handler = Rc::new(BrokerHandler(shard.clone()));
            glommio::spawn_local(server::serve(
                listener,
                handler,
                ConnectionLimits::default(),
            ))
            .detach()
        })
        .collect();
    if let Some(g) = grpc {
        let listener = server::into_listener(g);
        listeners.push(
            glommio::spawn_local(super::grpc::server::serve(listener, shard.clone())).detach(),
        );
        if shard.cfg().enable_proxy_auto_renew {
            listeners.push(glommio::spawn_local(super::grpc::renewal::run(shard.clone())).detach());
        }
    }
    if i == 0 {
        // Registered before the boot line, as RocketMQ's broker: a client that starts
        // when it sees "boot success" finds the routes (TBW102 included).
        registration::register_all(&shard, &links).await;
        glommio::spawn_local(registration::run(shard.clone(), links.clone())).detach();
    }
    let _ = ready.send(Ok(()));
    while !stop_requested() {
        glommio::timer::sleep(Duration::from_millis(STOP_POLL_MS)).await;
    }
    // Stop order: unregister (clients stop coming), let requests in flight finish while
    // every shard is still up, then persist offsets and close the stores.
    if i == 0 {
        registration::unregister_all(&shard, &links).await;
        UNREGISTERED.store(true, Ordering::SeqCst);
    }
    // Bounded: shard 0 may be gone, and then nobody sets the flag.
    let unregister_limit = Duration::from_millis(
        registration::NAMESRV_TIMEOUT_MS * 2 * (shard.ident.namesrv.len() as u64 + 1),
    );
    let waited = std::time::Instant::now();
    while !UNREGISTERED.load(Ordering::SeqCst) && waited.elapsed() < unregister_limit {
        glommio::timer::sleep(Duration::from_millis(STOP_POLL_MS)).await;
    }
    glommio::timer::sleep(Duration::from_millis(STOP_DRAIN_MS)).await;
    for l in listeners {
        l.cancel();
    }
    shard.closing.set(true);
    shard.persist_offsets().await;
    store.close().await.map_err(|e| e.to_string())
}
