//! Group commit, index writes and checkpoints: two tasks per shard.
//!
//! **Log task** (latency-critical, in a `Latency::Matters` task queue so busy appenders are
//! preempted for it): appends only copy bytes into memory and wake it (at once under
//! SYNC_FLUSH; when a chunk fills, or every flushIntervalCommitLog, under ASYNC_FLUSH). Each
//! round takes everything appended since the last one, writes it (chunks concurrently) and,
//! when needed, issues one fdatasync: every SYNC_FLUSH append that arrived while the
//! previous round was on the device is acknowledged by the next single sync.
//!
//! **Index task**: every [`INDEX_FLUSH_INTERVAL_MS`] writes the consume-index entries pushed
//! since its last round (without syncing), and every checkpointInterval syncs the index
//! files it wrote and advances the checkpoint to the log's durable end *as of planning*:
//! every record below that end had its index entry pushed before the plan, so the entry is
//! in this round or an earlier one. Index writes never delay an acknowledgement.
//!
//! A failed log write keeps the data in memory, marks the store not writable (appends fail
//! fast with a typed error) and is retried every [`WRITE_RETRY_MS`]; once a write succeeds
//! appends resume, and nothing appended before is lost.

use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_lite::future::poll_fn;

use super::checkpoint::Checkpoint;
use super::config::FlushMode;
use super::segmented_file::{FileError, FlushBatch, Segment};
use super::shard_store::{Inner, Signal};

/// Pause between retries of a failed write.
pub const WRITE_RETRY_MS: u64 = 500;
/// Period of index writes.
pub const INDEX_FLUSH_INTERVAL_MS: u64 = 10;

/// The group-commit loop; ends after the final round once the store is closing.
pub(super) async fn run_log(inner: Rc<Inner>) {
    match inner.cfg.flush_mode {
        FlushMode::Sync => run_log_pipelined(inner).await,
        FlushMode::Async => run_log_rounds(inner).await,
    }
}

/// SYNC_FLUSH: group N+1 is written while group N's fdatasync runs, so a group costs about
/// max(write, sync) instead of write + sync. Group N's appends are acknowledged as soon as
/// its sync completes. A group's writes always finish before the next group's start, so a
/// partial block rewritten by group N+1 can never be overtaken by group N's older copy.
async fn run_log_pipelined(inner: Rc<Inner>) {
    // The sync in flight: its task and the log offset it makes durable.
    let mut syncing: Option<InFlightSync> = None;
    loop {
        if syncing.is_none() {
            wait_for(&inner.log_signal, &inner, inner.cfg.checkpoint_interval).await;
        } else {
            inner.log_signal.take();
        }
        let closing = inner.closing.get();
        let batch = inner.log.borrow_mut().file_mut().take_flush();
        let writes = (!batch.is_empty()).then(|| {
            glommio::spawn_local(async move {
                let r = batch.run(false).await;
                (batch, r)
            })
            .detach()
        });
        if let Some((task, segments, end)) = syncing.take() {
            match task.await {
                Some(Ok(())) => {
                    inner.log.borrow_mut().set_durable(end);
                    let durable = end;
                    inner.bump(|s| {
                        s.log_syncs += 1;
                        s.log_durable = durable;
                    });
                    clear_write_error(&inner);
                    Inner::wake_all(&inner.durable_waiters);
                }
                other => {
                    let e = match other {
                        Some(Err(e)) => e,
                        _ => FileError::Io {
                            op: "fdatasync",
                            path: inner.cfg.commitlog_dir().display().to_string(),
                            reason: "sync task lost".into(),
                            no_space: false,
                        },
                    };
                    fail_writes(&inner, e);
                    // Retry the same sync after a pause; nothing past `end` is claimed.
                    glommio::timer::sleep(Duration::from_millis(WRITE_RETRY_MS)).await;
                    syncing = Some((spawn_sync(segments.clone()), segments, end));
                }
            }
        }
        if let Some(w) = writes {
            match w.await {
                Some((batch, Ok(()))) => {
                    inner.log.borrow_mut().file_mut().complete_flush(&batch);
                    inner.bump(|s| s.flushes += 1);
                    inner.wake_admission(false);
                    if syncing.is_none() {
                        let segs = batch.segments();
                        syncing = Some((spawn_sync(segs.clone()), segs, batch.end));
                    } else {
                        // A sync retry is pending; it will be re-planned with this batch.
                        let (t, mut segs, _) = syncing.take().expect("checked");
                        for s in batch.segments() {
                            if !segs.iter().any(|x| x.start == s.start) {
                                segs.push(s);
                            }
                        }
                        drop(t);
                        syncing = Some((spawn_sync(segs.clone()), segs, batch.end));
                    }
                }
                Some((_, Err(e))) => {
                    inner.log.borrow_mut().file_mut().abort_flush();
                    fail_writes(&inner, e);
                    glommio::timer::sleep(Duration::from_millis(WRITE_RETRY_MS)).await;
                    inner.log_signal.kick();
                }
                None => {}
            }
        }
        if closing && syncing.is_none() && inner.log.borrow().file().unflushed_bytes() == 0 {
            return;
        }
        if closing && inner.write_error.borrow().is_some() && syncing.is_none() {
            return;
        }
    }
}

