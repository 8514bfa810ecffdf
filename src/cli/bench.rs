//! `coremq bench store ...`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use crate::bench::store::{self, StoreBenchArgs};
use crate::store::FlushMode;

/// Benchmarks.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    which: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The shard store alone (no network), with the device's raw ceiling in the same run.
    Store(StoreArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Flush {
    /// ASYNC_FLUSH: acknowledged once buffered.
    Async,
    /// SYNC_FLUSH: acknowledged after an fdatasync covering it.
    Sync,
}

#[derive(Debug, Args)]
struct StoreArgs {
    /// Directory to put the temporary store in (removed afterwards).
    #[arg(long, default_value = ".", value_name = "DIR")]
    dir: PathBuf,
    /// Shards, one pinned core each.
    #[arg(long, default_value_t = 1)]
    shards: u32,
    /// Writer tasks per shard.
    #[arg(short = 'w', long, default_value_t = 64)]
    writers: u32,
    /// Message body size in bytes.
    #[arg(short = 's', long, default_value_t = 128)]
    size: usize,
    /// Queues per shard.
    #[arg(long, default_value_t = 8)]
    queues: u32,
    /// Flush mode.
    #[arg(long, value_enum, default_value_t = Flush::Async)]
    flush: Flush,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Unmeasured seconds before.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// glommio I/O memory per executor (io_uring registered; counts against memlock).
    #[arg(long, default_value_t = 1 << 20)]
    io_memory_bytes: usize,
    /// Skip measuring the device ceiling.
    #[arg(long)]
    no_device: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Runs a benchmark.
pub fn run(args: BenchArgs) -> Result<(), String> {
    match args.which {
        BenchCommand::Store(a) => {
            if a.shards == 0 || a.writers == 0 || a.duration == 0 {
                return Err("--shards, -w and --duration must be at least 1".into());
            }
            let report = store::run(&StoreBenchArgs {
                dir: a.dir,
                shards: a.shards,
                writers: a.writers,
                queues: a.queues,
                size: a.size,
                flush: match a.flush {
                    Flush::Async => FlushMode::Async,
                    Flush::Sync => FlushMode::Sync,
                },
                duration: Duration::from_secs(a.duration),
                warmup: Duration::from_secs(a.warmup),
                io_memory_bytes: a.io_memory_bytes,
                device: !a.no_device,
            })?;
            print!("{report}");
            if let Some(path) = a.json {
                let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
                std::fs::write(&path, text)
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
            }
            Ok(())
        }
    }
}
