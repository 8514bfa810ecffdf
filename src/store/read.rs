//! The read side of a shard store: a queue's records from its index (pulls), a record by
//! physical offset (VIEW_MESSAGE_BY_ID), offsets by store time, and raw log bytes (what a
//! master sends its slave). Recent bytes come from memory (the unwritten tail and the
//! read cache); older ones with one direct-I/O read that never crosses a segment.

use bytes::Bytes;

use super::consume_index::{segment_bytes_for, ConsumeIndex, IndexEntry, ENTRY_BYTES};
use super::error::StoreError;
use super::record::{self, Entry, TRAILER_BYTES};
use super::segmented_file::{read_segment, read_segment_in_place, FileError, SegmentedFile};
use super::shard_store::ShardStore;

/// Index entries examined per read at most (RocketMQ's 16,000-byte filter scan).
pub const MAX_SCAN_ENTRIES: u64 = 800;
/// Bytes of commit log one read takes in at most when it gathers a queue's nearby records
/// (a filter scan's candidates, a pull's batch): one device round trip instead of one per
/// record, and a bound on what a read holds.
pub const MAX_SPAN_READ_BYTES: u64 = 256 * 1024;
/// Largest gap of other queues' records between two candidates that one read still spans;
/// past it two reads cost less than the bytes between them.
pub const MAX_SPAN_GAP_BYTES: u64 = 32 * 1024;
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
        let durable = |e: &IndexEntry| {
            e.physical_offset + (e.size as usize + TRAILER_BYTES) as i64 <= visible_end
        };
        let mut records = Vec::new();
        let mut bytes = 0usize;
        let mut scanned = 0u64;
        let mut span: Option<Span> = None;
        for (i, e) in entries.iter().enumerate() {
            if e.is_some_and(|e| !durable(&e)) {
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
            if !span.as_ref().is_some_and(|s| s.covers(e)) {
                // The candidates that follow, nearby in the log, come in the same read.
                let next = entries[i + 1..]
                    .iter()
                    .map_while(|n| n.map_or(Some(None), |n| durable(&n).then_some(Some(n))))
                    .flatten()
                    .filter(|n| accept(n.tags_code));
                span = self.read_span(e, next).await?;
            }
            let Some(span) = &span else { continue }; // removed by retention meanwhile
            let shard = self.inner.cfg.shard;
            let (r, whole) = span.record(e, shard)?;
            self.inner.bump(|st| {
                if span.from_disk {
                    st.reads_from_disk += 1;
                } else {
                    st.reads_from_memory += 1;
                }
            });
            // A record the property filter rejects is scanned, not served.
            if accept_record(r) {
                verify(whole, e.physical_offset, shard)?;
                bytes += r.len();
                records.push(Bytes::copy_from_slice(r));
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
        if local < self.inner.log.borrow().file().first_offset() {
            return Ok(None);
        }
        let mut buf = vec![0u8; size + TRAILER_BYTES];
        let from_disk = self.fill_from_log(local, &mut buf).await?;
        match (counted, from_disk) {
            (Counted::Yes, true) => self.inner.bump(|s| s.reads_from_disk += 1),
            (Counted::Yes, false) => self.inner.bump(|s| s.reads_from_memory += 1),
            (Counted::No, _) => {}
        }
        verify(&buf, phys, self.inner.cfg.shard)?;
        buf.truncate(size);
        Ok(Some(Bytes::from(buf)))
    }

    /// The span read for candidate `first` and those of `next` (in queue order) close
    /// enough to share its read; `None` when `first` is no longer stored.
    async fn read_span(
        &self,
        first: &IndexEntry,
        next: impl Iterator<Item = IndexEntry>,
    ) -> Result<Option<Span>, StoreError> {
        let (start, end) = {
            let log = self.inner.log.borrow();
            let Some(start) = log.local(first.physical_offset) else {
                return Ok(None);
            };
            if start < log.file().first_offset() {
                return Ok(None);
            }
            let extent = |e: &IndexEntry| {
                log.local(e.physical_offset)
                    .map(|l| (l, l + (e.size as usize + TRAILER_BYTES) as u64))
            };
            let (_, first_end) = extent(first).expect("local offset checked above");
            let end = span_end(
                (start, first_end),
                next.map_while(|e| extent(&e)),
                log.file().segment_bytes(),
            );
            (start, end)
        };
        let len = (end - start) as usize;
        // A backlog's span is usually the device's alone: serve it from the read's own
        // buffer instead of copying it into a zeroed one.
        let device_only = {
            let log = self.inner.log.borrow();
            let file = log.file();
            (!file.memory_overlaps(start, end))
                .then(|| file.segment_for(start))
                .flatten()
                .filter(|seg| end <= seg.start + file.segment_bytes())
                .map(|seg| (start - seg.start, seg))
        };
        if let Some((pos, seg)) = device_only {
            let read = read_segment_in_place(&seg, pos, len).await?;
            return Ok(Some(Span {
                start,
                bytes: SpanBytes::Device(read),
                from_disk: true,
            }));
        }
        let mut bytes = vec![0u8; len];
        let from_disk = self.fill_from_log(start, &mut bytes).await?;
        Ok(Some(Span {
            start,
            bytes: SpanBytes::Copied(bytes),
            from_disk,
        }))
    }

    /// Fills `dst` with commit-log bytes from local offset `start`: memory where it still
    /// holds them, the device for the rest (one read per segment touched); true when the
    /// device was read.
    async fn fill_from_log(&self, start: u64, dst: &mut [u8]) -> Result<bool, StoreError> {
        let mut done = 0usize;
        let mut from_disk = false;
        while done < dst.len() {
            let plan = {
                let log = self.inner.log.borrow();
                memory_then_disk_plan(log.file(), start + done as u64, &mut dst[done..])?
            };
            let Some((seg, pos, len)) = plan else {
                break; // the rest came from memory
            };
            assert!(len > 0, "an empty device read at {}", start + done as u64);
            let d = read_segment_in_place(&seg, pos, len).await?;
            dst[done..done + len].copy_from_slice(&d[..len]);
            from_disk = true;
            done += len;
        }
        Ok(from_disk)
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

/// Commit-log bytes read once for a run of a queue's records.
struct Span {
    /// Local offset of `bytes[0]`.
    start: u64,
    bytes: SpanBytes,
    /// Whether any of it came from the device.
    from_disk: bool,
}

/// A span's bytes: the device read's buffer, or memory and device bytes gathered.
enum SpanBytes {
    Device(glommio::io::ReadResult),
    Copied(Vec<u8>),
}

impl std::ops::Deref for SpanBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            SpanBytes::Device(r) => r,
            SpanBytes::Copied(v) => v,
        }
    }
}

