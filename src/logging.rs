//! Logging: `tracing` to a role's file under the log directory (RocketMQ's ~/logs layout,
//! `coremqlogs/` instead of `rocketmqlogs/`) and to stderr.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

/// Keeps the file writer alive; logs are flushed when it drops.
pub struct LogGuard(#[allow(dead_code)] WorkerGuard);

/// Starts logging to `dir/file_name` and stderr at `level` (RUST_LOG wins when set).
pub fn init(dir: &Path, file_name: &str, level: &str) -> Result<LogGuard, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create log directory {}: {e}", dir.display()))?;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .map_err(|e| format!("bad log level {level:?}: {e}"))?;
    let (file, guard) =
        tracing_appender::non_blocking(tracing_appender::rolling::never(dir, file_name));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_ansi(false).with_writer(file))
        .with(fmt::layer().with_writer(std::io::stderr))
        .try_init()
        .map_err(|e| format!("logging already initialised: {e}"))?;
    Ok(LogGuard(guard))
}
