//! Index tests on real files: lookups from buffer and runs, the time filter, re-indexing
//! after an unclean stop, damaged runs refused and rebuilt, retention removing runs.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::KeyQuery;
use crate::store::tests::{message, run, small_config};
use crate::store::{DiskUsage, FlushMode, RetentionPolicy, ShardStore, StoreConfig};

/// A small buffer (100 entries) so a few hundred messages make several runs.
fn cfg(root: &Path) -> StoreConfig {
    let mut c = small_config(root, FlushMode::Async);
    c.message_index_buffer_entries = 100;
    c
}

fn q(topic: &str, key: &str) -> KeyQuery {
    KeyQuery {
        topic: topic.into(),
        key: key.into(),
        unique: false,
        max: 64,
        begin: 0,
        end: i64::MAX,
    }
}

/// Asserts that every key k0..k{n} of topic "I" finds exactly its one message.
async fn all_found(store: &ShardStore, n: u64) {
    for i in 0..n {
        let a = store.query_keys(&q("I", &format!("k{i}"))).await.unwrap();
        assert_eq!(a.found.len(), 1, "k{i}");
        let r = crate::store::record::Record::parse(&a.found[0].record).unwrap();
        assert!(r.body().starts_with(format!("m{i}:").as_bytes()));
    }
}

fn run_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(root.join("shard-0/index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn keys_found_in_buffer_and_runs_with_time_filter_and_unique_keys() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    run(move || async move {
        let store = ShardStore::open(cfg(&root)).await.unwrap();
        let before = crate::clock::now_ms() - 1;
        for i in 0..450u64 {
            let mut m = message("I", (i % 3) as i32, i, 100);
            m.properties.push_str(&format!("\u{2}UNIQ_KEY\u{1}U{i}"));
            store.append(&m).await.unwrap();
        }
        // Another topic with the same keys is not an answer.
        for i in 0..10u64 {
            store.append(&message("Other", 0, i, 100)).await.unwrap();
        }
        // Runs are written in the background: wait for them.
        for _ in 0..200 {
            if store.message_index_stats().unwrap().sealed == 0 {
                break;
            }
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
        let s = store.message_index_stats().unwrap();
        assert!(s.runs >= 8 && s.buffered > 0 && s.dropped == 0, "{s:?}");
        all_found(&store, 450).await;
        let mut uq = q("I", "U7");
        uq.unique = true;
        assert_eq!(store.query_keys(&uq).await.unwrap().found.len(), 1);
        assert!(
            store
                .query_keys(&q("I", "U7"))
                .await
                .unwrap()
                .found
                .is_empty(),
            "U7 is no KEYS item"
        );
        let mut early = q("I", "k5");
        early.end = before;
        assert!(store.query_keys(&early).await.unwrap().found.is_empty());
        assert!(store
            .query_keys(&q("I", "nope"))
            .await
            .unwrap()
            .found
            .is_empty());
        store.close().await.unwrap();
    });
}

#[test]
fn unclean_stop_reindexes_the_tail_and_a_damaged_run_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let r = root.clone();
    run(move || async move {
        let store = ShardStore::open(cfg(&r)).await.unwrap();
        for i in 0..350u64 {
            store.append(&message("I", 0, i, 100)).await.unwrap();
        }
        store.flush_now().await.unwrap();
        // No close: the buffer's entries exist only in memory.
    });
    let r = root.clone();
    run(move || async move {
        let store = ShardStore::open(cfg(&r)).await.unwrap();
        let rep = store.index_report().clone();
        assert!(
            rep.runs >= 2 && rep.reindexed > 0 && rep.refused.is_empty(),
            "{rep:?}"
        );
        all_found(&store, 350).await;
        store.close().await.unwrap();
    });
    // A clean close leaves nothing to re-index.
    let r = root.clone();
    run(move || async move {
        let store = ShardStore::open(cfg(&r)).await.unwrap();
        assert_eq!(
            store.index_report().reindexed,
            0,
            "{:?}",
            store.index_report()
        );
        store.close().await.unwrap();
    });
    // Flip a fence byte of the second run, cut the fourth short: both refused (and every
    // run after the first refusal), rebuilt from the log.
    let runs = run_files(&root);
    assert!(runs.len() >= 4, "{runs:?}");
    let mut b = std::fs::read(&runs[1]).unwrap();
    b[4096] ^= 0xFF;
    std::fs::write(&runs[1], b).unwrap();
    let len = std::fs::metadata(&runs[3]).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&runs[3])
        .unwrap()
        .set_len(len - 4096)
        .unwrap();
    let r = root.clone();
    run(move || async move {
        let store = ShardStore::open(cfg(&r)).await.unwrap();
        let rep = store.index_report().clone();
        assert_eq!(rep.runs, 1, "{rep:?}");
        assert!(rep.refused.len() >= 3 && rep.reindexed > 0, "{rep:?}");
        all_found(&store, 350).await;
        store.close().await.unwrap();
    });
}

