//! The operator's scripts: `os.sh --check` and `--dry-run` on this host, its refusals,
//! and shellcheck over every script in the repository (when shellcheck is installed;
//! `.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn os_sh(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("bash")
        .arg(repo().join("os.sh"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_prints_every_setting_and_fails_only_when_one_is_off() {
    let (code, out, err) = os_sh(&["--check"]);
    assert!(code == 0 || code == 1, "{code}: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("SETTING") && lines[0].contains("RECOMMENDED"));
    for key in [
        "vm.swappiness",
        "net.core.somaxconn",
        "limit nofile (hard)",
        "limit memlock (hard)",
    ] {
        assert!(lines.iter().any(|l| l.starts_with(key)), "{key}: {out}");
    }
    let any_off = lines.iter().any(|l| l.contains(" OFF "));
    assert_eq!(code == 1, any_off, "exit code follows the table: {out}");

    let (code, out, _) = os_sh(&["--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(
        any_off,
        out.lines().any(|l| l.starts_with("would ")),
        "dry-run proposes exactly the settings that are off: {out}"
    );
}

#[test]
fn bad_option_and_non_root_apply_are_refused() {
    let (code, _, err) = os_sh(&["--bogus"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown option: --bogus"), "{err}");
    // Apply as an unprivileged user (setpriv when the tests run as root).
    let is_root = unsafe { libc::geteuid() } == 0;
    let out = if is_root {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "bash"])
            .arg(repo().join("os.sh"))
            .output()
    } else {
        Command::new("bash").arg(repo().join("os.sh")).output()
    };
    let Ok(out) = out else {
        eprintln!("setpriv is not available: skipping the non-root apply check");
        return;
    };
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("applying needs root"));
}

fn scripts(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if !["target", ".git", "peer"].contains(&name.as_str()) {
                scripts(&p, out);
            }
        } else if name.ends_with(".sh") || p.ends_with(Path::new(".ci").join("run")) {
            out.push(p);
        }
    }
}

#[test]
fn shellcheck_is_clean() {
    if Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("COREMQ_REQUIRE_SHELLCHECK").is_none(),
            "shellcheck is required here (.ci/run installs it from Debian's packages)"
        );
        eprintln!("shellcheck is not installed: skipping (.ci/run installs it)");
        return;
    }
    let mut files = Vec::new();
    scripts(&repo(), &mut files);
    assert!(files.iter().any(|f| f.ends_with("os.sh")));
    let out = Command::new("shellcheck")
        .arg("-x")
        .args(&files)
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
