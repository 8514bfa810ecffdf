//! `coremq namesrv [-c FILE] [-p] [-n ADDRS]`.

use std::path::PathBuf;

use clap::Args;

use crate::config::{self, namesrv::NamesrvConfig, namesrv_addr};

/// Options of `coremq namesrv` (mqnamesrv's).
#[derive(Debug, Args)]
pub struct NamesrvArgs {
    /// Property file with namesrv keys (listenPort, kvConfigPath, ...).
    #[arg(short = 'c', long = "configFile", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Print every effective key=value and exit.
    #[arg(short = 'p', long = "printConfigItem")]
    print: bool,
    /// Name server address list; accepted for mqnamesrv compatibility, validated, unused.
    #[arg(short = 'n', long = "namesrvAddr", value_name = "ADDRS")]
    namesrv_addr: Option<String>,
}

/// Loads the config and runs (or prints) it.
pub fn run(args: NamesrvArgs) -> Result<(), String> {
    let (config, warnings) =
        config::load::<NamesrvConfig>(args.config_file.as_deref()).map_err(|e| e.to_string())?;
    if let Some(list) = &args.namesrv_addr {
        namesrv_addr::parse(list).map_err(|e| e.to_string())?;
    }
    if args.print {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        crate::stdout::text(&config::render(&config.entries()));
        return Ok(());
    }
    let _guard = crate::logging::init(
        &config.log_dir,
        "namesrv.log",
        &config.log_level,
        config.log_retention_days,
    )?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    crate::namesrv::run(config).map_err(|e| e.to_string())
}
