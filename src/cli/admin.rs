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
    #[command(flatten)]
    credentials: super::credentials::CredentialArgs,
    #[command(subcommand)]
    command: Command,
}

/// Runs one admin command; errors are one line naming the command.
pub fn run(args: AdminArgs) -> Result<(), String> {
    let name = args.command.name();
    let namesrv = namesrv_addr::from_flag_or_env(args.namesrv_addr.as_deref())
        .map_err(|e| format!("{name}: {e}"))?;
    let credentials = args
        .credentials
        .resolve()
        .map_err(|e| format!("{name}: {e}"))?;
    let (command, json) = (args.command, args.json);
    let out = run_unpinned("admin", NETWORK_ONLY_IO_MEMORY_BYTES, move || async move {
        let client = AdminClient::new(namesrv)
            .map_err(|e| e.to_string())?
            .with_credentials(credentials);
        admin::run(&client, command, json)
            .await
            .map_err(|e| e.to_string())
    })
    .map_err(|e| format!("{name}: {e}"))?
    .map_err(|e| format!("{name}: {e}"))?;
    crate::stdout::text(&out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    /// updateAclConfig's -a/-s name the account it writes; --access-key/--secret-key the
    /// keys the command signs with: neither may leak into the other.
    #[test]
    fn signing_keys_are_not_the_account_keys() {
        let cli = crate::cli::Cli::try_parse_from([
            "coremq",
            "admin",
            "updateAclConfig",
            "-b",
            "127.0.0.1:10911",
            "-a",
            "new-user",
            "-s",
            "new-secret",
            "--access-key",
            "admin-user",
            "--secret-key",
            "admin-secret",
        ])
        .unwrap();
        let crate::cli::Command::Admin(args) = cli.command else {
            panic!("not admin")
        };
        let signing = args.credentials.resolve().unwrap().unwrap();
        assert_eq!(signing.access_key, "admin-user");
        assert_eq!(signing.secret_key, "admin-secret");
        let crate::admin::Command::UpdateAclConfig {
            access_key,
            secret_key,
            ..
        } = args.command
        else {
            panic!("not updateAclConfig")
        };
        assert_eq!(
            (access_key.as_str(), secret_key.as_str()),
            ("new-user", "new-secret")
        );
    }
}
