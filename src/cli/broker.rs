//! `coremq broker -c FILE -n ADDRS [-p | -m]` (RocketMQ's mqbroker) and
//! `coremq standalone` (nameserver and broker in one process, on defaults).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use crate::config::broker::BrokerConfig;
use crate::config::namesrv::NamesrvConfig;
use crate::config::{self, namesrv_addr};

/// Keys `-m` prints (the ones an operator checks first).
const IMPORTANT_KEYS: [&str; 12] = [
    "brokerClusterName",
    "brokerName",
    "brokerId",
    "brokerIP1",
    "namesrvAddr",
    "listenPort",
    "brokerRole",
    "flushDiskType",
    "storePathRootDir",
    "shardCount",
    "shardCpus",
    "autoCreateTopicEnable",
];

/// Options of `coremq broker` (mqbroker's).
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Broker property file (RocketMQ keys, e.g. conf/2m-noslave/broker-a.properties).
    #[arg(short = 'c', long = "configFile", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Nameserver list, `a:9876;b:9876` (else namesrvAddr, else NAMESRV_ADDR).
    #[arg(short = 'n', long = "namesrvAddr", value_name = "ADDRS")]
    namesrv_addr: Option<String>,
    /// Print every effective key=value and exit.
    #[arg(short = 'p', long = "printConfigItem")]
    print: bool,
    /// Print the important keys and exit.
    #[arg(short = 'm', long = "printImportantConfig")]
    important: bool,
}

/// Options of `coremq standalone`.
#[derive(Debug, Args)]
pub struct StandaloneArgs {
    /// Broker property file; without it every default applies (ports 9876/10911, ~/store).
    #[arg(short = 'c', long = "configFile", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Nameserver port.
    #[arg(long = "namesrv-port", default_value_t = 9876)]
    namesrv_port: u16,
    /// Run the broker group as a master (SYNC_MASTER unless the file says otherwise) and a slave
    /// (listenPort + 10), each its own process, to watch replication and kill the master.
    #[arg(long = "with-slave")]
    with_slave: bool,
}

/// Loads the broker config: file, then `-n`, then NAMESRV_ADDR when still empty.
fn load(
    file: Option<&std::path::Path>,
    namesrv: Option<&str>,
) -> Result<(BrokerConfig, Vec<String>), String> {
    let (mut cfg, warnings) = config::load::<BrokerConfig>(file).map_err(|e| e.to_string())?;
    if let Some(list) = namesrv {
        config::set_from_cli(&mut cfg, "namesrvAddr", list).map_err(|e| e.to_string())?;
    }
    if cfg.namesrv_addr.is_empty() {
        if let Ok(env) = std::env::var("NAMESRV_ADDR") {
            cfg.namesrv_addr = env;
        }
    }
    cfg.validate().map_err(|e| e.to_string())?;
    Ok((cfg, warnings))
}

fn namesrv_list(cfg: &BrokerConfig) -> Result<Vec<SocketAddr>, String> {
    if cfg.namesrv_addr.trim().is_empty() {
        return Ok(Vec::new());
    }
    namesrv_addr::parse(&cfg.namesrv_addr).map_err(|e| e.to_string())
}

/// Runs `coremq broker`.
pub fn run(args: BrokerArgs) -> Result<(), String> {
    let (cfg, warnings) = load(args.config_file.as_deref(), args.namesrv_addr.as_deref())?;
    let namesrv = namesrv_list(&cfg)?;
    if args.print || args.important {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        let entries: Vec<_> = cfg
            .entries()
            .into_iter()
            .filter(|(k, _)| args.print || IMPORTANT_KEYS.contains(k))
            .collect();
        crate::stdout::text(&config::render(&entries));
        return Ok(());
    }
    let _guard = start_logging(&cfg, warnings)?;
    if namesrv.is_empty() {
        tracing::warn!("no nameserver configured (-n, namesrvAddr or NAMESRV_ADDR): clients cannot find this broker");
    }
    crate::broker::server::install_signal_handlers();
    crate::broker::server::run(cfg, namesrv, args.config_file.clone())
}

/// Starts broker.log and reports the config warnings there.
fn start_logging(
    cfg: &BrokerConfig,
    warnings: Vec<String>,
) -> Result<crate::logging::LogGuard, String> {
    let guard = crate::logging::init(
        &cfg.log_dir,
        "broker.log",
        &cfg.log_level,
        cfg.log_retention_days,
    )?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok(guard)
}

/// How long standalone waits for its nameserver to listen.
const NAMESRV_START_TIMEOUT_MS: u64 = 10_000;

/// Runs `coremq standalone`.
pub fn run_standalone(args: StandaloneArgs) -> Result<(), String> {
    let ns_addr = format!("127.0.0.1:{}", args.namesrv_port);
    let (mut cfg, warnings) = load(args.config_file.as_deref(), Some(&ns_addr))?;
    if cfg.broker_ip1.is_empty() {
        // The embedded try-it setup: clients on this host, addresses that always work.
        cfg.broker_ip1 = "127.0.0.1".into();
    }
    let namesrv = namesrv_list(&cfg)?;
    let _guard = start_logging(&cfg, warnings)?;
    let ns_cfg = NamesrvConfig {
        listen_port: args.namesrv_port,
        log_dir: cfg.log_dir.clone(),
        ..NamesrvConfig::default()
    };
    let ns = std::thread::Builder::new()
        .name("namesrv".into())
        .spawn(move || crate::namesrv::run(ns_cfg).map_err(|e| e.to_string()))
        .map_err(|e| format!("cannot start the nameserver thread: {e}"))?;
    let deadline = Instant::now() + Duration::from_millis(NAMESRV_START_TIMEOUT_MS);
    loop {
        if ns.is_finished() {
            return Err(ns
                .join()
                .map_err(|_| "nameserver thread panicked".to_string())?
                .err()
                .unwrap_or_else(|| "nameserver stopped".into()));
        }
        if std::net::TcpStream::connect(&ns_addr).is_ok() {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("nameserver did not start listening on {ns_addr}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if args.with_slave {
        return super::with_slave::run_pair(args.config_file.as_deref(), &cfg, &ns_addr);
    }
    crate::broker::server::install_signal_handlers();
    crate::broker::server::run(cfg, namesrv, args.config_file.clone())
}
