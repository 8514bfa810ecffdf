//! `coremq admin <command> [-n ADDRS] [--json]` (RocketMQ's mqadmin).

use clap::Args;

use crate::admin::{self, Command};
use crate::client::admin::AdminClient;
use crate::config::namesrv_addr;
use crate::runtime::{run_unpinned, NETWORK_ONLY_IO_MEMORY_BYTES};

/// Options of `coremq admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Nameserver list, `a:9876;b:9876` (else NAMESRV_ADDR).
    #[arg(short = 'n', long = "namesrvAddr", value_name = "ADDRS", global = true)]
    namesrv_addr: Option<String>,
    /// Print the result as JSON.
    #[arg(long = "json", global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// Runs one admin command; errors are one line naming the command.
pub fn run(args: AdminArgs) -> Result<(), String> {
    let name = args.command.name();
    let namesrv = namesrv_addr::from_flag_or_env(args.namesrv_addr.as_deref())
        .map_err(|e| format!("{name}: {e}"))?;
    let (command, json) = (args.command, args.json);
    let out = run_unpinned("admin", NETWORK_ONLY_IO_MEMORY_BYTES, move || async move {
        let client = AdminClient::new(namesrv).map_err(|e| e.to_string())?;
        admin::run(&client, command, json)
            .await
            .map_err(|e| e.to_string())
    })
    .map_err(|e| format!("{name}: {e}"))?
    .map_err(|e| format!("{name}: {e}"))?;
    crate::stdout::text(&out);
    Ok(())
}
