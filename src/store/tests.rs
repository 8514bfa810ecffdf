//! Shard-store tests on real files with direct I/O: round trips across segments, read
//! statuses, tag filtering, group commit, reopen after clean and unclean stops.

use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::runtime::run_unpinned;

pub(crate) fn small_config(root: &Path, mode: FlushMode) -> StoreConfig {
    let mut cfg = StoreConfig::new(root.to_owned(), 0);
    cfg.commitlog_segment_bytes = 256 * 1024;
    cfg.consume_index_segment_bytes = 20_480; // 1024 entries per index segment
    cfg.flush_mode = mode;
    cfg.flush_interval = Duration::from_millis(20);
    cfg.checkpoint_interval = Duration::from_millis(50);
    cfg.write_chunk_bytes = 64 * 1024;
    cfg.index_chunk_bytes = 8 * 1024;
    cfg
}

pub(crate) fn message(topic: &str, queue_id: i32, i: u64, body_len: usize) -> NewMessage {
    let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let tag = if i % 3 == 0 { "TagA" } else { "TagB" };
    let mut body = format!("m{i}:").into_bytes();
    body.resize(body_len.max(body.len()), b'x');
    NewMessage {
        topic: topic.into(),
        queue_id,
        flag: 0,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000 + i as i64,
        born_host: "10.1.2.3:5555".parse().unwrap(),
        store_host: host,
        reconsume_times: 0,
        prepared_tx_offset: 0,
        body: body.into(),
        properties: format!("TAGS\u{1}{tag}\u{2}KEYS\u{1}k{i}"),
    }
}

pub(crate) fn run<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    run_unpinned("store-test", 1 << 20, f).unwrap();
}

/// `writers` tasks each append `each` messages of `body_len` bytes to `topic` (queues 0-3),
/// all at once; returns when every append is acknowledged.
async fn append_concurrently(
    store: &Rc<ShardStore>,
    topic: &'static str,
    writers: u64,
    each: u64,
    body_len: usize,
) {
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let s = store.clone();
            glommio::spawn_local(async move {
                for i in 0..each {
                    s.append(&message(topic, (w % 4) as i32, w * 1000 + i, body_len))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
}

/// Some appends waited for room, and each was polled a bounded number of times: when it
/// queued, when its turn came, and when a write round ended while it was first. Wake-ups
/// that change nothing (a busy loop) would add many more.
pub(crate) fn assert_waits_without_spinning(st: &StoreStats) {
    assert!(
        st.append_waits > 0,
        "no append waited: no limit was reached"
    );
    let bound = 3 * st.append_waits + 2 * st.flushes + 16;
    assert!(
        st.append_wait_polls <= bound,
        "{} polls for {} waits and {} write rounds (bound {bound})",
        st.append_wait_polls,
        st.append_waits,
        st.flushes
    );
}

fn all() -> ReadLimits {
    ReadLimits {
        max_msgs: usize::MAX,
        max_bytes: usize::MAX,
    }
}

/// Reads a whole queue from `from`, returning each record's body.
pub(crate) async fn read_bodies(
    store: &ShardStore,
    topic: &str,
    qid: i32,
    from: u64,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = from;
    loop {
        let r = store.read(topic, qid, at, all(), |_| true).await.unwrap();
        for rec in &r.records {
            out.push(record::Record::parse(rec).unwrap().body().to_vec());
        }
        if r.status != GetStatus::Found && r.status != GetStatus::NoMatchedMessage {
            return out;
        }
        at = r.next_offset;
    }
}

#[test]
fn append_and_read_across_segments_with_statuses_and_filters() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let store = ShardStore::open(small_config(dir.path(), FlushMode::Async))
            .await
            .unwrap();
        assert_eq!(
            store.read("T", 0, 0, all(), |_| true).await.unwrap().status,
            GetStatus::NoMessageInQueue
        );
        // ~3000 records of ~300 B cross several 256 KiB log segments and index segments.
        for i in 0..3000u64 {
            let r = store
                .append(&message("T", (i % 2) as i32, i, 200))
                .await
                .unwrap();
            assert_eq!(r.queue_offset, i / 2);
        }
        assert_eq!(store.queue_offsets("T", 0), (0, 1500));
        let bodies = read_bodies(&store, "T", 1, 0).await;
        assert_eq!(bodies.len(), 1500);
        for (k, b) in bodies.iter().enumerate() {
            assert!(b.starts_with(format!("m{}:", 2 * k + 1).as_bytes()));
        }
        store.flush_now().await.unwrap();
        // Statuses at and past the end, and before the start.
        let r = store.read("T", 0, 1500, all(), |_| true).await.unwrap();
        assert_eq!(
            (r.status, r.next_offset),
            (GetStatus::OffsetOverflowOne, 1500)
        );
        let r = store.read("T", 0, 1600, all(), |_| true).await.unwrap();
        assert_eq!(
            (r.status, r.next_offset),
            (GetStatus::OffsetOverflowBadly, 1500)
        );
        // Tag filter: only TagA (every third message overall).
        let code_a = record::tags_hash_code("TagA");
        let r = store
            .read(
                "T",
                0,
                0,
                ReadLimits {
                    max_msgs: 32,
                    max_bytes: usize::MAX,
                },
                |c| c == code_a,
            )
            .await
            .unwrap();
        assert_eq!(r.status, GetStatus::Found);
        assert_eq!(r.records.len(), 32);
        for rec in &r.records {
            assert_eq!(record::Record::parse(rec).unwrap().tags_code(), code_a);
        }
        let r = store
            .read(
                "T",
                0,
                1,
                ReadLimits {
                    max_msgs: 1,
                    max_bytes: 1,
                },
                |c| c == i64::MIN,
            )
            .await
            .unwrap();
        assert_eq!(r.status, GetStatus::NoMatchedMessage);
        assert!(r.next_offset > 1);
        // Byte limit: the first record always comes back.
        let r = store
            .read(
                "T",
                0,
                0,
                ReadLimits {
                    max_msgs: 32,
                    max_bytes: 10,
                },
                |_| true,
            )
            .await
            .unwrap();
        assert_eq!(r.records.len(), 1);
        // View by physical offset, and the record's own offsets.
        let first = record::Record::parse(&r.records[0]).unwrap();
        let again = store
            .read_by_physical(first.physical_offset())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again, r.records[0]);
        assert!(store
            .read_by_physical(first.physical_offset() + 3)
            .await
            .unwrap()
            .is_none());
        // Offset by store time.
        let ts = first.store_timestamp();
        assert_eq!(store.offset_by_time("T", 0, ts).await.unwrap(), 0);
        assert_eq!(store.offset_by_time("T", 0, i64::MAX).await.unwrap(), 1500);
        store.close().await.unwrap();
    });
}

