//! The `coremq` command line: one binary, one subcommand per role.

mod admin;
mod bench;
mod broker;
mod console;
mod consume;
pub mod credentials;
mod namesrv;
mod produce;
mod with_slave;

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
    /// Administer a cluster (RocketMQ's mqadmin): clusterList, topicStatus, updateTopic, ...
    Admin(admin::AdminArgs),
    /// Run a broker (RocketMQ's mqbroker).
    Broker(broker::BrokerArgs),
    /// Receive messages and print each one (RocketMQ's quickstart Consumer).
    Consume(consume::ConsumeArgs),
    /// Send messages and print each SendResult (RocketMQ's quickstart Producer).
    Produce(produce::ProduceArgs),
    /// Run a nameserver and a broker in one process, on defaults: the way to try coremq.
    Standalone(broker::StandaloneArgs),
    /// Run the web console (rocketmq-console's pages) against the clusters of `-n`.
    Console(console::ConsoleArgs),
    /// Run a benchmark (store: the storage engine alone, against the device's ceiling).
    Bench(bench::BenchArgs),
}

/// Runs the parsed command; the error is printed as one line by `main`.
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Namesrv(args) => namesrv::run(args),
        Command::Admin(args) => admin::run(args),
        Command::Produce(args) => produce::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Broker(args) => broker::run(args),
        Command::Standalone(args) => broker::run_standalone(args),
        Command::Bench(args) => bench::run(args),
        Command::Console(args) => console::run(args),
    }
}