/// A sync in flight: its task, the segments it syncs, and the log offset it makes durable.
type InFlightSync = (
    glommio::task::JoinHandle<Result<(), FileError>>,
    Vec<Segment>,
    u64,
);

fn spawn_sync(segments: Vec<Segment>) -> glommio::task::JoinHandle<Result<(), FileError>> {
    glommio::spawn_local(async move {
        for s in &segments {
            s.file.fdatasync().await.map_err(|e| FileError::Io {
                op: "fdatasync",
                path: s.path.display().to_string(),
                reason: e.to_string(),
                no_space: false,
            })?;
        }
        Ok(())
    })
    .detach()
}

fn fail_writes(inner: &Inner, e: FileError) {
    if inner.write_error.borrow().is_none() {
        tracing::error!(
            shard = inner.cfg.shard,
            "commit log write failed, appends refused until it succeeds: {e}"
        );
    }
    *inner.write_error.borrow_mut() = Some(e);
    Inner::wake_all(&inner.durable_waiters);
    inner.wake_admission(true);
}

fn clear_write_error(inner: &Inner) {
    if inner.write_error.borrow_mut().take().is_some() {
        tracing::info!(shard = inner.cfg.shard, "commit log writable again");
    }
}

/// ASYNC_FLUSH: rounds of writes, with an fdatasync every flushIntervalCommitLog.
async fn run_log_rounds(inner: Rc<Inner>) {
    let mut last_sync = Instant::now();
    loop {
        let period = match inner.cfg.flush_mode {
            FlushMode::Async => inner.cfg.flush_interval,
            FlushMode::Sync => inner.cfg.checkpoint_interval,
        };
        wait_for(&inner.log_signal, &inner, period).await;
        let closing = inner.closing.get();
        let now = Instant::now();
        let sync = closing
            || inner.cfg.flush_mode == FlushMode::Sync
            || now - last_sync >= inner.cfg.flush_interval;
        let batch = inner.log.borrow_mut().file_mut().take_flush();
        if batch.is_empty() && !sync {
            continue;
        }
        if let Err(e) = batch.run(sync).await {
            inner.log.borrow_mut().file_mut().abort_flush();
            if inner.write_error.borrow().is_none() {
                tracing::error!(
                    shard = inner.cfg.shard,
                    "commit log write failed, appends refused until it succeeds: {e}"
                );
            }
            *inner.write_error.borrow_mut() = Some(e);
            Inner::wake_all(&inner.durable_waiters);
            inner.wake_admission(true);
            if closing {
                return;
            }
            glommio::timer::sleep(Duration::from_millis(WRITE_RETRY_MS)).await;
            inner.log_signal.kick();
            continue;
        }
        {
            let mut log = inner.log.borrow_mut();
            log.file_mut().complete_flush(&batch);
            if sync {
                log.set_durable(batch.end);
            }
        }
        if inner.write_error.borrow_mut().take().is_some() {
            tracing::info!(shard = inner.cfg.shard, "commit log writable again");
        }
        if sync {
            last_sync = now;
        }
        let durable = inner.log.borrow().durable();
        inner.bump(|s| {
            s.flushes += 1;
            s.log_syncs += u64::from(sync && !batch.is_empty());
            s.log_durable = durable;
        });
        Inner::wake_all(&inner.durable_waiters);
        inner.wake_admission(false);
        if closing && inner.log.borrow().file().unflushed_bytes() == 0 {
            return;
        }
    }
}