#[test]
fn sync_flush_group_commits_concurrent_writers() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let store = Rc::new(
            ShardStore::open(small_config(dir.path(), FlushMode::Sync))
                .await
                .unwrap(),
        );
        const WRITERS: u64 = 64;
        const EACH: u64 = 50;
        append_concurrently(&store, "S", WRITERS, EACH, 100).await;
        let st = store.stats();
        assert_eq!(st.appends, WRITERS * EACH);
        assert_eq!(
            st.log_durable, st.log_end,
            "every acknowledged append is durable"
        );
        // Group commit: far fewer syncs than appends.
        assert!(
            st.log_syncs * 4 < st.appends,
            "syncs {} for {} appends",
            st.log_syncs,
            st.appends
        );
        store.close().await.unwrap();
    });
}

#[test]
fn reopen_after_clean_close_and_after_unclean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let r1 = root.clone();
    run(move || async move {
        let store = ShardStore::open(small_config(&r1, FlushMode::Async))
            .await
            .unwrap();
        for i in 0..500u64 {
            store.append(&message("R", 0, i, 100)).await.unwrap();
        }
        store.close().await.unwrap();
    });
    let r2 = root.clone();
    run(move || async move {
        let store = ShardStore::open(small_config(&r2, FlushMode::Async))
            .await
            .unwrap();
        assert!(store.recovery_report().clean);
        assert_eq!(store.recovery_report().replayed, 0);
        assert_eq!(read_bodies(&store, "R", 0, 0).await.len(), 500);
        for i in 500..800u64 {
            let r = store.append(&message("R", 0, i, 100)).await.unwrap();
            assert_eq!(r.queue_offset, i);
        }
        store.flush_now().await.unwrap();
        // Stop without close: the executor ends with the store open (like a crash after sync).
    });
    let r3 = root.clone();
    run(move || async move {
        let store = ShardStore::open(small_config(&r3, FlushMode::Async))
            .await
            .unwrap();
        let rep = store.recovery_report().clone();
        assert!(!rep.clean);
        assert!(rep.cut.is_none(), "{rep:?}");
        assert!(rep.index_warnings.is_empty(), "{rep:?}");
        let bodies = read_bodies(&store, "R", 0, 0).await;
        assert_eq!(bodies.len(), 800);
        assert!(bodies[799].starts_with(b"m799:"));
        let r = store.append(&message("R", 0, 800, 100)).await.unwrap();
        assert_eq!(r.queue_offset, 800);
        store.close().await.unwrap();
    });
}

