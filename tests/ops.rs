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

/// Every tuning profile, appended to each conf/ set's broker file as tuning/README.md
/// says, is accepted by the broker without an unknown-key warning, and the keys it sets
/// are the effective values `-p` prints.
#[test]
fn tuning_profiles_use_real_keys() {
    let coremq = PathBuf::from(env!("CARGO_BIN_EXE_coremq"));
    let dir = tempfile::tempdir().unwrap();
    let mut profiles: Vec<PathBuf> = std::fs::read_dir(repo().join("tuning/profiles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    profiles.sort();
    assert!(profiles.len() >= 4, "{profiles:?}");
    for profile in &profiles {
        let base =
            std::fs::read_to_string(repo().join("conf/2m-noslave/broker-a.properties")).unwrap();
        let extra = std::fs::read_to_string(profile).unwrap();
        let conf = dir.path().join("broker-a.properties");
        std::fs::write(&conf, format!("{base}\n{extra}")).unwrap();
        let out = Command::new(&coremq)
            .args(["broker", "-p", "-c"])
            .arg(&conf)
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{profile:?}: {stderr}");
        assert!(!stderr.contains("unknown key"), "{profile:?}: {stderr}");
        for line in extra.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            assert!(
                stdout.lines().any(|l| l == line),
                "{profile:?}: {line} is not in the effective config:\n{stdout}"
            );
        }
    }
}

/// The systemd units carry what tuning/README.md promises and start real subcommands.
#[test]
fn systemd_units_set_limits_and_run_real_commands() {
    let units = repo().join("tuning/systemd");
    for (unit, subcommand) in [
        ("coremq-namesrv.service", "namesrv"),
        ("coremq-broker@.service", "broker"),
    ] {
        let text = std::fs::read_to_string(units.join(unit)).unwrap();
        for want in [
            "LimitMEMLOCK=infinity",
            "LimitNOFILE=655350",
            "Restart=on-failure",
        ] {
            assert!(text.lines().any(|l| l == want), "{unit}: no {want}");
        }
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart=/usr/local/bin/coremq "))
            .unwrap_or_else(|| panic!("{unit}: no ExecStart of /usr/local/bin/coremq"));
        assert!(
            exec.starts_with(&format!("{subcommand} -c ")),
            "{unit}: {exec}"
        );
    }
    let os = std::fs::read_to_string(units.join("coremq-os.service")).unwrap();
    assert!(
        os.contains("ExecStart=/usr/local/sbin/coremq-os.sh"),
        "{os}"
    );
    let broker = std::fs::read_to_string(units.join("coremq-broker@.service")).unwrap();
    assert!(broker.contains("After=network-online.target coremq-os.service"));
}
