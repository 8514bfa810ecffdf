//! The store's side of master/slave replication: raw log bytes out (master), the same bytes
//! in (slave), and the positions both report.
//!
//! A slave's commit log is byte-identical to its master's: the master sends ranges of its
//! log as they are, the slave appends whole entries (records and fillers) at the same
//! local offsets and indexes each record in its own consume index. Nothing is re-encoded,
//! so every physical offset and offset message id means the same on both. Each entry is
//! checked before it lands: its CRC32C (as recovery checks it), that a record's physical
//! offset is where it will sit, and that a filler ends its segment exactly.
//!
//! The trade-off: the slave parses every entry it receives (about one CRC32C pass over
//! the bytes) instead of appending blindly; in exchange a corrupt or misaligned transfer
//! is refused before it is stored, and the slave's index never points at garbage.

use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::future::poll_fn;

use super::consume_index::IndexEntry;
use super::error::StoreError;
use super::record::{self, Entry, RecordError, TRAILER_BYTES};
use super::segmented_file::read_segment;
use super::shard_store::ShardStore;

/// Bytes before a log end whose CRC32C identifies that end when a slave reconnects.
pub const TAIL_DIGEST_BYTES: u64 = 4096;

/// What [`ShardStore::append_replicated`] stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replicated {
    /// Bytes of the input consumed: whole entries only; the rest waits for more bytes.
    pub consumed: usize,
    /// Message records appended.
    pub records: u64,
    /// Queues that received records, once each (to wake parked pulls).
    pub touched: Vec<(String, i32)>,
    /// Records whose queue offset did not continue their index (left unindexed, logged).
    pub index_gaps: u64,
}

/// Where a shard's log stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogPositions {
    /// First local offset still stored.
    pub first: u64,
    /// Local end (next byte).
    pub end: u64,
    /// Every byte below this is durable.
    pub durable: u64,
    /// Every byte below this is on the device (maybe not yet synced): it survives a
    /// process crash.
    pub written: u64,
}

impl LogPositions {
    /// How far a master sends its log: what a crash of this process cannot take back
    /// (the durable end under SYNC_FLUSH, the written end otherwise). A master killed and
    /// restarted therefore never has less than its slave, and the slave keeps following.
    pub fn replicable(&self, sync_flush: bool) -> u64 {
        if sync_flush {
            self.durable
        } else {
            self.written
        }
    }
}

impl ShardStore {
    /// First, end and durable local offsets of the log.
    pub fn log_positions(&self) -> LogPositions {
        let log = self.inner.log.borrow();
        LogPositions {
            first: log.file().first_offset(),
            end: log.end(),
            durable: log.durable(),
            written: log.file().written(),
        }
    }

    /// Physical offset (shard bits included) of a local offset.
    pub fn physical_of(&self, local: u64) -> i64 {
        self.inner.log.borrow().physical(local)
    }

    /// Serves only records that are durable (a SYNC_FLUSH master). Without it a consumer
    /// could read a record that a crash of this process takes back, and after the restart
    /// skip the acknowledged message that reuses its queue offset.
    pub fn set_reads_durable_only(&self, on: bool) {
        self.inner.reads_durable_only.set(on);
    }

    /// Asks the flusher to write what is pending now (not waiting for the interval): a
    /// SYNC_MASTER under ASYNC_FLUSH, whose slave is sent only written bytes.
    pub fn request_write(&self) {
        self.inner.wake_flusher();
    }

    /// Makes every write round sync, whatever the flush mode (a slave whose master waits
    /// for durable acknowledgements).
    pub fn set_force_sync(&self, on: bool) {
        self.inner.force_sync.set(on);
        if on {
            self.inner.wake_flusher();
        }
    }

    /// Raw log bytes from local offset `from`: at most `max_bytes`, never past the log's end
    /// or the end of `from`'s segment. Empty when `from` is the end.
    pub async fn read_log_bytes(&self, from: u64, max_bytes: usize) -> Result<Bytes, StoreError> {
        let (mut buf, disk) = {
            let log = self.inner.log.borrow();
            let file = log.file();
            let (first, end) = (file.first_offset(), log.end());
            if from < first || from > end {
                return Err(StoreError::Io(super::segmented_file::FileError::io(
                    "read",
                    file.dir(),
                    format!("local offset {from} is not stored (log holds {first}..{end})"),
                )));
            }
            let seg = file.segment_bytes();
            let seg_end = from - from % seg + seg;
            let len = (max_bytes as u64).min(end - from).min(seg_end - from) as usize;
            let mut buf = vec![0u8; len];
            let disk = super::read::memory_then_disk_plan(file, from, &mut buf)?;
            (buf, disk)
        };
        if let Some((seg, pos, len)) = disk {
            let d = read_segment(&seg, pos, len).await?;
            buf[..len].copy_from_slice(&d);
        }
        Ok(Bytes::from(buf))
    }