/// Writes `n` records to queue 0 of "C", synced, and stops without a clean close, with the
/// checkpoint left at the start so recovery scans every record. Returns the record sizes
/// on disk in log order.
fn crash_image(root: &Path, n: u64) -> Vec<(u64, usize)> {
    let r = root.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    run(move || async move {
        let mut cfg = small_config(&r, FlushMode::Async);
        cfg.checkpoint_interval = Duration::from_secs(3600);
        cfg.checkpoint_after_log_bytes = u64::MAX;
        let store = ShardStore::open(cfg).await.unwrap();
        let mut layout = Vec::new();
        for i in 0..n {
            let a = store
                .append(&message("C", 0, i, 150 + (i as usize % 7) * 10))
                .await
                .unwrap();
            let (_, local) = commitlog::split_physical(a.physical_offset).unwrap();
            let len = record::encoded_len(&message("C", 0, i, 150 + (i as usize % 7) * 10));
            layout.push((local, len + record::TRAILER_BYTES));
        }
        store.flush_now().await.unwrap();
        tx.send(layout).unwrap();
    });
    rx.recv().unwrap()
}

fn segment_path(root: &Path) -> std::path::PathBuf {
    root.join("shard-0/commitlog")
        .join(segmented_file::segment_name(0))
}

/// Reopens, checks that exactly records 0..expect survive and that appends continue at
/// `expect`, then closes, reopens clean and checks again (nothing stale comes back).
fn check_recovered(root: &Path, expect: u64, cut_expected: bool) {
    let r = root.to_owned();
    run(move || async move {
        let store = ShardStore::open(small_config(&r, FlushMode::Async))
            .await
            .unwrap();
        assert_eq!(
            store.recovery_report().cut.is_some(),
            cut_expected,
            "{:?}",
            store.recovery_report()
        );
        let bodies = read_bodies(&store, "C", 0, 0).await;
        assert_eq!(bodies.len() as u64, expect);
        for (i, b) in bodies.iter().enumerate() {
            assert!(b.starts_with(format!("m{i}:").as_bytes()));
        }
        let a = store.append(&message("C", 0, 9999, 50)).await.unwrap();
        assert_eq!(a.queue_offset, expect);
        store.close().await.unwrap();
    });
    let r = root.to_owned();
    run(move || async move {
        let store = ShardStore::open(small_config(&r, FlushMode::Async))
            .await
            .unwrap();
        assert!(store.recovery_report().clean);
        let bodies = read_bodies(&store, "C", 0, 0).await;
        assert_eq!(bodies.len() as u64, expect + 1);
        assert!(bodies[expect as usize].starts_with(b"m9999:"));
        store.close().await.unwrap();
    });
}

#[test]
fn recovery_cuts_a_record_truncated_mid_way() {
    let dir = tempfile::tempdir().unwrap();
    let layout = crash_image(dir.path(), 200);
    let (at, len) = layout[150];
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path()))
        .unwrap();
    f.set_len(at + len as u64 / 2).unwrap();
    check_recovered(dir.path(), 150, true);
}

#[test]
fn recovery_cuts_at_a_zeroed_block() {
    let dir = tempfile::tempdir().unwrap();
    let layout = crash_image(dir.path(), 200);
    let (at, _) = layout[120];
    let block = at / 4096 * 4096;
    let first_hit = layout
        .iter()
        .position(|(o, l)| o + *l as u64 > block)
        .unwrap() as u64;
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path()))
        .unwrap();
    f.write_all_at(&[0u8; 4096], block).unwrap();
    check_recovered(
        dir.path(),
        first_hit,
        first_hit < 200 && layout[first_hit as usize].0 < block,
    );
}

#[test]
fn recovery_cuts_a_bit_flip_in_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let layout = crash_image(dir.path(), 200);
    let (at, len) = layout[199];
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(segment_path(dir.path()))
        .unwrap();
    let mut b = [0u8; 1];
    let pos = at + len as u64 - 10;
    f.read_exact_at(&mut b, pos).unwrap();
    f.write_all_at(&[b[0] ^ 0x08], pos).unwrap();
    check_recovered(dir.path(), 199, true);
}

