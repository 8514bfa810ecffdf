//! Disk full on a real small filesystem: appends fail with a typed "no space" error, all
//! acknowledged records stay readable, and appends resume once space is freed.
//!
//! Needs root to loop-mount an ext4 image; without it (or without mkfs.ext4/mount) the
//! test says why on stdout and checks nothing (fails with COREMQ_REQUIRE_LOOP=1).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::loopfs::LoopFs;
use coremq::runtime::run_unpinned;
use coremq::store::record::{NewMessage, Record};
use coremq::store::{FlushMode, ShardStore, StoreConfig, StoreError};

fn message(i: u64) -> NewMessage {
    let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let mut body = format!("m{i}:").into_bytes();
    body.resize(1000, b'd');
    NewMessage::new("Full", 0, body, host)
}

/// A 64 KiB message: appenders of these need a new segment every 128 appends.
fn big_message(i: u64) -> NewMessage {
    let mut m = message(i);
    let mut body = m.body.to_vec();
    body.resize(64 << 10, b'd');
    m.body = body.into();
    m
}

/// A store under `root` sized for a small filesystem: log segments of `segment_bytes`,
/// small index segments and writes, no retention (it would free space behind the test).
fn small_store(root: &std::path::Path, segment_bytes: u64, mode: FlushMode) -> StoreConfig {
    let mut cfg = StoreConfig::new(root.to_owned(), 0);
    cfg.commitlog_segment_bytes = segment_bytes;
    cfg.consume_index_segment_bytes = 20_480;
    cfg.flush_mode = mode;
    cfg.write_chunk_bytes = 128 << 10;
    cfg.index_chunk_bytes = 8 << 10;
    cfg.retention = None;
    cfg
}

#[test]
fn disk_full_fails_appends_cleanly_and_they_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = match LoopFs::mount(&tmp.path().join("mnt"), 32 << 20) {
        Ok(fs) => fs,
        Err(why) => {
            let why = format!("cannot mount a small filesystem: {why}");
            return common::loopfs::skip_or_fail("disk-full test", &why);
        }
    };
    let root = fs.mnt.join("store");
    std::fs::create_dir_all(&root).unwrap();
    let ballast = fs.fill_leaving(3 << 20);
    run_unpinned("disk-full", 1 << 20, move || async move {
        let mut cfg = small_store(&root, 1 << 20, FlushMode::Sync);
        cfg.checkpoint_interval = Duration::from_millis(50);
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

/// Appenders that run into a full disk together all need the same new log segment: one
/// creates it at a time. Racing creators once removed each other's file under glommio's
/// open (a panic in glommio, seen as "a routed request panicked" on a broker), and could
/// install a file another creator had unlinked.
#[test]
fn concurrent_appends_into_a_full_disk_fail_cleanly_and_lose_nothing() {
    // The race needs the right interleaving: before the fix a single round failed in 1 of
    // 3 runs, these 8 rounds in 3 of 3 (twice an appender's typed error, once the panic).
    for _ in 0..RACE_ROUNDS {
        if !race_round() {
            return;
        }
    }
}

/// Rounds of [`race_round`], each on a fresh filesystem.
const RACE_ROUNDS: usize = 8;

/// One round of 32 appenders of 64 KiB messages into a filesystem with room for about two
/// 8 MiB log segments; false when no filesystem could be mounted (the test is skipped).
fn race_round() -> bool {
    const APPENDERS: u64 = 32;
    let tmp = tempfile::tempdir().unwrap();
    let fs = match LoopFs::mount(&tmp.path().join("mnt"), 32 << 20) {
        Ok(fs) => fs,
        Err(why) => {
            let why = format!("cannot mount a small filesystem: {why}");
            common::loopfs::skip_or_fail("concurrent disk-full test", &why);
            return false;
        }
    };
    let root = fs.mnt.join("store");
    std::fs::create_dir_all(&root).unwrap();
    let _ballast = fs.fill_leaving(20 << 20);
    run_unpinned("disk-full-race", 1 << 20, move || async move {
        let cfg = small_store(&root, 8 << 20, FlushMode::Async);
        let store = std::rc::Rc::new(ShardStore::open(cfg.clone()).await.unwrap());
        let tasks: Vec<_> = (0..APPENDERS)
            .map(|t| {
                let store = store.clone();
                glommio::spawn_local(async move {
                    let mut acked = Vec::new();
                    for n in 0..100_000u64 {
                        let i = n * APPENDERS + t;
                        match store.append(&big_message(i)).await {
                            Ok(a) => acked.push((a.queue_offset, i)),
                            Err(StoreError::NotWritable(f)) if f.is_no_space() => return acked,
                            Err(e) => panic!("appender {t}: {e}"),
                        }
                    }
                    panic!("appender {t}: the disk never filled");
                })
            })
            .collect();
        let mut acked = Vec::new();
        for t in tasks {
            acked.extend(t.await);
        }
        assert!(
            acked.len() > 100,
            "only {} appends before ENOSPC",
            acked.len()
        );
        let _ = store.close().await;
        drop(store);
        // Every acknowledged record is in the store after a reopen (none went to a file
        // that a failed creator unlinked).
        let store = ShardStore::open(cfg).await.unwrap();
        let n = acked.iter().map(|(qo, _)| qo + 1).max().unwrap_or(0);
        let records = common::read_records(&store, "Full", 0, n).await;
        for (qo, i) in &acked {
            let rec = Record::parse(&records[*qo as usize]).unwrap();
            assert!(
                rec.body().starts_with(format!("m{i}:").as_bytes()),
                "queue offset {qo}: expected message {i}"
            );
        }
        store.close().await.unwrap();
    })
    .unwrap();
    true
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
