//! The read side of a shard store: a queue's records from its index (pulls), a record by
//! physical offset (VIEW_MESSAGE_BY_ID), offsets by store time, and raw log bytes (what a
//! master sends its slave). Recent bytes come from memory (the unwritten tail and the
//! read cache); older ones with one direct-I/O read that never crosses a segment.

use bytes::Bytes;

use super::consume_index::{segment_bytes_for, ConsumeIndex, IndexEntry, ENTRY_BYTES};
use super::error::StoreError;
use super::record::{self, Entry, TRAILER_BYTES};
use super::segmented_file::{read_segment, FileError, SegmentedFile};
use super::shard_store::ShardStore;

/// Index entries examined per read at most (RocketMQ's 16,000-byte filter scan).
pub const MAX_SCAN_ENTRIES: u64 = 800;
/// Largest record a lookup by physical offset will read (one frame's worth).
pub const MAX_RECORD_BYTES: usize = crate::protocol::MAX_FRAME_BYTES;
/// What a read found (RocketMQ's GetMessageStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetStatus {
    /// At least one record.
    Found,
    /// Entries were scanned but none matched the filter.
    NoMatchedMessage,
    /// The queue has no entries (or does not exist).
    NoMessageInQueue,
    /// offset == max: nothing new yet.
    OffsetOverflowOne,
    /// offset > max.
    OffsetOverflowBadly,
    /// offset < min.
    OffsetTooSmall,
}

/// Limits of one read.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Records at most.
    pub max_msgs: usize,
    /// Bytes at most (the first record is always returned).
    pub max_bytes: usize,
}

/// Records read from a queue.
#[derive(Debug, Clone)]
pub struct GetResult {
    /// Outcome.
    pub status: GetStatus,
    /// Whole records (what a PULL body concatenates), in queue order.
    pub records: Vec<Bytes>,
    /// Where the next read should start.
    pub next_offset: u64,
    /// Queue's min offset.
    pub min_offset: u64,
    /// Queue's max offset.
    pub max_offset: u64,
}

impl ShardStore {
    /// Reads records of a queue from `offset`, skipping entries whose tag hash `accept`
    /// rejects.
    pub async fn read(
        &self,
        topic: &str,
        qid: i32,
        offset: u64,
        limits: ReadLimits,
        accept: impl Fn(i64) -> bool,
    ) -> Result<GetResult, StoreError> {
        self.read_filtered(topic, qid, offset, limits, accept, |_| true)
            .await
    }

    /// [`Self::read`] that also skips records `accept_record` rejects (a property
    /// filter); skipped records still advance `next_offset`, as tag misses do.
    pub async fn read_filtered(
        &self,
        topic: &str,
        qid: i32,
        offset: u64,
        limits: ReadLimits,
        accept: impl Fn(i64) -> bool,
        accept_record: impl Fn(&[u8]) -> bool,
    ) -> Result<GetResult, StoreError> {
        let (min, max) = self.queue_offsets(topic, qid);
        let result = |status, next| GetResult {
            status,
            records: Vec::new(),
            next_offset: next,
            min_offset: min,
            max_offset: max,
        };
        if max == 0 {
            return Ok(result(GetStatus::NoMessageInQueue, 0));
        }
        if offset < min {
            return Ok(result(GetStatus::OffsetTooSmall, min));
        }
        if offset == max {
            return Ok(result(GetStatus::OffsetOverflowOne, offset));
        }
        if offset > max {
            return Ok(result(GetStatus::OffsetOverflowBadly, max));
        }
        // One read never crosses an index segment (a disk read covers one segment).
        let per_segment =
            segment_bytes_for(self.inner.cfg.consume_index_segment_bytes) / ENTRY_BYTES as u64;
        let n = (max - offset)
            .min(MAX_SCAN_ENTRIES)
            .min(per_segment - offset % per_segment);
        let entries = self.read_entries(topic, qid, offset, n).await?;
        // Records a crash could still take back are not served (see `set_reads_durable_only`).
        let visible_end = if self.inner.reads_durable_only.get() {
            let log = self.inner.log.borrow();
            log.physical(log.durable())
        } else {
            i64::MAX
        };
        let mut records = Vec::new();
        let mut bytes = 0usize;
        let mut scanned = 0u64;
        for e in &entries {
            if e.is_some_and(|e| {
                e.physical_offset + (e.size as usize + TRAILER_BYTES) as i64 > visible_end
            }) {
                break;
            }
            if records.len() >= limits.max_msgs
                || (!records.is_empty()
                    && bytes + e.map_or(0, |e| e.size as usize) > limits.max_bytes)
            {
                break;
            }
            scanned += 1;
            let Some(e) = e else { continue };
            if !accept(e.tags_code) {
                continue;
            }
            match self.read_record(e.physical_offset, e.size as usize).await? {
                Some(r) if accept_record(&r) => {
                    bytes += r.len();
                    records.push(r);
                }
                Some(_) => continue, // the property filter said no
                None => continue,    // removed by retention meanwhile
            }
        }
        let status = if scanned == 0 {
            // Nothing durable past `offset` yet: like the end of the queue (a pull parks).
            GetStatus::OffsetOverflowOne
        } else if records.is_empty() {
            GetStatus::NoMatchedMessage
        } else {
            GetStatus::Found
        };
        Ok(GetResult {
            status,
            records,
            next_offset: offset + scanned,
            min_offset: min,
            max_offset: max,
        })
    }