/// The index and checkpoint loop; ends after a clean checkpoint once the log task is done.
pub(super) async fn run_index(inner: Rc<Inner>) {
    let mut last_checkpoint = Instant::now();
    let mut unsynced: Vec<Segment> = Vec::new();
    loop {
        wait_for(
            &inner.index_signal,
            &inner,
            Duration::from_millis(INDEX_FLUSH_INTERVAL_MS),
        )
        .await;
        let final_round = inner.closing.get() && inner.log_done.get();
        // Plan: the durable log end first, then every index entry pushed so far.
        let durable = inner.log.borrow().durable();
        let batches = take_index_batches(&inner);
        let ok = write_index_batches(&inner, batches, &mut unsynced).await;
        let due = final_round || last_checkpoint.elapsed() >= inner.cfg.checkpoint_interval;
        if due && ok && checkpoint(&inner, &mut unsynced, durable, final_round).await {
            last_checkpoint = Instant::now();
        }
        if final_round {
            return;
        }
    }
}

/// Waits for a kick, the close, or `period`.
async fn wait_for(signal: &Signal, inner: &Inner, period: Duration) {
    let kicked = poll_fn(|cx| {
        if signal.take() || inner.closing.get() {
            return Poll::Ready(());
        }
        signal.park(cx.waker());
        Poll::Pending
    });
    futures_lite::future::or(kicked, glommio::timer::sleep(period)).await;
    signal.unpark();
}

fn take_index_batches(inner: &Inner) -> Vec<((String, i32), FlushBatch)> {
    let dirty: Vec<(String, i32)> = inner.dirty_queues.borrow_mut().drain(..).collect();
    let mut queues = inner.queues.borrow_mut();
    dirty
        .into_iter()
        .filter_map(|(t, q)| {
            let cq = queues.get_mut(&t)?.get_mut(&q)?;
            let b = cq.take_flush();
            (!b.is_empty()).then_some(((t, q), b))
        })
        .collect()
}

/// Writes (without syncing) every index batch concurrently; remembers the segments to sync
/// at the next checkpoint. Returns false when a write failed (that queue is retried).
async fn write_index_batches(
    inner: &Inner,
    batches: Vec<((String, i32), FlushBatch)>,
    unsynced: &mut Vec<Segment>,
) -> bool {
    let tasks: Vec<_> = batches
        .into_iter()
        .map(|(key, b)| {
            glommio::spawn_local(async move {
                let r = b.run(false).await;
                (key, b, r)
            })
        })
        .collect();
    let mut ok = true;
    for t in tasks {
        let ((topic, q), b, result) = t.await;
        let mut queues = inner.queues.borrow_mut();
        let Some(cq) = queues.get_mut(&topic).and_then(|m| m.get_mut(&q)) else {
            continue;
        };
        match result {
            Ok(()) => {
                cq.file_mut().complete_flush(&b);
                for seg in b.segments() {
                    if !unsynced.iter().any(|s| s.path == seg.path) {
                        unsynced.push(seg);
                    }
                }
            }
            Err(e) => {
                tracing::error!(
                    shard = inner.cfg.shard,
                    "index write failed for {topic}/{q}: {e}"
                );
                if !cq.is_dirty() {
                    inner.dirty_queues.borrow_mut().push((topic, q));
                }
                cq.abort_flush();
                ok = false;
            }
        }
    }
    ok
}

/// Syncs the index segments written since the last checkpoint, then records `log_end`.
async fn checkpoint(inner: &Inner, unsynced: &mut Vec<Segment>, log_end: u64, clean: bool) -> bool {
    for seg in unsynced.iter() {
        if let Err(e) = seg.file.fdatasync().await {
            tracing::error!(shard = inner.cfg.shard, path = %seg.path.display(), "index sync failed: {e}");
            return false;
        }
    }
    unsynced.clear();
    let cp = Checkpoint {
        log_offset: log_end,
        clean,
    };
    match inner.checkpoint.write(&cp).await {
        Ok(()) => {
            inner.bump(|s| s.checkpoints += 1);
            true
        }
        Err(e) => {
            tracing::error!(shard = inner.cfg.shard, "checkpoint write failed: {e}");
            false
        }
    }
}
