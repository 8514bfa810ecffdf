//! What a test shows when a process it started never printed its start line: whether the
//! process exited (a port taken, a bad config) or hung, its stderr, and the tail of each of
//! its log files (stderr is often empty; the log says where it stopped). Shared by
//! tests/common and tests/compat (included by path).

use std::path::Path;
use std::process::Child;

/// Lines of each log file a failed start shows.
const LOG_TAIL_LINES: usize = 30;

/// "still running" or "exited: STATUS", then [`what_it_said`]; kills the child.
pub fn report(child: &mut Child, home: &Path) -> String {
    let status = child.try_wait().ok().flatten();
    let _ = child.kill();
    format!(
        "{}; {}",
        status.map_or("still running".to_string(), |s| format!("exited: {s}")),
        what_it_said(home)
    )
}

/// The stderr (`home/stderr.log`) and the last lines of every log file under `home`
/// (logs/, logs/*/).
pub fn what_it_said(home: &Path) -> String {
    let mut out = format!(
        "its stderr:\n{}",
        std::fs::read_to_string(home.join("stderr.log")).unwrap_or_default()
    );
    let logs = home.join("logs");
    let dirs = std::iter::once(logs.clone()).chain(
        std::fs::read_dir(&logs)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir()),
    );
    for dir in dirs {
        for file in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(LOG_TAIL_LINES).collect();
                out += &format!("\n{}, newest first:\n{}", path.display(), tail.join("\n"));
            }
        }
    }
    out
}
