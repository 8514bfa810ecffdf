//! Group commit, index writes and checkpoints: two tasks per shard.
//!
//! **Log task** (in a task queue of its own, [`crate::runtime::prompt_queue`], which gets
//! its share of the core whenever request handling yields): appends only copy bytes into
//! memory and wake it (at once under SYNC_FLUSH; when a chunk fills, or every
//! flushIntervalCommitLog, under ASYNC_FLUSH). Each round takes everything appended since
//! the last one, writes it (chunks concurrently) and, when needed, issues one fdatasync:
//! every SYNC_FLUSH append that arrived while the
//! previous round was on the device is acknowledged by the next single sync.
//!
//! **Index task**: every [`INDEX_FLUSH_INTERVAL_MS`] writes the consume-index chunks that
//! filled since its last round (without syncing). A checkpoint round (due once
//! `checkpoint_after_log_bytes` more of the log is durable, or after `checkpoint_interval`
//! with anything logged) writes the partial tails too, syncs the index files it wrote and
//! advances the checkpoint to the log's durable end *as of planning*:
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
use super::io_inflight::{tracked, IoKind};
use super::segmented_file::{FlushBatch, Segment};
use super::shard_store::{Inner, Signal};

/// Pause between retries of a failed write.
pub const WRITE_RETRY_MS: u64 = 500;
/// Period of index writes: longer rounds write fuller blocks (50 ms measured +20 % send
/// TPS over 10 ms at 128 B, -w 64; acknowledgements never wait for them).
pub const INDEX_FLUSH_INTERVAL_MS: u64 = 50;

/// Index writes a round keeps on the device at once. A round of BenchmarkTest (1,024
/// queues) has one write per queue; submitted together, their direct-I/O submissions ran
/// inside one `io_uring_enter` for up to 7.5 ms, stalling every send on the shard
/// (send p99 10 ms at 10k msgs/s against 0.4 ms on an 8-queue topic).
pub const INDEX_WRITES_IN_FLIGHT: u64 = 8;

/// Least time between two checkpoints due by data: a fast log (64 MiB/s per shard and
/// more) would otherwise sync every queue's index tail more often than once a second.
pub const CHECKPOINT_MIN_GAP_MS: u64 = 1000;

/// Period of a SYNC_FLUSH log round when no append kicks it.
pub const SYNC_IDLE_ROUND_MS: u64 = 1000;

/// Bucket bounds of the commit-log write round histogram, ms: from a write that only
/// reached the device cache to a sync on a saturated volume.
pub const FLUSH_LATENCY_BUCKETS_MS: [f64; 13] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0,
];

/// The group-commit loop; ends after the final round once the store is closing.
pub(super) async fn run_log(inner: Rc<Inner>) {
    let mut last_sync = Instant::now();
    loop {
        let period = match inner.cfg.flush_mode {
            FlushMode::Async => inner.cfg.flush_interval,
            FlushMode::Sync => Duration::from_millis(SYNC_IDLE_ROUND_MS),
        };
        wait_for(&inner.log_signal, || inner.closing.get(), period).await;
        let closing = inner.closing.get();
        let now = Instant::now();
        let sync = closing
            || inner.cfg.flush_mode == FlushMode::Sync
            || inner.force_sync.get()
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
        if !batch.is_empty() {
            // Idle sync-only rounds do no write: they would drag the quantiles down.
            inner.flush_latency.record(now.elapsed());
        }
        inner.bump(|s| {
            s.flushes += 1;
            s.log_syncs += u64::from(sync && !batch.is_empty());
        });
        Inner::wake_all(&inner.durable_waiters);
        inner.wake_progress();
        inner.wake_admission(false);
        if closing && inner.log.borrow().file().unflushed_bytes() == 0 {
            return;
        }
    }
}

