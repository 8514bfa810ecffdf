//! The `coremq` binary.

use clap::Parser;

fn main() {
    let cli = coremq::cli::Cli::parse();
    if let Err(e) = coremq::cli::run(cli) {
        eprintln!("coremq: {e}");
        std::process::exit(1);
    }
}
