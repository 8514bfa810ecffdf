//! `coremq standalone --with-slave`: a nameserver in this process and a master/slave pair
//! of one broker group as two child processes, so a newcomer can watch replication and kill the
//! master (its pid is printed) while consumers carry on from the slave.
//!
//! The pair is written out as two ordinary property files (the `-c` file, if any, then
//! the pair's own keys) and started as `coremq broker -c FILE`: what runs is exactly
//! what an operator would run, and either broker can be restarted by hand with the line
//! printed when it exits.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::config::broker::BrokerConfig;

/// Slave ports are the master's plus this (10921, its VIP 10919, its HA 10922).
pub const SLAVE_PORT_OFFSET: u16 = 10;
/// How long to wait for a child broker's exit after SIGTERM.
pub const CHILD_STOP_TIMEOUT_MS: u64 = 30_000;
/// How often the children are looked at.
const CHILD_POLL_MS: u64 = 200;

/// The two property files of the pair, under the master's store root.
fn write_pair(
    base: Option<&Path>,
    cfg: &BrokerConfig,
    ns_addr: &str,
) -> Result<(PathBuf, PathBuf), String> {
    let root = &cfg.store_path_root_dir;
    std::fs::create_dir_all(root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let head = match base {
        Some(p) => {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?
        }
        None => String::new(),
    };
    let role = if cfg.broker_role == crate::config::broker::BrokerRole::AsyncMaster
        && !head.contains("brokerRole")
    {
        "SYNC_MASTER".to_owned()
    } else {
        crate::config::ConfigValue::render(&cfg.broker_role)
    };
    let ip = if cfg.broker_ip1.is_empty() {
        "127.0.0.1"
    } else {
        &cfg.broker_ip1
    };
    let logs = &cfg.log_dir;
    let master = format!(
        "{head}\n# standalone --with-slave: the master\nbrokerIP1={ip}\nbrokerId=0\nbrokerRole={role}\nnamesrvAddr={ns_addr}\nstorePathRootDir={}\nlogDir={}\n",
        root.join("master").display(),
        logs.join("master").display()
    );
    let slave_metrics = if cfg.metrics_port == 0 {
        0
    } else {
        cfg.metrics_port.saturating_add(1)
    };
    let slave = format!(
        "{head}\n# standalone --with-slave: the slave\nbrokerIP1={ip}\nbrokerId=1\nbrokerRole=SLAVE\nnamesrvAddr={ns_addr}\nlistenPort={}\nhaListenPort=0\ngrpcServerPort=0\nmetricsPort={slave_metrics}\nstorePathRootDir={}\nlogDir={}\n",
        cfg.listen_port.saturating_add(SLAVE_PORT_OFFSET),
        root.join("slave").display(),
        logs.join("slave").display()
    );
    let (m, s) = (
        root.join("standalone-master.properties"),
        root.join("standalone-slave.properties"),
    );
    for (path, text) in [(&m, master), (&s, slave)] {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok((m, s))
}

/// One child broker.
struct Member {
    name: &'static str,
    conf: PathBuf,
    child: Option<Child>,
}

fn spawn(conf: &Path) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    Command::new(exe)
        .args(["broker", "-c"])
        .arg(conf)
        .env_remove("NAMESRV_ADDR")
        .spawn()
        .map_err(|e| format!("cannot start a broker: {e}"))
}

/// Starts the pair and watches it until SIGTERM/SIGINT, then stops both.
pub fn run_pair(base: Option<&Path>, cfg: &BrokerConfig, ns_addr: &str) -> Result<(), String> {
    let (m, s) = write_pair(base, cfg, ns_addr)?;
    let mut members = [
        Member {
            name: "master",
            conf: m,
            child: None,
        },
        Member {
            name: "slave",
            conf: s,
            child: None,
        },
    ];
    for mb in &mut members {
        let child = spawn(&mb.conf)?;
        let hint = if mb.name == "master" {
            format!(
                " (kill -9 {} and consumers read from the slave)",
                child.id()
            )
        } else {
            String::new()
        };
        crate::stdout::server_line(&format!(
            "standalone --with-slave: the {} of {} started, pid {}, config {}{hint}",
            mb.name,
            cfg.broker_name,
            child.id(),
            mb.conf.display()
        ));
        mb.child = Some(child);
    }
    crate::broker::server::install_signal_handlers();
    while !crate::broker::server::stop_requested() {
        for mb in &mut members {
            let Some(child) = mb.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                crate::stdout::server_line(&format!(
                    "standalone --with-slave: the {} exited ({status}); start it again with: coremq broker -c {}",
                    mb.name,
                    mb.conf.display()
                ));
                mb.child = None;
            }
        }
        std::thread::sleep(Duration::from_millis(CHILD_POLL_MS));
    }
    // The slave first: the master's last writes still reach it while it runs.
    for mb in members.iter_mut().rev() {
        if let Some(mut child) = mb.child.take() {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_millis(CHILD_STOP_TIMEOUT_MS);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.wait();
        }
    }
    Ok(())
}