#[test]
fn index_entries_past_the_log_end_are_dropped() {
    // The index holds entries for records whose log bytes are gone (log cut): they go.
    let dir = tempfile::tempdir().unwrap();
    let layout = crash_image(dir.path(), 100);
    let (at, _) = layout[60];
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path()))
        .unwrap();
    f.set_len(at).unwrap();
    check_recovered(dir.path(), 60, false);
}

#[test]
fn retention_removes_old_segments_and_advances_queue_minimums() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let r = root.clone();
    run(move || async move {
        let store = ShardStore::open(small_config(&r, FlushMode::Async))
            .await
            .unwrap();
        // ~1 MiB of records: four 256 KiB log segments and several index segments per queue.
        for i in 0..3000u64 {
            store
                .append(&message("Old", (i % 2) as i32, i, 300))
                .await
                .unwrap();
        }
        store.flush_now().await.unwrap();
        // Retention stops at the checkpoint's segment: let the checkpoint reach the end.
        wait_for_checkpoint(&store).await;
        let roomy = DiskUsage {
            total: 1 << 40,
            used: 1 << 30,
        };
        let keep_all = RetentionPolicy {
            delete_hours: vec![4],
            reserved: Duration::from_secs(3600),
            disk_max_used_ratio: 75,
        };
        let now = SystemTime::now();
        let out = store
            .apply_retention(&keep_all, now, 4, roomy)
            .await
            .unwrap();
        assert_eq!(out.segments_removed, 0, "young segments stay");
        let expire_all = RetentionPolicy {
            reserved: Duration::ZERO,
            ..keep_all.clone()
        };
        let out = store
            .apply_retention(&expire_all, now + Duration::from_secs(1), 5, roomy)
            .await
            .unwrap();
        assert_eq!(
            out.segments_removed, 0,
            "outside deleteWhen hours nothing goes"
        );
        let out = store
            .apply_retention(&expire_all, now + Duration::from_secs(1), 4, roomy)
            .await
            .unwrap();
        assert!(out.segments_removed >= 3, "{out:?}");
        assert_eq!(out.queues_advanced, 2);
        let (min, max) = store.queue_offsets("Old", 0);
        assert!(min > 0 && min < max, "min {min} max {max}");
        let r = store.read("Old", 0, 0, all(), |_| true).await.unwrap();
        assert_eq!((r.status, r.next_offset), (GetStatus::OffsetTooSmall, min));
        let bodies = read_bodies(&store, "Old", 0, min).await;
        assert_eq!(bodies.len() as u64, max - min);
        assert!(bodies[0].starts_with(format!("m{}:", 2 * min).as_bytes()));
        store.append(&message("Old", 0, 7777, 10)).await.unwrap();
        store.close().await.unwrap();
    });
    let r = root.clone();
    run(move || async move {
        let store = ShardStore::open(small_config(&r, FlushMode::Async))
            .await
            .unwrap();
        let (min, max) = store.queue_offsets("Old", 0);
        assert!(min > 0, "min offset survives a restart");
        let bodies = read_bodies(&store, "Old", 0, min).await;
        assert_eq!(bodies.len() as u64, max - min);
        store.close().await.unwrap();
    });
}

/// Waits (≤ 10 s) until the checkpoint on disk covers the durable log.
pub(crate) async fn wait_for_checkpoint(store: &ShardStore) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (checkpoint, durable) = store.checkpoint_and_durable();
        if checkpoint == durable {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "checkpoint stuck at {checkpoint}, durable end {durable}"
        );
        glommio::timer::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most 10 s, else fails with `what`) until the store has written a checkpoint.
async fn wait_for_first_checkpoint(store: &ShardStore, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.stats().checkpoints == 0 {
        assert!(std::time::Instant::now() < deadline, "{what}");
        glommio::timer::sleep(Duration::from_millis(20)).await;
    }
}

/// A checkpoint follows the data: due once `checkpoint_after_log_bytes` more of the log is
/// durable, long before `checkpoint_interval`; below that bound none is written.
#[test]
fn checkpoints_follow_the_logged_bytes_not_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().to_owned();
    run(move || async move {
        let mut cfg = small_config(&r, FlushMode::Async);
        cfg.checkpoint_interval = Duration::from_secs(3600);
        cfg.checkpoint_after_log_bytes = 64 * 1024;
        let store = ShardStore::open(cfg).await.unwrap();
        for i in 0..10u64 {
            store
                .append(&message("K", (i % 4) as i32, i, 200))
                .await
                .unwrap();
        }
        // Past CHECKPOINT_MIN_GAP_MS, with many log flushes (20 ms) and index rounds
        // (50 ms), about 3 KB logged.
        glommio::timer::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            store.stats().checkpoints,
            0,
            "below the bound: no checkpoint"
        );
        for i in 10..600u64 {
            store
                .append(&message("K", (i % 4) as i32, i, 200))
                .await
                .unwrap();
        }
        wait_for_first_checkpoint(&store, "no checkpoint after 150 KB").await;
        store.close().await.unwrap();
    });
}

