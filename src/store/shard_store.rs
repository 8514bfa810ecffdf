//! `ShardStore`: one shard's commit log and consume indexes, owned by one glommio executor.
//!
//! The type is `!Send` (it holds `Rc`s): only the core that opened it can touch it; other
//! cores reach it through the broker's router. All state sits in `RefCell`s that are never
//! borrowed across an `.await`: appends do their checks and any segment creation first
//! (awaiting), then assign offsets and copy bytes in one synchronous section.

use std::cell::{Cell, RefCell, RefMut};
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::SystemTime;

use futures_lite::future::poll_fn;

use super::checkpoint::{Checkpoint, CheckpointFile};
use super::commitlog::{CommitLog, Placement};
use super::config::{FlushMode, StoreConfig};
use super::consume_index::{segment_bytes_for, ConsumeIndex, IndexEntry};
use super::error::StoreError;
use super::flusher;
use super::message_index::{IndexOpenReport, MessageIndex};
pub use super::read::{GetResult, GetStatus, ReadLimits, MAX_RECORD_BYTES, MAX_SCAN_ENTRIES};
use super::record::{self, NewMessage};
use super::recovery::{self, Queues, RecoveryReport};
use super::retention::{self, DiskUsage, RetentionPolicy, SegmentInfo};
use super::segmented_file::{claim_space, Allocation, FileError, SegmentedFile, SpaceNeed};

/// Full chunks that make an ASYNC_FLUSH round start before the interval elapses.
pub const ASYNC_WRITE_BATCH_CHUNKS: u64 = 4;

/// Result of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Physical offset (shard bits included).
    pub physical_offset: i64,
    /// Logical queue offset assigned.
    pub queue_offset: u64,
    /// Store timestamp written.
    pub store_timestamp: i64,
    /// Local log end just past this record: it is durable (or replicated) once the log is.
    pub log_end: u64,
}

/// Counters of a shard store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Records appended since open.
    pub appends: u64,
    /// Record bytes appended since open.
    pub appended_bytes: u64,
    /// Write batches completed.
    pub flushes: u64,
    /// fdatasync calls on the commit log.
    pub log_syncs: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Record reads served from memory (unwritten data or the read cache); monitoring's
    /// peeks at store times are not counted.
    pub reads_from_memory: u64,
    /// Record reads that went to the device (peeks are not counted).
    pub reads_from_disk: u64,
    /// Local end of the log.
    pub log_end: u64,
    /// Durable local end of the log.
    pub log_durable: u64,
    /// Memory held by the commit log's and the consume indexes' read caches.
    pub read_cache_bytes: u64,
    /// Appends that waited for room: unwritten log bytes over the limit, or a key-index
    /// backlog (back-pressure from the device).
    pub append_waits: u64,
    /// Polls of appends waiting for room: about two per wait; many more means wake-ups
    /// that made no progress.
    pub append_wait_polls: u64,
}

/// Shared state of a shard store (this core only).
pub(super) struct Inner {
    pub(super) cfg: StoreConfig,
    pub(super) log: RefCell<CommitLog>,
    pub(super) queues: RefCell<Queues>,
    pub(super) dirty_queues: RefCell<Vec<(String, i32)>>,
    pub(super) checkpoint: CheckpointFile,
    pub(super) log_signal: Signal,
    pub(super) index_signal: Signal,
    pub(super) log_done: Cell<bool>,
    pub(super) durable_waiters: RefCell<Vec<Waker>>,
    /// Woken by every flush round and every replicated append (replication senders and
    /// slave reporters); an ordinary append does not wake them, since a master sends only
    /// written bytes.
    pub(super) progress_waiters: RefCell<Vec<Waker>>,
    /// Sync every write round whatever the flush mode (a slave whose master needs durable
    /// acknowledgements).
    pub(super) force_sync: Cell<bool>,
    /// Make the next index round a checkpoint if anything was logged since the last one
    /// (retention waits for it; idle release lets it seal the tails before dropping caches).
    pub(super) checkpoint_wanted: Cell<bool>,
    /// Serve only records below the durable end (a SYNC_FLUSH master).
    pub(super) reads_durable_only: Cell<bool>,
    /// FIFO admission of appends while the write buffer is full (fairness under overload):
    /// tickets in arrival order, each with the waker of the append holding it.
    pub(super) admission: RefCell<std::collections::VecDeque<(u64, Option<Waker>)>>,
    pub(super) next_ticket: Cell<u64>,
    pub(super) write_error: RefCell<Option<FileError>>,
    pub(super) closing: Cell<bool>,
    pub(super) stats: Cell<StoreStats>,
    /// Duration of commit-log write rounds (write and, when due, sync).
    pub(super) flush_latency: crate::latency_histogram::LatencyHistogram,
    /// The message index (`None` when messageIndexEnable is off).
    pub(super) msg_index: RefCell<Option<MessageIndex>>,
    /// Wakes the index writer (a buffer was sealed).
    pub(super) msg_index_signal: Signal,
    /// The index writer ends once nothing is left to write.
    pub(super) msg_index_closing: Cell<bool>,
}

