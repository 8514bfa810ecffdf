//! The `coremq` binary.

use clap::Parser;

/// mimalloc instead of glibc's malloc: the broker allocates per request across cores, and
/// glibc's arena consolidation was a fifth of its CPU under load (bench/results).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = coremq::cli::Cli::parse();
    if let Err(e) = coremq::cli::run(cli) {
        eprintln!("coremq: {e}");
        std::process::exit(1);
    }
}