/// Retention never removes the segment the checkpoint points into (recovery replays from
/// there); it asks for a checkpoint instead, and removes the segments on a later pass.
#[test]
fn retention_waits_for_the_checkpoint_to_leave_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().to_owned();
    run(move || async move {
        let mut cfg = small_config(&r, FlushMode::Async);
        cfg.checkpoint_interval = Duration::from_secs(3600);
        cfg.checkpoint_after_log_bytes = u64::MAX;
        let store = ShardStore::open(cfg).await.unwrap();
        // ~1 MiB: four 256 KiB log segments; the checkpoint stays at offset 0.
        for i in 0..3000u64 {
            store
                .append(&message("R", (i % 2) as i32, i, 300))
                .await
                .unwrap();
        }
        store.flush_now().await.unwrap();
        assert_eq!(store.checkpoint_and_durable().0, 0);
        let disk = DiskUsage {
            total: 1 << 40,
            used: 1 << 30,
        };
        let expire_all = RetentionPolicy {
            delete_hours: vec![4],
            reserved: Duration::ZERO,
            disk_max_used_ratio: 75,
        };
        let now = SystemTime::now() + Duration::from_secs(1);
        let out = store
            .apply_retention(&expire_all, now, 4, disk)
            .await
            .unwrap();
        assert_eq!(
            out.segments_removed, 0,
            "the checkpoint's segment and later stay"
        );
        // The request makes the next index round a checkpoint.
        wait_for_checkpoint(&store).await;
        let out = store
            .apply_retention(&expire_all, now, 4, disk)
            .await
            .unwrap();
        assert!(out.segments_removed >= 3, "{out:?}");
        store.close().await.unwrap();
    });
}

/// With the period short (50 ms), a checkpoint comes after appends, then none while the
/// shard is idle: an idle broker does not sync every queue's index tail each period.
#[test]
fn an_idle_shard_writes_no_periodic_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().to_owned();
    run(move || async move {
        let mut cfg = small_config(&r, FlushMode::Async);
        cfg.checkpoint_after_log_bytes = u64::MAX;
        let store = ShardStore::open(cfg).await.unwrap();
        for i in 0..10u64 {
            store.append(&message("I", 0, i, 200)).await.unwrap();
        }
        wait_for_first_checkpoint(&store, "no checkpoint after appends").await;
        // Let a checkpoint that was planned before the last flush settle, then idle.
        glommio::timer::sleep(Duration::from_millis(200)).await;
        let n = store.stats().checkpoints;
        glommio::timer::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            store.stats().checkpoints,
            n,
            "idle: 8 periods, no checkpoint"
        );
        store.close().await.unwrap();
    });
}