/// A wake-up flag with one parked waiter (a flusher task).
#[derive(Default)]
pub(super) struct Signal {
    kicked: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Signal {
    /// Sets the flag and wakes the waiter.
    pub(super) fn kick(&self) {
        self.kicked.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
    /// Takes the flag.
    pub(super) fn take(&self) -> bool {
        self.kicked.replace(false)
    }
    /// Parks the waiter.
    pub(super) fn park(&self, w: &Waker) {
        *self.waker.borrow_mut() = Some(w.clone());
    }
    /// Forgets the waiter.
    pub(super) fn unpark(&self) {
        self.waker.borrow_mut().take();
    }
}

impl Inner {
    /// Durable log bytes not yet covered by the checkpoint on disk.
    pub(super) fn unsealed_log_bytes(&self) -> u64 {
        let durable = self.log.borrow().durable();
        durable.saturating_sub(self.checkpoint.log_offset())
    }

    /// Makes the next index round a checkpoint, if anything is unsealed.
    pub(super) fn want_checkpoint(&self) {
        self.checkpoint_wanted.set(true);
        self.index_signal.kick();
    }

    pub(super) fn wake_flusher(&self) {
        self.log_signal.kick();
    }

    /// Wakes the first append waiting for admission (or, with `all`, every one: closing or
    /// a write error ends every wait).
    pub(super) fn wake_admission(&self, all: bool) {
        let wakers: Vec<Waker> = {
            let mut q = self.admission.borrow_mut();
            let n = if all { q.len() } else { q.len().min(1) };
            q.iter_mut().take(n).filter_map(|(_, w)| w.take()).collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Wakes replication senders and reporters (cheap when none waits).
    pub(super) fn wake_progress(&self) {
        if !self.progress_waiters.borrow().is_empty() {
            Self::wake_all(&self.progress_waiters);
        }
    }

    pub(super) fn wake_all(list: &RefCell<Vec<Waker>>) {
        let ws: Vec<Waker> = list.borrow_mut().drain(..).collect();
        ws.into_iter().for_each(Waker::wake);
    }

    pub(super) fn bump(&self, f: impl FnOnce(&mut StoreStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }
}

/// One shard's store.
pub struct ShardStore {
    pub(super) inner: Rc<Inner>,
    log_task: RefCell<Option<glommio::task::JoinHandle<()>>>,
    index_task: RefCell<Option<glommio::task::JoinHandle<()>>>,
    pub(super) index_writer: RefCell<Option<glommio::task::JoinHandle<()>>>,
    report: RecoveryReport,
    index_report: IndexOpenReport,
}

impl ShardStore {
    /// Opens (recovering) the shard's store and starts its flusher on this executor.
    pub async fn open(cfg: StoreConfig) -> Result<Self, StoreError> {
        assert!(cfg.commitlog_segment_bytes % super::segmented_file::BLOCK_BYTES == 0);
        std::fs::create_dir_all(cfg.shard_dir())
            .map_err(|e| FileError::io("create dir", cfg.shard_dir(), e))?;
        let (checkpoint, cp) = CheckpointFile::open(&cfg.shard_dir().join("checkpoint")).await?;
        let (x, clean) = cp.map_or((0, false), |c| (c.log_offset, c.clean));
        let (log, queues, report) = recovery::recover(&cfg, x, clean).await?;
        if report.cut.is_some() || !report.index_warnings.is_empty() || !clean {
            tracing::info!(
                shard = cfg.shard, clean, from = report.scanned_from, end = report.end,
                replayed = report.replayed, cut = ?report.cut, warnings = ?report.index_warnings,
                "store recovered"
            );
        }
        // From here until a clean close, the checkpoint says "not clean".
        checkpoint
            .write(&Checkpoint {
                log_offset: log.end().min(x.max(report.scanned_from)),
                clean: false,
            })
            .await?;
        let inner = Rc::new(Inner {
            cfg,
            log: RefCell::new(log),
            queues: RefCell::new(queues),
            dirty_queues: RefCell::new(Vec::new()),
            checkpoint,
            log_signal: Signal::default(),
            index_signal: Signal::default(),
            log_done: Cell::new(false),
            durable_waiters: RefCell::new(Vec::new()),
            progress_waiters: RefCell::new(Vec::new()),
            force_sync: Cell::new(false),
            checkpoint_wanted: Cell::new(false),
            reads_durable_only: Cell::new(false),
            admission: RefCell::new(std::collections::VecDeque::new()),
            next_ticket: Cell::new(0),
            write_error: RefCell::new(None),
            closing: Cell::new(false),
            stats: Cell::new(StoreStats::default()),
            flush_latency: crate::latency_histogram::LatencyHistogram::new(
                &super::flusher::FLUSH_LATENCY_BUCKETS_MS,
            ),
            msg_index: RefCell::new(None),
            msg_index_signal: Signal::default(),
            msg_index_closing: Cell::new(false),
        });
        // The replayed index entries are in memory: flush them with everything else.
        {
            let mut dirty = inner.dirty_queues.borrow_mut();
            for (t, m) in inner.queues.borrow().iter() {
                for (q, cq) in m {
                    if cq.is_dirty() {
                        dirty.push((t.clone(), *q));
                    }
                }
            }
        }
        let tq = crate::runtime::prompt_queue("store-flusher");
        let spawn = |f| {
            glommio::spawn_local_into(f, tq)
                .map_err(|e| StoreError::Io(FileError::io("spawn flusher", String::new(), e)))
                .map(|t| t.detach())
        };
        let log_task = spawn(Box::pin(flusher::run_log(inner.clone()))
            as std::pin::Pin<Box<dyn Future<Output = ()>>>)?;
        let index_task = spawn(Box::pin(flusher::run_index(inner.clone())))?;
        let mut store = ShardStore {
            inner,
            log_task: RefCell::new(Some(log_task)),
            index_task: RefCell::new(Some(index_task)),
            index_writer: RefCell::new(None),
            report,
            index_report: IndexOpenReport::default(),
        };
        store.advance_queue_mins().await?;
        store.index_report = store.open_message_index().await?;
        Ok(store)
    }

    /// What recovery found when the store opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// What opening the message index found.
    pub fn index_report(&self) -> &IndexOpenReport {
        &self.index_report
    }

    /// Appends a message to its queue. Under SYNC_FLUSH returns once it is durable.
    pub async fn append(&self, m: &NewMessage) -> Result<AppendResult, StoreError> {
        record::validate(m)?;
        let a = self.append_unacknowledged(m).await?;
        if self.inner.cfg.flush_mode == FlushMode::Sync {
            self.wait_durable(a.1).await?;
        }
        Ok(a.0)
    }

    /// Appends messages in order (a batch: same queue, consecutive offsets unless another
    /// append to that queue interleaves) and, under SYNC_FLUSH, waits once for the last.
    pub async fn append_batch(&self, ms: &[NewMessage]) -> Result<Vec<AppendResult>, StoreError> {
        let (results, durable) = self.append_reporting(ms).await?;
        durable.map(|()| results)
    }

    /// Like [`Self::append_batch`], but a SYNC_FLUSH wait that times out still returns the
    /// results (the records are stored; RocketMQ answers FLUSH_DISK_TIMEOUT with them).
    pub async fn append_reporting(
        &self,
        ms: &[NewMessage],
    ) -> Result<(Vec<AppendResult>, Result<(), StoreError>), StoreError> {
        let out = self.append_unsynced(ms).await?;
        let durable = match out.last() {
            Some(last) if self.inner.cfg.flush_mode == FlushMode::Sync => {
                match self.wait_durable(last.log_end).await {
                    Err(e @ StoreError::FlushTimeout(_)) => Err(e),
                    other => {
                        other?;
                        Ok(())
                    }
                }
            }
            _ => Ok(()),
        };
        Ok((out, durable))
    }

    /// Appends messages in order without waiting for durability (the caller waits with
    /// [`Self::wait_durable`], possibly beside a replication wait).
    pub async fn append_unsynced(
        &self,
        ms: &[NewMessage],
    ) -> Result<Vec<AppendResult>, StoreError> {
        for m in ms {
            record::validate(m)?;
        }
        let mut out = Vec::with_capacity(ms.len());
        for m in ms {
            out.push(self.append_unacknowledged(m).await?.0);
        }
        Ok(out)
    }

    /// This shard's directory under the store root.
    pub fn shard_dir(&self) -> std::path::PathBuf {
        self.inner.cfg.shard_dir()
    }

    /// The flush mode this store was opened with.
    pub fn flush_mode(&self) -> FlushMode {
        self.inner.cfg.flush_mode
    }

    /// Appends without waiting for durability; returns the result and the log end to wait
    /// for.
    async fn append_unacknowledged(
        &self,
        m: &NewMessage,
    ) -> Result<(AppendResult, u64), StoreError> {
        let inner = &self.inner;
        self.wait_writable().await?;
        let len = record::encoded_len(m);
        self.ensure_queue(&m.topic, m.queue_id).await?;
        loop {
            // An append that awaited a new segment below may find the key index backlogged
            // by appends that went first: it waits again (no index entry is dropped).
            if inner.index_backlogged() {
                self.wait_writable().await?;
                continue;
            }
            if let Some(need) = self.queue_space_needed(&m.topic, m.queue_id) {
                self.make_queue_space(&m.topic, m.queue_id, need).await?;
                continue;
            }
            let placement = inner.log.borrow_mut().place(len);
            if let Placement::NeedSegment(start) = placement {
                self.create_log_segment(start).await?;
                continue;
            }
            // No await since the checks above: assign offsets and copy in one go.
            let mut log = inner.log.borrow_mut();
            let mut queues = inner.queues.borrow_mut();
            let cq = queues
                .get_mut(&m.topic)
                .and_then(|q| q.get_mut(&m.queue_id))
                .expect("queue ensured above");
            let qo = cq.max_offset();
            let a = log.append(m, qo as i64);
            let became_dirty = cq.push(&IndexEntry {
                physical_offset: a.physical_offset,
                size: a.size,
                tags_code: record::property(&m.properties, "TAGS")
                    .map_or(0, record::tags_hash_code),
            });
            if became_dirty {
                inner
                    .dirty_queues
                    .borrow_mut()
                    .push((m.topic.clone(), m.queue_id));
            }
            let unflushed = log.file().unflushed_bytes();
            drop((log, queues));
            inner.index_append(m, a.physical_offset, a.size, a.store_timestamp, a.end);
            inner.bump(|s| {
                s.appends += 1;
                s.appended_bytes += u64::from(a.size);
            });
            // ASYNC_FLUSH acknowledges without waiting, so the flusher is woken only once
            // several chunks wait: one round then keeps several writes in flight.
            if inner.cfg.flush_mode == FlushMode::Sync
                || unflushed >= ASYNC_WRITE_BATCH_CHUNKS * inner.cfg.write_chunk_bytes as u64
            {
                inner.wake_flusher();
            }
            return Ok((
                AppendResult {
                    physical_offset: a.physical_offset,
                    queue_offset: qo,
                    store_timestamp: a.store_timestamp,
                    log_end: a.end,
                },
                a.end,
            ));
        }
    }

    /// Waits until appends may proceed: no write error, pending bytes under the limit.
    /// Once anyone waits, later appends queue behind them (first come, first admitted), so
    /// under overload every append waits about as long instead of some waiting for ever.
    pub(super) async fn wait_writable(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        // A backlog of unwritten index runs holds appends back too (bounded memory, and no
        // index entry is ever dropped for a writer that fell behind).
        let log_full =
            || inner.log.borrow().file().unflushed_bytes() > inner.cfg.max_pending_write_bytes;
        let has_room = || !log_full() && !inner.index_backlogged();
        if inner.admission.borrow().is_empty() && has_room() {
            return self.check_writable();
        }
        inner.bump(|s| s.append_waits += 1);
        let ticket = inner.next_ticket.get();
        inner.next_ticket.set(ticket + 1);
        inner.admission.borrow_mut().push_back((ticket, None));
        let _leave = Ticket { inner, ticket };
        poll_fn(|cx| {
            inner.bump(|s| s.append_wait_polls += 1);
            if inner.closing.get() || inner.write_error.borrow().is_some() {
                return Poll::Ready(());
            }
            let mut q = inner.admission.borrow_mut();
            let first = q.front().map(|(t, _)| *t) == Some(ticket);
            if first && has_room() {
                return Poll::Ready(());
            }
            if let Some(slot) = q.iter_mut().find(|(t, _)| *t == ticket) {
                slot.1 = Some(cx.waker().clone());
            }
            drop(q);
            // Kick only the writer this append waits on. Kicking the index writer while
            // only the log was full made it wake every waiter, which kicked it again: a
            // busy loop that took 20-30 % of a shard's CPU while the disk was the limit.
            if log_full() {
                inner.wake_flusher();
            }
            if inner.index_backlogged() {
                inner.msg_index_signal.kick();
            }
            Poll::Pending
        })
        .await;
        self.check_writable()
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.inner.closing.get() {
            return Err(StoreError::Closed);
        }
        match self.inner.write_error.borrow().clone() {
            Some(e) => Err(StoreError::NotWritable(e)),
            None => Ok(()),
        }
    }

    /// Waits until the log is durable up to `end` (SYNC_FLUSH), at most syncFlushTimeout.
    pub async fn wait_durable(&self, end: u64) -> Result<(), StoreError> {
        let inner = &self.inner;
        let durable = poll_fn(|cx| {
            if inner.log.borrow().durable() >= end {
                return Poll::Ready(Ok(()));
            }
            if let Some(e) = inner.write_error.borrow().clone() {
                return Poll::Ready(Err(StoreError::NotWritable(e)));
            }
            inner.durable_waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        });
        let timeout = inner.cfg.sync_flush_timeout;
        let expire = async {
            glommio::timer::sleep(timeout).await;
            Err(StoreError::FlushTimeout(timeout.as_millis() as u64))
        };
        futures_lite::future::or(durable, expire).await
    }

    pub(super) async fn ensure_queue(&self, topic: &str, qid: i32) -> Result<(), StoreError> {
        if self
            .inner
            .queues
            .borrow()
            .get(topic)
            .is_some_and(|m| m.contains_key(&qid))
        {
            return Ok(());
        }
        let cfg = &self.inner.cfg;
        let dir = cfg.queue_dir(topic, qid);
        let file = SegmentedFile::open(
            &dir,
            segment_bytes_for(cfg.consume_index_segment_bytes),
            cfg.index_chunk_bytes,
            0,
            Allocation::Stepped,
        )
        .await?;
        let mut queues = self.inner.queues.borrow_mut();
        let m = queues.entry(topic.to_owned()).or_default();
        m.entry(qid).or_insert_with(|| {
            let mut file = file;
            file.set_cache_bytes(super::config::INDEX_READ_CACHE_BYTES);
            ConsumeIndex::new(file, 0)
        });
        Ok(())
    }

    pub(super) fn queue_space_needed(&self, topic: &str, qid: i32) -> Option<SpaceNeed> {
        self.inner
            .queues
            .borrow()
            .get(topic)
            .and_then(|m| m.get(&qid))
            .and_then(ConsumeIndex::space_needed)
    }

    /// Creates a queue's next index segment or claims more of its space (stepped: the
    /// index's disk use follows its entries).
    pub(super) async fn make_queue_space(
        &self,
        topic: &str,
        qid: i32,
        need: SpaceNeed,
    ) -> Result<(), StoreError> {
        match need {
            SpaceNeed::Segment(start) => {
                self.create_segment_once(start, Allocation::Stepped, |inner| {
                    RefMut::filter_map(inner.queues.borrow_mut(), |q| {
                        q.get_mut(topic)
                            .and_then(|m| m.get_mut(&qid))
                            .map(ConsumeIndex::file_mut)
                    })
                    .ok()
                })
                .await?;
            }
            SpaceNeed::Claim { seg, upto } => {
                claim_space(&seg, upto)
                    .await
                    .map_err(StoreError::NotWritable)?;
                let mut queues = self.inner.queues.borrow_mut();
                if let Some(cq) = queues.get_mut(topic).and_then(|m| m.get_mut(&qid)) {
                    cq.file_mut().record_claim(seg.start, upto);
                }
            }
        }
        Ok(())
    }

    pub(super) async fn create_log_segment(&self, start: u64) -> Result<(), StoreError> {
        self.create_segment_once(start, Allocation::Whole, |inner| {
            Some(RefMut::map(inner.log.borrow_mut(), CommitLog::file_mut))
        })
        .await
    }

    /// Creates and installs segment `start` of the file `file` reaches (`None`: it is
    /// gone), unless another append did so while this one waited its turn at the file's
    /// [`SegmentedFile::creation_gate`].
    async fn create_segment_once(
        &self,
        start: u64,
        allocation: Allocation,
        file: impl for<'a> Fn(&'a Inner) -> Option<RefMut<'a, SegmentedFile>>,
    ) -> Result<(), StoreError> {
        let Some((dir, size, gate)) =
            file(&self.inner).map(|f| (f.dir().to_owned(), f.segment_bytes(), f.creation_gate()))
        else {
            return Ok(());
        };
        let _turn = gate.acquire_permit(1).await.map_err(|e| {
            StoreError::NotWritable(FileError::io("wait to create a segment", &dir, e))
        })?;
        if file(&self.inner).is_none_or(|f| f.has_segment(start)) {
            return Ok(());
        }
        let seg = SegmentedFile::create_segment(dir, start, size, allocation)
            .await
            .map_err(StoreError::NotWritable)?;
        if let Some(mut f) = file(&self.inner) {
            f.install_segment(seg);
        }
        Ok(())
    }

    /// (min, max) logical offsets of a queue; (0, 0) when it does not exist.
    pub fn queue_offsets(&self, topic: &str, qid: i32) -> (u64, u64) {
        self.inner
            .queues
            .borrow()
            .get(topic)
            .and_then(|m| m.get(&qid))
            .map_or((0, 0), |cq| (cq.min_offset(), cq.max_offset()))
    }

    /// Every (topic, queue id) this shard holds.
    pub fn queues(&self) -> Vec<(String, i32)> {
        self.inner
            .queues
            .borrow()
            .iter()
            .flat_map(|(t, m)| m.keys().map(move |q| (t.clone(), *q)))
            .collect()
    }

    /// Applies a retention policy once: removes expired (or, on a full disk, the oldest)
    /// commit-log segments and advances every queue's min offset past removed records.
    /// `hour` is the local hour of day; `disk` the usage of the store's filesystem.
    pub async fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        now: SystemTime,
        hour: u8,
        disk: DiskUsage,
    ) -> Result<RetentionOutcome, StoreError> {
        let (infos, seg_bytes) = {
            let log = self.inner.log.borrow();
            let infos: Vec<SegmentInfo> = log
                .file()
                .segment_paths()
                .into_iter()
                .map(|(start, path)| SegmentInfo {
                    start,
                    modified: std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .unwrap_or(now),
                })
                .collect();
            (infos, log.file().segment_bytes())
        };
        let doomed = retention::segments_to_remove(&infos, seg_bytes, policy, now, hour, disk);
        let Some(&last) = doomed.last() else {
            return Ok(RetentionOutcome::default());
        };
        // Never past the segment holding the checkpoint: recovery replays from there, and
        // a queue whose entries above it were lost with the segment would reuse offsets.
        let checkpoint_segment = self.inner.checkpoint.log_offset() / seg_bytes * seg_bytes;
        let new_first = (last + seg_bytes).min(checkpoint_segment);
        let doomed: Vec<u64> = doomed.into_iter().filter(|s| *s < new_first).collect();
        if new_first < last + seg_bytes {
            // A later pass removes the rest, once the checkpoint has moved.
            self.inner.want_checkpoint();
        }
        if doomed.is_empty() {
            return Ok(RetentionOutcome::default());
        }
        // Removal happens synchronously on this core's state; readers holding a segment keep
        // its descriptor open until they finish.
        let freed = {
            let mut log = self.inner.log.borrow_mut();
            remove_segments_sync(log.file_mut(), new_first)?
        };
        let advanced = self.advance_queue_mins().await?;
        let runs = self.trim_message_index(new_first)?;
        tracing::info!(
            runs,
            shard = self.inner.cfg.shard,
            segments = doomed.len(),
            freed,
            queues = advanced,
            "retention removed commit-log segments"
        );
        Ok(RetentionOutcome {
            segments_removed: doomed.len(),
            bytes_freed: freed,
            queues_advanced: advanced,
        })
    }

    /// Moves each queue's min offset to its first entry whose record is still stored, and
    /// removes index segments wholly below it. Returns how many queues moved.
    async fn advance_queue_mins(&self) -> Result<usize, StoreError> {
        let first_phys = {
            let log = self.inner.log.borrow();
            log.physical(log.file().first_offset())
        };
        let mut moved = 0;
        for (topic, qid) in self.queues() {
            let (min, max) = self.queue_offsets(&topic, qid);
            if min == max {
                continue;
            }
            // Usually nothing was removed below this queue: one read settles it, instead of a
            // binary search per queue at every open.
            let first = self.read_entries(&topic, qid, min, 1).await?;
            if first
                .first()
                .copied()
                .flatten()
                .is_some_and(|e| e.physical_offset >= first_phys)
            {
                continue;
            }
            let (mut lo, mut hi) = (min, max);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                let e = self.read_entries(&topic, qid, mid, 1).await?;
                let below = e
                    .first()
                    .copied()
                    .flatten()
                    .is_none_or(|e| e.physical_offset < first_phys);
                if below {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if lo > min {
                moved += 1;
                let mut queues = self.inner.queues.borrow_mut();
                if let Some(cq) = queues.get_mut(&topic).and_then(|m| m.get_mut(&qid)) {
                    cq.advance_min_offset(lo);
                    let below = ConsumeIndex::byte_offset(cq.min_offset());
                    remove_segments_sync(cq.file_mut(), below)?;
                }
            }
        }
        Ok(moved)
    }

    /// The log offset of the checkpoint on disk and the log's durable end (tests).
    #[cfg(test)]
    pub(crate) fn checkpoint_and_durable(&self) -> (u64, u64) {
        (
            self.inner.checkpoint.log_offset(),
            self.inner.log.borrow().durable(),
        )
    }

    /// Counters.
    pub fn stats(&self) -> StoreStats {
        let log = self.inner.log.borrow();
        let index_cache: usize = self
            .inner
            .queues
            .borrow()
            .values()
            .flat_map(|m| m.values())
            .map(|cq| cq.file().cached_bytes())
            .sum();
        StoreStats {
            log_end: log.end(),
            log_durable: log.durable(),
            read_cache_bytes: (log.file().cached_bytes() + index_cache) as u64,
            ..self.inner.stats.get()
        }
    }

    /// Commit-log write rounds by duration (metrics).
    pub fn flush_latency(&self) -> crate::latency_histogram::HistogramSnapshot {
        self.inner.flush_latency.snapshot()
    }

    /// Flushes everything, writes a clean checkpoint and stops the flusher.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.inner.closing.set(true);
        self.inner.wake_flusher();
        self.inner.wake_admission(true);
        let log_task = self.log_task.borrow_mut().take();
        if let Some(t) = log_task {
            t.await;
        }
        self.inner.log_done.set(true);
        self.inner.index_signal.kick();
        let index_task = self.index_task.borrow_mut().take();
        if let Some(t) = index_task {
            t.await;
        }
        self.close_message_index().await;
        match self.inner.write_error.borrow().clone() {
            Some(e) => Err(StoreError::NotWritable(e)),
            None => Ok(()),
        }
    }

    /// Flushes and syncs everything appended so far (tests and benchmarks).
    pub fn flush_now(&self) -> impl Future<Output = Result<(), StoreError>> + '_ {
        let end = self.inner.log.borrow().end();
        self.inner.wake_flusher();
        async move {
            let inner = &self.inner;
            poll_fn(|cx| {
                if inner.log.borrow().durable() >= end {
                    return Poll::Ready(Ok(()));
                }
                if let Some(e) = inner.write_error.borrow().clone() {
                    return Poll::Ready(Err(StoreError::NotWritable(e)));
                }
                inner.log_signal.kick();
                inner.durable_waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            })
            .await
        }
    }
}

/// A place in the admission queue, left when dropped (admitted, failed or cancelled).
struct Ticket<'a> {
    inner: &'a Inner,
    ticket: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut q = self.inner.admission.borrow_mut();
        if let Some(i) = q.iter().position(|(t, _)| *t == self.ticket) {
            q.remove(i);
        }
        drop(q);
        // The next in line may be admissible now.
        self.inner.wake_admission(false);
    }
}

/// What one retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Commit-log segments removed.
    pub segments_removed: usize,
    /// Bytes of segments removed.
    pub bytes_freed: u64,
    /// Queues whose min offset advanced.
    pub queues_advanced: usize,
}

fn remove_segments_sync(file: &mut SegmentedFile, before: u64) -> Result<u64, StoreError> {
    Ok(file.remove_segments_before(before)?)
}
