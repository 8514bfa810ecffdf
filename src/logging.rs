//! Logging: `tracing` to a role's file under the log directory (RocketMQ's ~/logs layout,
//! `coremqlogs/` instead of `rocketmqlogs/`), and to stderr when stderr is a terminal.
//!
//! The live file keeps its plain name (`broker.log`, what operators `tail -f`); at the
//! first line of a new local day it is renamed `broker.log.YYYY-MM-DD` and a fresh one is
//! started, and only the newest `logRetentionDays` rolled files are kept. Writes happen on
//! tracing-appender's worker thread, never on a shard.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Rolled daily files kept by default (`logRetentionDays`).
pub const DEFAULT_LOG_RETENTION_DAYS: u32 = 7;

/// Keeps the file writer alive; logs are flushed when it drops.
pub struct LogGuard(#[allow(dead_code)] WorkerGuard);

/// Starts logging to `dir/file_name` (rolled daily, `keep_days` kept) at `level`
/// (RUST_LOG wins when set), and to stderr when it is a terminal.
pub fn init(dir: &Path, file_name: &str, level: &str, keep_days: u32) -> Result<LogGuard, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create log directory {}: {e}", dir.display()))?;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .map_err(|e| format!("bad log level {level:?}: {e}"))?;
    let daily = DailyFile::open(dir, file_name, keep_days)
        .map_err(|e| format!("cannot open {}: {e}", dir.join(file_name).display()))?;
    let (file, guard) = tracing_appender::non_blocking(daily);
    let tty = std::io::stderr().is_terminal();
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_ansi(false).with_writer(file))
        .with(tty.then(|| fmt::layer().with_writer(std::io::stderr).boxed()))
        .try_init()
        .map_err(|e| format!("logging already initialised: {e}"))?;
    Ok(LogGuard(guard))
}

/// Today's local date, `YYYY-MM-DD`.
fn local_day(ms: i64) -> String {
    crate::admin::table::local_time(ms, false)
        .chars()
        .take(10)
        .collect()
}

/// A log file rolled at local midnight.
pub struct DailyFile {
    dir: PathBuf,
    name: String,
    keep: u32,
    day: String,
    file: File,
}

impl DailyFile {
    /// Opens (appends to) `dir/name`, first rolling it if it was last written on an
    /// earlier day.
    pub fn open(dir: &Path, name: &str, keep: u32) -> std::io::Result<Self> {
        let path = dir.join(name);
        let today = local_day(crate::clock::now_ms());
        if let Ok(modified) = std::fs::metadata(&path).and_then(|m| m.modified()) {
            let ms = modified
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let day = local_day(ms);
            if day != today {
                roll(dir, name, &day, keep)?;
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(DailyFile {
            dir: dir.to_owned(),
            name: name.to_owned(),
            keep,
            day: today,
            file,
        })
    }

    fn roll_if_new_day(&mut self) -> std::io::Result<()> {
        let today = local_day(crate::clock::now_ms());
        if today == self.day {
            return Ok(());
        }
        self.file.flush()?;
        roll(&self.dir, &self.name, &self.day, self.keep)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(&self.name))?;
        self.day = today;
        Ok(())
    }
}

impl Write for DailyFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A failed roll must not lose the line: keep writing to the current file.
        let _ = self.roll_if_new_day();
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Renames `dir/name` to `dir/name.DAY` and deletes rolled files beyond the newest `keep`.
fn roll(dir: &Path, name: &str, day: &str, keep: u32) -> std::io::Result<()> {
    let live = dir.join(name);
    if live.exists() {
        let mut target = dir.join(format!("{name}.{day}"));
        let mut n = 1;
        while target.exists() {
            target = dir.join(format!("{name}.{day}.{n}"));
            n += 1;
        }
        std::fs::rename(&live, &target)?;
    }
    let prefix = format!("{name}.");
    let mut rolled: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| {
            f.strip_prefix(&prefix)
                .is_some_and(|rest| rest.len() >= 10 && rest.as_bytes()[4] == b'-')
        })
        .collect();
    // Dated names sort by date.
    rolled.sort();
    let excess = rolled.len().saturating_sub(keep as usize);
    for old in &rolled[..excess] {
        std::fs::remove_file(dir.join(old))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_renames_by_day_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for day in ["2026-01-01", "2026-01-02", "2026-01-03"] {
            std::fs::write(dir.path().join("broker.log"), day).unwrap();
            roll(dir.path(), "broker.log", day, 2).unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["broker.log.2026-01-02", "broker.log.2026-01-03"]);
        let text = std::fs::read_to_string(dir.path().join("broker.log.2026-01-03")).unwrap();
        assert_eq!(text, "2026-01-03");

        // A file left from an earlier day is rolled when opened, then written afresh.
        std::fs::write(dir.path().join("namesrv.log"), "old\n").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 86_400);
        File::options()
            .append(true)
            .open(dir.path().join("namesrv.log"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let mut f = DailyFile::open(dir.path(), "namesrv.log", 2).unwrap();
        f.write_all(b"new\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("namesrv.log")).unwrap(),
            "new\n"
        );
        let rolled = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                let n = e.as_ref().unwrap().file_name().into_string().unwrap();
                n.starts_with("namesrv.log.")
            })
            .count();
        assert_eq!(rolled, 1);
    }
}
