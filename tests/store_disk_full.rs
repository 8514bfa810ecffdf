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