    /// Physical offset of the record at queue offset 0, if the queue still holds it.
    pub async fn first_record_physical(
        &self,
        topic: &str,
        qid: i32,
    ) -> Result<Option<i64>, StoreError> {
        let (min, max) = self.queue_offsets(topic, qid);
        if min > 0 || max == 0 {
            return Ok(None);
        }
        let entries = self.read_entries(topic, qid, 0, 1).await?;
        Ok(entries
            .first()
            .copied()
            .flatten()
            .map(|e| e.physical_offset))
    }

    /// Index entries `[from, from + n)`; `None` for slots that are zero.
    pub(super) async fn read_entries(
        &self,
        topic: &str,
        qid: i32,
        from: u64,
        n: u64,
    ) -> Result<Vec<Option<IndexEntry>>, StoreError> {
        let start = ConsumeIndex::byte_offset(from);
        let mut buf = vec![0u8; n as usize * ENTRY_BYTES];
        // Memory first (synchronously), then the part the device holds.
        let disk = {
            let queues = self.inner.queues.borrow();
            let Some(cq) = queues.get(topic).and_then(|m| m.get(&qid)) else {
                return Ok(Vec::new());
            };
            memory_then_disk_plan(cq.file(), start, &mut buf)?
        };
        if let Some((seg, pos, len)) = disk {
            let d = read_segment(&seg, pos, len).await?;
            buf[..len].copy_from_slice(&d);
        }
        Ok(buf.chunks(ENTRY_BYTES).map(IndexEntry::decode).collect())
    }

    /// The record at a physical offset with a known size; `None` when no longer stored.
    pub(super) async fn read_record(
        &self,
        phys: i64,
        size: usize,
    ) -> Result<Option<Bytes>, StoreError> {
        self.read_record_as(phys, size, Counted::Yes).await
    }

    /// [`Self::read_record`], counted in the read statistics or not (a peek).
    async fn read_record_as(
        &self,
        phys: i64,
        size: usize,
        counted: Counted,
    ) -> Result<Option<Bytes>, StoreError> {
        let Some(local) = self.inner.log.borrow().local(phys) else {
            return Ok(None);
        };
        let mut buf = vec![0u8; size + TRAILER_BYTES];
        let disk = {
            let log = self.inner.log.borrow();
            if local < log.file().first_offset() {
                return Ok(None);
            }
            memory_then_disk_plan(log.file(), local, &mut buf)?
        };
        match disk {
            Some((seg, pos, len)) => {
                let d = read_segment(&seg, pos, len).await?;
                buf[..len].copy_from_slice(&d);
                if counted == Counted::Yes {
                    self.inner.bump(|s| s.reads_from_disk += 1);
                }
            }
            None if counted == Counted::Yes => self.inner.bump(|s| s.reads_from_memory += 1),
            None => {}
        }
        // Paired check: what was CRC-checked before the write is checked again after the read.
        match record::read_entry(&buf) {
            Ok(Entry::Message(r)) if r.physical_offset() == phys => {
                buf.truncate(size);
                Ok(Some(Bytes::from(buf)))
            }
            other => Err(StoreError::Io(FileError::io(
                "verify",
                format!("commit log of shard {} at {phys}", self.inner.cfg.shard),
                format!("stored record does not verify: {other:?}"),
            ))),
        }
    }

    /// The record at a physical offset (VIEW_MESSAGE_BY_ID), size read from the log.
    pub async fn read_by_physical(&self, phys: i64) -> Result<Option<Bytes>, StoreError> {
        self.read_by_physical_as(phys, Counted::Yes).await
    }

