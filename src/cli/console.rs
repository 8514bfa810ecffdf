//! `coremq console -n ADDRS [--port 8080] [--bind ADDR] [--read-only] [--user U --password P
//! | --users-file F]`: the web console.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::config::expand_home;
use crate::config::namesrv_addr;
use crate::console::{ConsoleOptions, Users, DEFAULT_PORT, DEFAULT_SAMPLE_INTERVAL_MS};
use crate::runtime::{run_unpinned, NETWORK_ONLY_IO_MEMORY_BYTES};

/// Where the console's password may also come from (kept out of `ps`).
pub const PASSWORD_ENV: &str = "COREMQ_CONSOLE_PASSWORD";

/// Options of `coremq console`.
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Nameserver list, `a:9876;b:9876` (else NAMESRV_ADDR).
    #[arg(short = 'n', long = "namesrvAddr", value_name = "ADDRS")]
    namesrv_addr: Option<String>,
    /// HTTP port.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Address to listen on (all interfaces by default, as rocketmq-console).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Hide and refuse every action: a console to look, not to touch.
    #[arg(long)]
    read_only: bool,
    /// Ask this user to log in (with --password or COREMQ_CONSOLE_PASSWORD).
    #[arg(long, conflicts_with = "users_file")]
    user: Option<String>,
    /// The password of --user.
    #[arg(long)]
    password: Option<String>,
    /// Users who may log in, `user=password` per line (rocketmq-console's users.properties).
    #[arg(long, value_name = "FILE")]
    users_file: Option<PathBuf>,
    /// Milliseconds between two samples of the charts.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_SAMPLE_INTERVAL_MS,
          value_parser = clap::value_parser!(u64).range(100..))]
    sample_interval_ms: u64,
    /// Directory of console.log.
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
    #[command(flatten)]
    credentials: super::credentials::CredentialArgs,
}

/// Runs the console until it is stopped.
pub fn run(args: ConsoleArgs) -> Result<(), String> {
    let namesrv = namesrv_addr::from_flag_or_env(args.namesrv_addr.as_deref())
        .map_err(|e| format!("console: {e}"))?;
    let password = args
        .password
        .clone()
        .or_else(|| std::env::var(PASSWORD_ENV).ok());
    let users = match (&args.user, &password, &args.users_file) {
        (Some(u), Some(p), None) if !u.is_empty() && !p.is_empty() => Users::single(u, p),
        (Some(_), _, None) => {
            return Err(format!(
                "console: --user needs a non-empty --password (or {PASSWORD_ENV})"
            ))
        }
        (None, _, Some(file)) => Users::from_file(file).map_err(|e| format!("console: {e}"))?,
        _ => Users::default(),
    };
    let credentials = args
        .credentials
        .resolve()
        .map_err(|e| format!("console: {e}"))?;
    let log_dir = args
        .log_dir
        .unwrap_or_else(|| expand_home("~/logs/coremqlogs"));
    let _guard = crate::logging::init(&log_dir, "console.log", "info", 7)?;
    let opts = ConsoleOptions {
        namesrv,
        bind: SocketAddr::new(args.bind, args.port),
        read_only: args.read_only,
        users,
        sample_interval: Duration::from_millis(args.sample_interval_ms),
        credentials,
    };
    run_unpinned("console", NETWORK_ONLY_IO_MEMORY_BYTES, move || {
        crate::console::run(opts)
    })
    .map_err(|e| format!("console: {e}"))?
}