impl Span {
    /// Whether the record of `e` lies wholly inside.
    fn covers(&self, e: &IndexEntry) -> bool {
        let Some((_, local)) = super::commitlog::split_physical(e.physical_offset) else {
            return false;
        };
        local >= self.start
            && local + (e.size as usize + TRAILER_BYTES) as u64
                <= self.start + self.bytes.len() as u64
    }

    /// The record of `e` (which the span covers) without its trailer, and with it: size,
    /// magic and physical offset checked, the CRC left to [`verify`] for what is served.
    fn record(&self, e: &IndexEntry, shard: u32) -> Result<(&[u8], &[u8]), StoreError> {
        debug_assert!(self.covers(e));
        let local = super::commitlog::split_physical(e.physical_offset).map_or(0, |(_, l)| l);
        let at = (local - self.start) as usize;
        let size = e.size as usize;
        let whole = &self.bytes[at..at + size + TRAILER_BYTES];
        match record::read_message_unchecked_crc(whole) {
            Ok(r) if r.physical_offset() == e.physical_offset && r.bytes().len() == size => {
                Ok((&whole[..size], whole))
            }
            other => Err(StoreError::Io(FileError::io(
                "verify",
                format!("commit log of shard {shard} at {}", e.physical_offset),
                format!("stored record is not the one indexed: {other:?}"),
            ))),
        }
    }
}

/// Paired check: what was CRC-checked before the write is checked again after the read,
/// and the record is the one the index named.
fn verify(whole: &[u8], phys: i64, shard: u32) -> Result<(), StoreError> {
    match record::read_entry(whole) {
        Ok(Entry::Message(r)) if r.physical_offset() == phys => Ok(()),
        other => Err(StoreError::Io(FileError::io(
            "verify",
            format!("commit log of shard {shard} at {phys}"),
            format!("stored record does not verify: {other:?}"),
        ))),
    }
}

/// End (local, exclusive) of one read that starts with the record `first` (`(start, end)`)
/// and takes in the records of `next`, in log order, while each follows the last within
/// [`MAX_SPAN_GAP_BYTES`], the read stays within [`MAX_SPAN_READ_BYTES`] and one segment.
fn span_end(first: (u64, u64), next: impl Iterator<Item = (u64, u64)>, segment_bytes: u64) -> u64 {
    let (start, mut end) = first;
    let segment = start / segment_bytes;
    for (s, e) in next {
        if s < end
            || s - end > MAX_SPAN_GAP_BYTES
            || e - start > MAX_SPAN_READ_BYTES
            || (e - 1) / segment_bytes != segment
        {
            break;
        }
        end = e;
    }
    end
}

#[cfg(test)]
mod span_tests {
    use super::*;

    const SEG: u64 = 1 << 20;

    #[test]
    fn a_span_takes_in_nearby_records_and_stops_at_a_gap() {
        let next = [
            (1000, 1300),
            (1400, 1700),
            (1700 + MAX_SPAN_GAP_BYTES + 1, 40_000),
        ];
        assert_eq!(span_end((0, 900), next.into_iter(), SEG), 1700);
        // Exactly the largest gap still joins.
        let next = [(900 + MAX_SPAN_GAP_BYTES, 900 + MAX_SPAN_GAP_BYTES + 10)];
        assert_eq!(
            span_end((0, 900), next.into_iter(), SEG),
            900 + MAX_SPAN_GAP_BYTES + 10
        );
    }

    #[test]
    fn a_span_stays_within_its_byte_limit_and_one_segment() {
        let records = (1..).map(|i| (i * 1000, i * 1000 + 900));
        let end = span_end((0, 900), records, SEG);
        assert!(
            end <= MAX_SPAN_READ_BYTES && end > MAX_SPAN_READ_BYTES - 1000,
            "{end}"
        );
        // A record in the next segment is left for the next read.
        let next = [(SEG - 500, SEG - 100), (SEG, SEG + 300)];
        assert_eq!(
            span_end((SEG - 1000, SEG - 600), next.into_iter(), SEG),
            SEG - 100
        );
        // Out of order (never written so, but never read backwards either).
        assert_eq!(span_end((5000, 5400), [(100, 200)].into_iter(), SEG), 5400);
    }
}