    /// [`Self::read_by_physical`], counted in the read statistics or not (a peek).
    async fn read_by_physical_as(
        &self,
        phys: i64,
        counted: Counted,
    ) -> Result<Option<Bytes>, StoreError> {
        let Some(local) = self.inner.log.borrow().local(phys) else {
            return Ok(None);
        };
        if local + 4 > self.inner.log.borrow().end() {
            return Ok(None);
        }
        let mut head = [0u8; 4];
        let disk = {
            let log = self.inner.log.borrow();
            if local < log.file().first_offset() {
                return Ok(None);
            }
            memory_then_disk_plan(log.file(), local, &mut head)?
        };
        if let Some((seg, pos, len)) = disk {
            head[..len].copy_from_slice(&read_segment(&seg, pos, len).await?);
        }
        let size = i32::from_be_bytes(head);
        match usize::try_from(size) {
            // A wrong offset reads an arbitrary size: never allocate more than a record
            // can be (a record must fit in one frame).
            Ok(s)
                if s > 4
                    && s <= MAX_RECORD_BYTES
                    && local + (s + TRAILER_BYTES) as u64 <= self.inner.log.borrow().end() =>
            {
                self.read_record_as(phys, s, counted).await.or(Ok(None))
            }
            _ => Ok(None),
        }
    }

    /// Store time of the oldest record still in the commit log (0 when it is empty); a peek,
    /// like [`Self::store_time_at`].
    pub async fn earliest_store_time(&self) -> i64 {
        let phys = {
            let log = self.inner.log.borrow();
            if log.end() == log.file().first_offset() {
                return 0;
            }
            log.physical(log.file().first_offset())
        };
        match self.read_by_physical_as(phys, Counted::No).await {
            Ok(Some(r)) => record::Record::parse(&r).map_or(0, |r| r.store_timestamp()),
            _ => 0,
        }
    }

    /// Store time of the record at a queue offset (0 when there is none): a peek for
    /// monitoring and admin, left out of the read statistics, so a scraped broker still
    /// counts as idle ([`super::idle_release`]).
    pub async fn store_time_at(&self, topic: &str, qid: i32, offset: u64) -> i64 {
        let (min, max) = self.queue_offsets(topic, qid);
        if offset < min || offset >= max {
            return 0;
        }
        let entry = match self.read_entries(topic, qid, offset, 1).await {
            Ok(entries) => entries.first().copied().flatten(),
            Err(_) => None,
        };
        let Some(e) = entry else {
            return 0;
        };
        match self
            .read_record_as(e.physical_offset, e.size as usize, Counted::No)
            .await
        {
            Ok(Some(r)) => record::Record::parse(&r).map_or(0, |r| r.store_timestamp()),
            _ => 0,
        }
    }

    /// First queue offset whose store time is ≥ `timestamp_ms` (max offset when none).
    pub async fn offset_by_time(
        &self,
        topic: &str,
        qid: i32,
        timestamp_ms: i64,
    ) -> Result<u64, StoreError> {
        let (min, max) = self.queue_offsets(topic, qid);
        let (mut lo, mut hi) = (min, max);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let ts = match self
                .read_entries(topic, qid, mid, 1)
                .await?
                .first()
                .copied()
                .flatten()
            {
                Some(e) => match self.read_record(e.physical_offset, e.size as usize).await? {
                    Some(r) => record::Record::parse(&r).map_or(i64::MIN, |r| r.store_timestamp()),
                    None => i64::MIN,
                },
                None => i64::MIN,
            };
            if ts >= timestamp_ms {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }
}

/// Whether a record read counts in the store's read statistics.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Counted {
    Yes,
    No,
}

/// Fills the in-memory part of `dst` (bytes at or past the written mark) and returns the
/// device read that fills the rest, limited to one segment.
pub(super) fn memory_then_disk_plan(
    file: &SegmentedFile,
    start: u64,
    dst: &mut [u8],
) -> Result<Option<(super::segmented_file::Segment, u64, usize)>, StoreError> {
    // Recent data (unwritten, or still in the read cache) never touches the device.
    if file.copy_from_memory(start, dst) {
        return Ok(None);
    }
    let written = file.written();
    let end = start + dst.len() as u64;
    let mem_from = start.max(written).min(end);
    let split = (mem_from - start) as usize;
    if mem_from < end && !file.copy_from_memory(mem_from, &mut dst[split..]) {
        return Err(StoreError::Io(FileError::io(
            "read",
            file.dir(),
            format!("bytes {mem_from}..{end} are neither written nor in memory"),
        )));
    }
    if split == 0 {
        return Ok(None);
    }
    let seg = file.segment_for(start).ok_or_else(|| {
        StoreError::Io(FileError::io(
            "read",
            file.dir(),
            format!("offset {start} is not stored"),
        ))
    })?;
    let in_seg = (seg.start + file.segment_bytes() - start) as usize;
    Ok(Some((seg.clone(), start - seg.start, split.min(in_seg))))
}