    /// CRC32C of the [`TAIL_DIGEST_BYTES`] before local offset `end` (fewer when the log
    /// starts later): what a slave and its master compare to agree on a common end.
    /// `None` when this log does not reach `end`.
    pub async fn tail_digest(&self, end: u64) -> Result<Option<u32>, StoreError> {
        let pos = self.log_positions();
        if end > pos.end {
            return Ok(None);
        }
        let mut at = end.saturating_sub(TAIL_DIGEST_BYTES).max(pos.first);
        let mut crc = 0u32;
        while at < end {
            let b = self.read_log_bytes(at, (end - at) as usize).await?;
            if b.is_empty() {
                break;
            }
            crc = crc32c::crc32c_append(crc, &b);
            at += b.len() as u64;
        }
        Ok(Some(crc))
    }

    /// Waits until the log's end, written or durable offset differs from `seen`, or until
    /// `timeout`; returns the positions then, or `None` once the store is closing. Woken by
    /// flush rounds and replicated appends, not by ordinary appends (on a master only the
    /// written and durable ends matter to a waiter).
    pub async fn wait_progress(
        &self,
        seen: LogPositions,
        timeout: Duration,
    ) -> Option<LogPositions> {
        let inner = &self.inner;
        let LogPositions {
            end,
            durable,
            written,
            ..
        } = seen;
        let moved = poll_fn(|cx| {
            let p = self.log_positions();
            if p.end != end || p.durable != durable || p.written != written || inner.closing.get() {
                return Poll::Ready(());
            }
            inner.progress_waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        });
        futures_lite::future::or(moved, glommio::timer::sleep(timeout)).await;
        (!inner.closing.get()).then(|| self.log_positions())
    }

    /// Slave side: appends the whole entries at the start of `buf`, which are the master's
    /// log bytes from local offset `from` (this log's end), and indexes their records.
    /// Bytes of an entry not yet complete are left (see [`Replicated::consumed`]).
    pub async fn append_replicated(&self, from: u64, buf: &[u8]) -> Result<Replicated, StoreError> {
        let inner = &self.inner;
        let end = inner.log.borrow().end();
        if from != end {
            return Err(StoreError::Replica(format!(
                "bytes from local offset {from} do not continue the log, which ends at {end}"
            )));
        }
        self.wait_writable().await?;
        let mut out = Replicated::default();
        let mut i = 0usize;
        while i < buf.len() {
            let at = from + i as u64;
            let entry = match record::read_entry(&buf[i..]) {
                Ok(e) => e,
                Err(RecordError::Truncated { .. }) => break,
                Err(e) => {
                    return Err(StoreError::Replica(format!(
                        "entry at local offset {at}: {e}"
                    )))
                }
            };
            match entry {
                // Fewer than 8 bytes, all zero: the start of a length field cut by the frame.
                Entry::End if buf.len() - i < record::MIN_FILLER_BYTES => break,
                Entry::End => {
                    return Err(StoreError::Replica(format!(
                        "zeroes where an entry should start, at local offset {at}"
                    )))
                }
                Entry::Filler(n) => {
                    if buf.len() - i < n {
                        break;
                    }
                    self.ensure_log_segment().await?;
                    let room = inner.log.borrow().file().room_in_segment();
                    if room != n as u64 {
                        return Err(StoreError::Replica(format!(
                            "filler of {n} bytes at local offset {at}, but {room} bytes remain in its segment"
                        )));
                    }
                    inner.log.borrow_mut().file_mut().append(&buf[i..i + n]);
                    i += n;
                }
                Entry::Message(r) => {
                    let len = r.bytes().len() + TRAILER_BYTES;
                    let expected = self.physical_of(at);
                    if r.physical_offset() != expected {
                        return Err(StoreError::Replica(format!(
                            "record claims physical offset {} but would sit at {expected}",
                            r.physical_offset()
                        )));
                    }
                    let topic = r.topic().into_owned();
                    let (qid, qo) = (r.queue_id(), r.queue_offset());
                    let index = IndexEntry {
                        physical_offset: expected,
                        size: r.bytes().len() as u32,
                        tags_code: r.tags_code(),
                    };
                    if inner.index_backlogged() {
                        // The key index's writer is behind: wait for it rather than drop
                        // entries (one range can fill several buffers).
                        self.wait_writable().await?;
                    }
                    self.ensure_log_segment().await?;
                    let room = inner.log.borrow().file().room_in_segment();
                    if len as u64 > room {
                        return Err(StoreError::Replica(format!(
                            "record of {len} bytes at local offset {at} overruns its segment ({room} bytes left)"
                        )));
                    }
                    self.ensure_queue(&topic, qid).await?;
                    while let Some(need) = self.queue_space_needed(&topic, qid) {
                        self.make_queue_space(&topic, qid, need).await?;
                    }
                    // No await from here: the bytes and their index entry land together.
                    let mut log = inner.log.borrow_mut();
                    assert_eq!(
                        log.end(),
                        at,
                        "only the replication task appends on a slave"
                    );
                    log.file_mut().append(&buf[i..i + len]);
                    drop(log);
                    inner.index_replicated(&r, at + len as u64);
                    let mut queues = inner.queues.borrow_mut();
                    let cq = queues
                        .get_mut(&topic)
                        .and_then(|m| m.get_mut(&qid))
                        .expect("queue ensured above");
                    if u64::try_from(qo).ok() == Some(cq.max_offset()) {
                        if cq.push(&index) {
                            inner.dirty_queues.borrow_mut().push((topic.clone(), qid));
                        }
                    } else {
                        tracing::warn!(
                            shard = inner.cfg.shard,
                            topic,
                            qid,
                            qo,
                            expected = cq.max_offset(),
                            "replicated record does not continue its queue; left unindexed"
                        );
                        out.index_gaps += 1;
                    }
                    drop(queues);
                    if !out.touched.iter().any(|(t, q)| *t == topic && *q == qid) {
                        out.touched.push((topic, qid));
                    }
                    out.records += 1;
                    i += len;
                }
            }
        }
        out.consumed = i;
        if i > 0 {
            inner.bump(|s| {
                s.appends += out.records;
                s.appended_bytes += i as u64;
            });
            inner.wake_flusher();
            inner.wake_progress();
        }
        Ok(out)
    }

