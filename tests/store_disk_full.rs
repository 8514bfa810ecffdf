//! Disk full on a real small filesystem: appends fail with a typed "no space" error, all
//! acknowledged records stay readable, and appends resume once space is freed.
//!
//! Needs root to loop-mount an ext4 image; without it (or without mkfs.ext4/mount) the
//! test says why on stdout and checks nothing.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use coremq::runtime::run_unpinned;
use coremq::store::record::{NewMessage, Record};
use coremq::store::{FlushMode, ShardStore, StoreConfig, StoreError};

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn run_cmd(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn mount_small_fs(dir: &Path) -> Result<Mount, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not running as root".into());
    }
    let image = dir.join("fs.img");
    std::fs::File::create(&image)
        .and_then(|f| f.set_len(32 << 20))
        .map_err(|e| e.to_string())?;
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).map_err(|e| e.to_string())?;
    // -m 0: no blocks reserved for root, so root sees the disk fill up too.
    run_cmd(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(&image),
    )?;
    run_cmd(
        Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&mnt),
    )?;
    Ok(Mount(mnt))
}

fn message(i: u64) -> NewMessage {
    let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let mut body = format!("m{i}:").into_bytes();
    body.resize(1000, b'd');
    NewMessage::new("Full", 0, body, host)
}

fn fill_leaving(dir: &Path, leave_bytes: u64) -> PathBuf {
    let usage = coremq::store::DiskUsage::of(dir).unwrap();
    let free = usage.total - usage.used;
    let ballast = dir.join("ballast");
    let f = std::fs::File::create(&ballast).unwrap();
    let len = free.saturating_sub(leave_bytes) as libc::off_t;
    use std::os::fd::AsRawFd;
    // SAFETY: fallocate on a file we own; failure is checked.
    let rc = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, len) };
    assert_eq!(
        rc,
        0,
        "fallocate ballast: {}",
        std::io::Error::last_os_error()
    );
    ballast
}

#[test]
fn disk_full_fails_appends_cleanly_and_they_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let mount = match mount_small_fs(tmp.path()) {
        Ok(m) => m,
        Err(why) => {
            println!("disk-full test NOT RUN: cannot mount a small filesystem: {why}");
            return;
        }
    };
    let root = mount.0.join("store");
    std::fs::create_dir_all(&root).unwrap();
    let ballast = fill_leaving(&mount.0, 3 << 20);
    run_unpinned("disk-full", 1 << 20, move || async move {
        let mut cfg = StoreConfig::new(root.clone(), 0);
        cfg.commitlog_segment_bytes = 1 << 20;
        cfg.consume_index_segment_bytes = 20_480;
        cfg.flush_mode = FlushMode::Sync;
        cfg.checkpoint_interval = Duration::from_millis(50);
        cfg.write_chunk_bytes = 128 << 10;
        cfg.index_chunk_bytes = 8 << 10;
        cfg.retention = None;
        let store = ShardStore::open(cfg).await.unwrap();
        let mut acked = 0u64;
        let err = loop {
            match store.append(&message(acked)).await {
                Ok(a) => {
                    assert_eq!(a.queue_offset, acked);
                    acked += 1;
                }
                Err(e) => break e,
            }
            assert!(acked < 100_000, "the disk never filled");
        };
        match &err {
            StoreError::NotWritable(f) => assert!(f.is_no_space(), "{err}"),
            other => panic!("expected a no-space error, got {other}"),
        }
        assert!(acked > 100, "only {acked} appends before the disk filled");
        // A second attempt fails the same way; nothing stored is lost.
        assert!(store.append(&message(acked)).await.is_err());
        check_readable(&store, acked).await;
        // Space returns: appends resume where they stopped.
        std::fs::remove_file(&ballast).unwrap();
        for i in acked..acked + 200 {
            let a = store.append(&message(i)).await.unwrap();
            assert_eq!(a.queue_offset, i);
        }
        check_readable(&store, acked + 200).await;
        store.close().await.unwrap();
        println!("disk-full test: {acked} appends before ENOSPC, resumed after freeing space");
    })
    .unwrap();
}

async fn check_readable(store: &ShardStore, n: u64) {
    for (at, rec) in common::read_records(store, "Full", 0, n)
        .await
        .iter()
        .enumerate()
    {
        assert!(Record::parse(rec)
            .unwrap()
            .body()
            .starts_with(format!("m{at}:").as_bytes()));
    }
}
