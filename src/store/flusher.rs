//! Group commit: the one task per shard that writes, syncs and checkpoints.
//!
//! Appends only copy bytes into memory and wake this task (at once under SYNC_FLUSH; when a
//! chunk fills, or every flushIntervalCommitLog, under ASYNC_FLUSH). Each round takes
//! everything appended since the last one and issues one write per chunk and, when needed,
//! one fdatasync: every SYNC_FLUSH append that arrived while the previous round was on the
//! device is acknowledged by the next single sync (never one per message).
//!
//! A failed write keeps the data in memory, marks the store not writable (appends fail
//! fast with a typed error) and is retried every [`WRITE_RETRY_MS`]; once a write succeeds
//! appends resume, and nothing appended before is lost.
//!
//! Every checkpointInterval (and on close) the consume-index files are synced too and the
//! checkpoint advances to the log end of that round.

use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_lite::future::poll_fn;

use super::checkpoint::Checkpoint;
use super::config::FlushMode;
use super::segmented_file::{FlushBatch, Segment};
use super::shard_store::Inner;

/// Pause between retries of a failed write.
pub const WRITE_RETRY_MS: u64 = 500;

/// Runs until the store closes.
pub(super) async fn run(inner: Rc<Inner>) {
    let mut last_sync = Instant::now();
    let mut last_checkpoint = Instant::now();
    let mut unsynced_index: Vec<Segment> = Vec::new();
    loop {
        let wait = match inner.cfg.flush_mode {
            FlushMode::Async => inner.cfg.flush_interval,
            FlushMode::Sync => inner.cfg.checkpoint_interval,
        };
        wait_for_work(&inner, wait).await;
        let closing = inner.closing.get();
        let now = Instant::now();
        let checkpoint_due = closing || now - last_checkpoint >= inner.cfg.checkpoint_interval;
        let sync = inner.cfg.flush_mode == FlushMode::Sync
            || now - last_sync >= inner.cfg.flush_interval
            || checkpoint_due;

        // Plan the log and the index writes together: index entries of every record below
        // `log_batch.end` are in `index_batches` or were written by an earlier round.
        let log_batch = inner.log.borrow_mut().file_mut().take_flush();
        let index_batches = take_index_batches(&inner);

        let started = Instant::now();
        if let Err(e) = log_batch.run(sync).await {
            inner.log.borrow_mut().file_mut().abort_flush();
            abort_index_batches(&inner, &index_batches);
            if inner.write_error.borrow().is_none() {
                tracing::error!(
                    shard = inner.cfg.shard,
                    "commit log write failed, appends refused until it succeeds: {e}"
                );
            }
            *inner.write_error.borrow_mut() = Some(e);
            Inner::wake_all(&inner.durable_waiters);
            Inner::wake_all(&inner.space_waiters);
            if closing {
                return;
            }
            glommio::timer::sleep(Duration::from_millis(WRITE_RETRY_MS)).await;
            inner.kick.set(true);
            continue;
        }
        {
            let mut log = inner.log.borrow_mut();
            log.file_mut().complete_flush(&log_batch);
            if sync {
                log.set_durable(log_batch.end);
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
            s.log_syncs += u64::from(sync && !log_batch.is_empty());
            s.log_durable = durable;
        });
        Inner::wake_all(&inner.durable_waiters);
        Inner::wake_all(&inner.space_waiters);
        tracing::trace!(
            shard = inner.cfg.shard,
            bytes = log_batch.end,
            sync,
            us = started.elapsed().as_micros() as u64,
            "flushed"
        );

        let index_ok = write_index_batches(&inner, index_batches, &mut unsynced_index).await;
        if checkpoint_due && index_ok {
            let cp_end = log_batch
                .end
                .max(inner.log.borrow().durable().min(log_batch.end));
            if checkpoint(&inner, &mut unsynced_index, cp_end, closing).await {
                last_checkpoint = now;
            }
        }
        if closing && inner.log.borrow().file().unflushed_bytes() == 0 {
            return;
        }
    }
}

/// Waits for a kick, the close, or `period`.
async fn wait_for_work(inner: &Inner, period: Duration) {
    let kicked = poll_fn(|cx| {
        if inner.kick.replace(false) || inner.closing.get() {
            return Poll::Ready(());
        }
        *inner.flusher_waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    });
    futures_lite::future::or(kicked, glommio::timer::sleep(period)).await;
    inner.flusher_waker.borrow_mut().take();
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

fn abort_index_batches(inner: &Inner, batches: &[((String, i32), FlushBatch)]) {
    let mut queues = inner.queues.borrow_mut();
    let mut dirty = inner.dirty_queues.borrow_mut();
    for ((t, q), _) in batches {
        if let Some(cq) = queues.get_mut(t).and_then(|m| m.get_mut(q)) {
            if !cq.is_dirty() {
                dirty.push((t.clone(), *q));
            }
            cq.abort_flush();
        }
    }
}

/// Writes (without syncing) every index batch; remembers the segments to sync at the next
/// checkpoint. Returns false when a write failed (that queue is retried next round).
async fn write_index_batches(
    inner: &Inner,
    batches: Vec<((String, i32), FlushBatch)>,
    unsynced: &mut Vec<Segment>,
) -> bool {
    let mut ok = true;
    for ((t, q), b) in batches {
        let result = b.run(false).await;
        let mut queues = inner.queues.borrow_mut();
        let Some(cq) = queues.get_mut(&t).and_then(|m| m.get_mut(&q)) else {
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
                    "index write failed for {t}/{q}: {e}"
                );
                if !cq.is_dirty() {
                    inner.dirty_queues.borrow_mut().push((t, q));
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