#[test]
fn retention_removes_runs_with_their_segments() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let r = root.clone();
    run(move || async move {
        let store = ShardStore::open(cfg(&r)).await.unwrap();
        // ~1.3 MiB: five 256 KiB log segments, many runs.
        for i in 0..3000u64 {
            store.append(&message("I", 0, i, 300)).await.unwrap();
        }
        store.flush_now().await.unwrap();
        for _ in 0..300 {
            if store.message_index_stats().unwrap().sealed == 0 {
                break;
            }
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
        let runs_before = store.message_index_stats().unwrap().runs;
        // Retention stops at the checkpoint's segment: let the checkpoint reach the end.
        crate::store::tests::wait_for_checkpoint(&store).await;
        let policy = RetentionPolicy {
            delete_hours: vec![4],
            reserved: Duration::ZERO,
            disk_max_used_ratio: 75,
        };
        let roomy = DiskUsage {
            total: 1 << 40,
            used: 1 << 30,
        };
        let now = SystemTime::now() + Duration::from_secs(1);
        let out = store.apply_retention(&policy, now, 4, roomy).await.unwrap();
        assert!(out.segments_removed >= 3, "{out:?}");
        let s = store.message_index_stats().unwrap();
        assert!(s.runs < runs_before / 2, "{runs_before} -> {s:?}");
        assert_eq!(run_files(&r).len(), s.runs);
        // The oldest keys are gone with their records, the newest answer.
        assert!(store
            .query_keys(&q("I", "k0"))
            .await
            .unwrap()
            .found
            .is_empty());
        assert_eq!(
            store
                .query_keys(&q("I", "k2999"))
                .await
                .unwrap()
                .found
                .len(),
            1
        );
        store.close().await.unwrap();
    });
    let r = root.clone();
    run(move || async move {
        let store = ShardStore::open(cfg(&r)).await.unwrap();
        assert_eq!(
            store.index_report().reindexed,
            0,
            "{:?}",
            store.index_report()
        );
        assert!(store
            .query_keys(&q("I", "k0"))
            .await
            .unwrap()
            .found
            .is_empty());
        assert_eq!(
            store
                .query_keys(&q("I", "k2999"))
                .await
                .unwrap()
                .found
                .len(),
            1
        );
        store.close().await.unwrap();
    });
}

#[test]
fn disabled_index_writes_nothing_and_answers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    run(move || async move {
        let mut c = cfg(&root);
        c.message_index_enable = false;
        let store = ShardStore::open(c).await.unwrap();
        for i in 0..300u64 {
            store.append(&message("I", 0, i, 100)).await.unwrap();
        }
        assert!(store.message_index_stats().is_none());
        assert!(store
            .query_keys(&q("I", "k1"))
            .await
            .unwrap()
            .found
            .is_empty());
        store.close().await.unwrap();
        assert!(!root.join("shard-0/index").exists());
    });
}

/// Thousands of appends in flight at once on a fresh store all wait for the first log
/// segment, then land together: the index must hold them back rather than drop entries
/// (an integration test lost keys this way before appends re-checked the backlog).
#[test]
fn a_burst_of_concurrent_appends_drops_no_entry() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    run(move || async move {
        let store = std::rc::Rc::new(ShardStore::open(cfg(&root)).await.unwrap());
        let tasks: Vec<_> = (0..600u64)
            .map(|i| {
                let s = store.clone();
                glommio::spawn_local(async move {
                    s.append(&message("I", (i % 4) as i32, i, 100))
                        .await
                        .unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        assert_eq!(store.message_index_stats().unwrap().dropped, 0);
        // The burst went through the index backlog, and its waiters were not woken in vain.
        crate::store::tests::assert_waits_without_spinning(&store.stats());
        all_found(&store, 600).await;
        store.close().await.unwrap();
    });
}