    /// Creates the log segment the end falls in, if it is missing.
    async fn ensure_log_segment(&self) -> Result<(), StoreError> {
        let missing = self.inner.log.borrow().file().missing_segment();
        if let Some(start) = missing {
            self.create_log_segment(start).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{message, read_bodies, run, small_config};
    use super::super::{FlushMode, ShardStore};

    /// A slave fed the master's raw log in odd-sized pieces ends with the same bytes, the
    /// same queues, and readable records; bytes that do not continue its log are refused.
    #[test]
    fn raw_log_ranges_rebuild_an_identical_store() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (pa, pb) = (a.path().to_owned(), b.path().to_owned());
        run(move || async move {
            let master = ShardStore::open(small_config(&pa, FlushMode::Async))
                .await
                .unwrap();
            let slave = ShardStore::open(small_config(&pb, FlushMode::Async))
                .await
                .unwrap();
            // Enough to cross several 256 KiB segments (fillers included).
            for i in 0..600u64 {
                let m = message(if i % 2 == 0 { "A" } else { "B" }, (i % 3) as i32, i, 1500);
                master.append(&m).await.unwrap();
            }
            master.flush_now().await.unwrap();
            let end = master.log_positions().end;
            let (mut pending, mut from, mut sent) = (Vec::new(), 0u64, 0u64);
            let pieces = [1usize, 7, 4096, 333, 65_536, 100_000];
            let mut k = 0;
            while sent < end {
                let bytes = master
                    .read_log_bytes(sent, pieces[k % pieces.len()])
                    .await
                    .unwrap();
                k += 1;
                sent += bytes.len() as u64;
                pending.extend_from_slice(&bytes);
                let r = slave.append_replicated(from, &pending).await.unwrap();
                pending.drain(..r.consumed);
                from += r.consumed as u64;
                assert_eq!(r.index_gaps, 0);
            }
            assert!(pending.is_empty());
            assert_eq!(slave.log_positions().end, end);
            assert_eq!(
                slave.tail_digest(end).await.unwrap(),
                master.tail_digest(end).await.unwrap()
            );
            for (t, q) in [("A", 0), ("B", 1), ("A", 2)] {
                assert_eq!(slave.queue_offsets(t, q), master.queue_offsets(t, q));
                assert_eq!(
                    read_bodies(&slave, t, q, 0).await,
                    read_bodies(&master, t, q, 0).await
                );
            }
            // A range from elsewhere in the log does not continue it.
            let again = master.read_log_bytes(0, 4096).await.unwrap();
            assert!(slave.append_replicated(0, &again).await.is_err());
            // Garbage where a record should start is refused, not stored.
            let before = slave.log_positions().end;
            assert!(slave.append_replicated(before, &[0xAB; 64]).await.is_err());
            assert_eq!(slave.log_positions().end, before);
            slave.flush_now().await.unwrap();
            master.close().await.unwrap();
            slave.close().await.unwrap();
        });
        let seg = |root: &std::path::Path| {
            let dir = root.join("shard-0/commitlog");
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            files
                .iter()
                .map(|p| std::fs::read(p).unwrap())
                .collect::<Vec<_>>()
        };
        assert!(seg(a.path()) == seg(b.path()), "logs differ byte for byte");
    }
}