#[test]
fn index_entries_reach_disk_by_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let r = root.clone();
    run(move || async move {
        let store = Rc::new(
            ShardStore::open(small_config(&r, FlushMode::Sync))
                .await
                .unwrap(),
        );
        let tasks: Vec<_> = (0..16u64)
            .map(|w| {
                let s = store.clone();
                glommio::spawn_local(async move {
                    for i in 0..60u64 {
                        s.append(&message("D", ((w + i) % 4) as i32, w * 1000 + i, 80))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        // Checkpoint periods without appends: the one after the last append put
        // everything on disk.
        glommio::timer::sleep(Duration::from_millis(150)).await;
        assert!(store.stats().checkpoints >= 1);
        for q in 0..4 {
            let path = r.join(format!(
                "shard-0/consumequeue/D/{q}/{}",
                segmented_file::segment_name(0)
            ));
            let bytes = std::fs::read(&path).unwrap();
            let on_disk = bytes
                .chunks(20)
                .take_while(|e| e.iter().any(|b| *b != 0))
                .count();
            assert_eq!(on_disk as u64, store.queue_offsets("D", q).1, "queue {q}");
        }
    });
}

#[test]
fn recent_reads_come_from_the_cache_and_old_ones_from_disk() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = small_config(dir.path(), FlushMode::Async);
        cfg.read_cache_bytes = 128 * 1024;
        let store = ShardStore::open(cfg).await.unwrap();
        for i in 0..4000u64 {
            store.append(&message("Cache", 0, i, 200)).await.unwrap();
        }
        store.flush_now().await.unwrap();
        // Every record reads back, whether it is still cached (recent) or only on disk.
        let before = store.stats();
        let bodies = read_bodies(&store, "Cache", 0, 0).await;
        assert_eq!(bodies.len(), 4000);
        for (i, b) in bodies.iter().enumerate() {
            assert!(b.starts_with(format!("m{i}:").as_bytes()), "record {i}");
        }
        let after = store.stats();
        // ~1.2 MB written, 128 KiB cached: old records come from disk, the newest from memory.
        assert!(
            after.reads_from_disk - before.reads_from_disk > 3000,
            "{after:?}"
        );
        assert!(
            after.reads_from_memory - before.reads_from_memory > 100,
            "{after:?}"
        );
        store.close().await.unwrap();
    });
}

#[test]
fn appends_waiting_for_the_device_do_not_spin() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = small_config(dir.path(), FlushMode::Async);
        cfg.commitlog_segment_bytes = 4 << 20;
        // A few chunks of room: most appends below wait for a write round.
        cfg.max_pending_write_bytes = 256 * 1024;
        let store = Rc::new(ShardStore::open(cfg).await.unwrap());
        const WRITERS: u64 = 16;
        const EACH: u64 = 40;
        append_concurrently(&store, "W", WRITERS, EACH, 32 * 1024).await;
        let st = store.stats();
        assert_eq!(st.appends, WRITERS * EACH);
        assert_waits_without_spinning(&st);
        store.close().await.unwrap();
    });
}

#[test]
fn filtered_reads_over_spans_return_exactly_the_matching_records_in_order() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = small_config(dir.path(), FlushMode::Async);
        // Most of the log only on the device; spans cross segment ends and the cache edge.
        cfg.read_cache_bytes = 64 * 1024;
        let store = ShardStore::open(cfg).await.unwrap();
        const QUEUES: i32 = 3;
        const EACH: u64 = 1200;
        for i in 0..EACH {
            for q in 0..QUEUES {
                // Varied sizes, so records end at every alignment and segments end in fillers.
                let len = 150 + ((i * 37 + q as u64 * 11) % 600) as usize;
                store.append(&message("Span", q, i, len)).await.unwrap();
            }
        }
        store.flush_now().await.unwrap();
        let keys_mod_7 = |rec: &[u8]| {
            let r = record::Record::parse(rec).unwrap();
            let key = record::property(&r.properties(), "KEYS")
                .unwrap()
                .to_owned();
            key[1..].parse::<u64>().unwrap() % 7 == 0
        };
        let tag_a = record::tags_hash_code("TagA");
        /// Tag test on, property test on, which messages come back.
        type Case = (bool, bool, fn(u64) -> bool);
        let cases: [Case; 3] = [
            (false, false, |_| true),
            (false, true, |i| i % 7 == 0),
            (true, true, |i| i % 3 == 0 && i % 7 == 0),
        ];
        for (by_tag, by_prop, want) in cases {
            for q in 0..QUEUES {
                let (mut at, mut got, mut scanned) = (0, Vec::new(), 0);
                let limits = ReadLimits {
                    max_msgs: 32,
                    max_bytes: 256 * 1024,
                };
                loop {
                    let r = store
                        .read_filtered(
                            "Span",
                            q,
                            at,
                            limits,
                            |code| !by_tag || code == tag_a,
                            |rec| !by_prop || keys_mod_7(rec),
                        )
                        .await
                        .unwrap();
                    if r.status != GetStatus::Found && r.status != GetStatus::NoMatchedMessage {
                        break;
                    }
                    assert!(r.next_offset > at, "offsets advance");
                    assert!(r.records.len() <= 32);
                    scanned += r.next_offset - at;
                    for rec in &r.records {
                        let rec = record::Record::parse(rec).unwrap();
                        assert_eq!(rec.queue_id(), q);
                        got.push(rec.queue_offset() as u64);
                    }
                    at = r.next_offset;
                }
                let expected: Vec<u64> = (0..EACH).filter(|i| want(*i)).collect();
                assert_eq!(got, expected, "queue {q}, tag {by_tag}, property {by_prop}");
                assert_eq!(scanned, EACH, "every entry scanned once");
            }
        }
        store.close().await.unwrap();
    });
}