/// The index and checkpoint loop; ends after a clean checkpoint once the log task is done.
pub(super) async fn run_index(inner: Rc<Inner>) {
    let mut last_checkpoint = Instant::now();
    let mut unsynced = Unsynced::default();
    loop {
        // Not woken by `closing` alone: until the log task is done there is no final
        // round to run, and a round with nothing to write never yields (this loop would
        // spin and starve the log task it waits for). close() kicks it after the log task.
        wait_for(
            &inner.index_signal,
            || inner.closing.get() && inner.log_done.get(),
            Duration::from_millis(INDEX_FLUSH_INTERVAL_MS),
        )
        .await;
        let final_round = inner.closing.get() && inner.log_done.get();
        // Plan: the durable log end first, then the index entries pushed so far: all of
        // them in a checkpoint round, else only filled chunks (partial tails wait, in
        // memory, for the checkpoint; nothing acknowledged waits for them).
        let durable = inner.log.borrow().durable();
        // Measured from the checkpoint on disk: index entries that recovery rebuilt past it
        // count as logged, so a shard that replayed checkpoints even without new appends.
        let logged = inner.unsealed_log_bytes();
        // Due by data (bounds the replay after a crash; at most one a second, as before
        // checkpoints followed the data), by time, or when retention or idle release asks,
        // and only when something changed: an idle shard writes no checkpoint.
        let since = last_checkpoint.elapsed();
        let wanted = inner.checkpoint_wanted.take();
        let due = final_round
            || (logged >= inner.cfg.checkpoint_after_log_bytes
                && since >= Duration::from_millis(CHECKPOINT_MIN_GAP_MS))
            || (logged > 0 && (wanted || since >= inner.cfg.checkpoint_interval));
        let batches = take_index_batches(&inner, due);
        let ok = write_index_batches(&inner, batches, &mut unsynced).await;
        if due && ok && checkpoint(&inner, &mut unsynced, durable, final_round).await {
            last_checkpoint = Instant::now();
        }
        if final_round {
            return;
        }
    }
}

/// Waits for a kick, `done` (the task's last round is due), or `period`.
async fn wait_for(signal: &Signal, done: impl Fn() -> bool, period: Duration) {
    let kicked = poll_fn(|cx| {
        if signal.take() || done() {
            return Poll::Ready(());
        }
        signal.park(cx.waker());
        Poll::Pending
    });
    futures_lite::future::or(kicked, glommio::timer::sleep(period)).await;
    signal.unpark();
}

/// Plans the dirty queues' index writes (`everything`: partial tails too); queues left
/// with unplanned entries stay on the dirty list.
fn take_index_batches(inner: &Inner, everything: bool) -> Vec<((String, i32), FlushBatch)> {
    let dirty: Vec<(String, i32)> = inner.dirty_queues.borrow_mut().drain(..).collect();
    let mut queues = inner.queues.borrow_mut();
    let mut still_dirty = Vec::new();
    let batches = dirty
        .into_iter()
        .filter_map(|(t, q)| {
            let cq = queues.get_mut(&t)?.get_mut(&q)?;
            let b = cq.take_flush(everything);
            if cq.is_dirty() {
                still_dirty.push((t.clone(), q));
            }
            (!b.is_empty()).then_some(((t, q), b))
        })
        .collect();
    inner.dirty_queues.borrow_mut().extend(still_dirty);
    batches
}

/// Index segments written but not yet synced, by the address of their open file.
type Unsynced = std::collections::HashMap<usize, Segment>;

/// Writes (without syncing) every index batch concurrently; remembers the segments to sync
/// at the next checkpoint. Returns false when a write failed (that queue is retried).
async fn write_index_batches(
    inner: &Inner,
    batches: Vec<((String, i32), FlushBatch)>,
    unsynced: &mut Unsynced,
) -> bool {
    let slots = Rc::new(glommio::sync::Semaphore::new(INDEX_WRITES_IN_FLIGHT));
    let tasks: Vec<_> = batches
        .into_iter()
        .map(|(key, b)| {
            let slots = slots.clone();
            glommio::spawn_local(async move {
                // The semaphore is never closed, so a permit always comes.
                let _slot = slots.acquire_permit(1).await;
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
                    // Keyed by the open file: one lookup per segment, not a scan with
                    // path comparisons (that scan was a third of the broker's CPU).
                    unsynced
                        .entry(Rc::as_ptr(&seg.file) as usize)
                        .or_insert(seg);
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
async fn checkpoint(inner: &Inner, unsynced: &mut Unsynced, log_end: u64, clean: bool) -> bool {
    for seg in unsynced.values() {
        if let Err(e) = tracked(IoKind::Sync, seg.file.fdatasync()).await {
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
