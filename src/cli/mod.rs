//! The `coremq` command line: one binary, one subcommand per role.

mod bench;
mod namesrv;

use clap::{Parser, Subcommand};

/// coremq: a thread-per-core message broker that speaks Apache RocketMQ 4.x's protocol.
#[derive(Debug, Parser)]
#[command(name = "coremq", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a nameserver, the route registry (RocketMQ's mqnamesrv).
    Namesrv(namesrv::NamesrvArgs),
    /// Run a benchmark (store: the storage engine alone, against the device's ceiling).
    Bench(bench::BenchArgs),
}

/// Runs the parsed command; the error is printed as one line by `main`.
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Namesrv(args) => namesrv::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
