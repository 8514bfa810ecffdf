//! One shard's POP state: per (group, topic, queue) a cursor (the next offset never handed
//! out) and the leases of messages handed out and not acked, by offset.
//!
//! Pure bookkeeping, no I/O: [`super::owner`] reads the store and calls in here, so the
//! rules (who may ack, what comes back when, what FIFO blocks) are tested on their own.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Identifies one queue of one group.
pub type QueueKey = (String, String, i32);

/// A message handed out and not acked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Unique per delivery on this shard (and across restarts: seeded from the clock).
    pub id: u64,
    /// When it becomes deliverable again, ms since the epoch.
    pub visible_at_ms: i64,
    /// Deliveries so far, this one included (the SDKs' `delivery_attempt`).
    pub attempt: u32,
}

#[derive(Debug, Default)]
struct PopQueue {
    cursor: u64,
    leases: BTreeMap<u64, Lease>,
    /// Acked offsets at or above the committed offset (kept for the ack journal, and
    /// after a restart skipped when the cursor reaches them).
    acked: BTreeSet<u64>,
    /// A receive is reading new messages from the cursor (its await must not race another).
    reading: bool,
}

impl PopQueue {
    fn committed(&self) -> u64 {
        self.leases.keys().next().copied().unwrap_or(self.cursor)
    }

    /// Forgets acks below the committed offset: nothing there is handed out again.
    fn prune(&mut self) {
        let c = self.committed();
        self.acked = self.acked.split_off(&c);
    }
}

/// What an ack or a change found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseCheck {
    /// The handle's lease is the current one.
    Current,
    /// Acked already, or the handle was replaced (ChangeInvisibleDuration) or expired and
    /// redelivered: nothing done.
    Stale,
}

/// The shard's POP state.
#[derive(Debug)]
pub struct PopBook {
    queues: HashMap<QueueKey, PopQueue>,
    /// Acks read back at start for queues not opened since.
    restored: HashMap<QueueKey, BTreeSet<u64>>,
    next_lease: u64,
}

impl PopBook {
    /// An empty book whose lease numbers start at `first_lease` (the clock in µs, so a
    /// handle from before a restart never names a lease made after it).
    pub fn new(first_lease: u64) -> Self {
        Self {
            queues: HashMap::new(),
            restored: HashMap::new(),
            next_lease: first_lease,
        }
    }

    fn lease_id(&mut self) -> u64 {
        self.next_lease += 1;
        self.next_lease
    }

    /// True when the queue is known (a cursor was set).
    pub fn knows(&self, key: &QueueKey) -> bool {
        self.queues.contains_key(key)
    }

    /// Sets a queue's cursor the first time it is popped (from the committed offset).
    pub fn open(&mut self, key: &QueueKey, cursor: u64) {
        if self.queues.contains_key(key) {
            return;
        }
        let mut q = PopQueue {
            cursor,
            acked: self.restored.remove(key).unwrap_or_default(),
            ..PopQueue::default()
        };
        q.prune();
        self.queues.insert(key.clone(), q);
    }

    /// Acks read back from the journal at start (before any queue is opened).
    pub fn restore(&mut self, acks: impl IntoIterator<Item = (QueueKey, u64)>) {
        for (k, o) in acks {
            self.restored.entry(k).or_default().insert(o);
        }
    }

    /// Every queue's acks above its committed offset, for the journal's snapshot.
    pub fn acked_snapshot(&self) -> Vec<(QueueKey, u64)> {
        let open = self
            .queues
            .iter()
            .flat_map(|(k, q)| q.acked.iter().map(move |o| (k.clone(), *o)));
        let restored = self
            .restored
            .iter()
            .flat_map(|(k, set)| set.iter().map(move |o| (k.clone(), *o)));
        open.chain(restored).collect()
    }

    /// Leases whose time ran out, re-leased for `invisible_ms` with attempt + 1: at most
    /// `max`, lowest offsets first. Returns (offset, new lease).
    pub fn take_expired(
        &mut self,
        key: &QueueKey,
        now_ms: i64,
        invisible_ms: i64,
        max: usize,
    ) -> Vec<(u64, Lease)> {
        let mut ids = Vec::new();
        let Some(q) = self.queues.get(key) else {
            return ids;
        };
        let due: Vec<u64> = q
            .leases
            .iter()
            .filter(|(_, l)| l.visible_at_ms <= now_ms)
            .take(max)
            .map(|(o, _)| *o)
            .collect();
        for o in due {
            let id = self.lease_id();
            let q = self.queues.get_mut(key).expect("queue looked up above");
            let l = q.leases.get_mut(&o).expect("offset listed above");
            *l = Lease {
                id,
                visible_at_ms: now_ms + invisible_ms,
                attempt: l.attempt + 1,
            };
            ids.push((o, *l));
        }
        ids
    }

    /// FIFO: true while a delivery of this queue is still invisible (the queue's next
    /// message must wait for it).
    pub fn blocked(&self, key: &QueueKey, now_ms: i64) -> bool {
        self.queues
            .get(key)
            .is_some_and(|q| q.leases.values().any(|l| l.visible_at_ms > now_ms))
    }

    /// Starts reading new messages: the cursor, or `None` while another receive reads it.
    pub fn begin_read(&mut self, key: &QueueKey) -> Option<u64> {
        let q = self.queues.get_mut(key)?;
        if q.reading {
            return None;
        }
        q.reading = true;
        Some(q.cursor)
    }

    /// Ends a read from `from`: leases `offsets` (attempt 1) and moves the cursor to
    /// `next` (past filtered-out messages too).
    pub fn end_read(
        &mut self,
        key: &QueueKey,
        from: u64,
        offsets: &[u64],
        next: u64,
        visible_at_ms: i64,
    ) -> Vec<Option<Lease>> {
        let ids: Vec<u64> = offsets.iter().map(|_| self.lease_id()).collect();
        let Some(q) = self.queues.get_mut(key) else {
            return Vec::new();
        };
        q.reading = false;
        assert_eq!(q.cursor, from, "the cursor moved during a read");
        assert!(next >= from, "cursor going back: {from} -> {next}");
        let mut out = Vec::with_capacity(offsets.len());
        for (o, id) in offsets.iter().zip(ids) {
            debug_assert!((from..next).contains(o));
            if q.acked.contains(o) {
                // Acked before a restart: never handed out again.
                out.push(None);
                continue;
            }
            let l = Lease {
                id,
                visible_at_ms,
                attempt: 1,
            };
            q.leases.insert(*o, l);
            out.push(Some(l));
        }
        q.cursor = next;
        q.prune();
        out
    }

    /// Ends a read that failed: the cursor stays.
    pub fn abort_read(&mut self, key: &QueueKey) {
        if let Some(q) = self.queues.get_mut(key) {
            q.reading = false;
        }
    }

    /// Acks a delivery: removes the lease if the handle names the current one.
    pub fn ack(&mut self, key: &QueueKey, offset: u64, lease: u64) -> LeaseCheck {
        let Some(q) = self.queues.get_mut(key) else {
            return LeaseCheck::Stale;
        };
        match q.leases.get(&offset) {
            Some(l) if l.id == lease => {
                q.leases.remove(&offset);
                q.acked.insert(offset);
                q.prune();
                LeaseCheck::Current
            }
            _ => LeaseCheck::Stale,
        }
    }

    /// Replaces the current lease with one visible at `visible_at_ms`.
    pub fn change(
        &mut self,
        key: &QueueKey,
        offset: u64,
        lease: u64,
        visible_at_ms: i64,
    ) -> Option<Lease> {
        let id = self.lease_id();
        let l = self.current_mut(key, offset, lease)?;
        l.id = id;
        l.visible_at_ms = visible_at_ms;
        Some(*l)
    }

    /// The lease at `offset` when `lease` is its current number.
    fn current_mut(&mut self, key: &QueueKey, offset: u64, lease: u64) -> Option<&mut Lease> {
        let q = self.queues.get_mut(key)?;
        q.leases.get_mut(&offset).filter(|l| l.id == lease)
    }

    /// Moves the current lease's time to `visible_at_ms`, keeping its id, so the handle
    /// the client holds stays good (a push consumer's auto-renewal, and the cut when
    /// it ends). `None` when `lease` is no longer current.
    pub fn extend(
        &mut self,
        key: &QueueKey,
        offset: u64,
        lease: u64,
        visible_at_ms: i64,
    ) -> Option<Lease> {
        let l = self.current_mut(key, offset, lease)?;
        l.visible_at_ms = visible_at_ms;
        Some(*l)
    }

    /// The attempt of a current lease (for DLQ forwarding).
    pub fn lease(&self, key: &QueueKey, offset: u64) -> Option<Lease> {
        self.queues.get(key)?.leases.get(&offset).copied()
    }

    /// The group's committed offset for the queue: the lowest leased offset, or the
    /// cursor when nothing is leased.
    pub fn committed(&self, key: &QueueKey) -> Option<u64> {
        Some(self.queues.get(key)?.committed())
    }

    /// The earliest time a lease of (group, topic) runs out, to bound a long poll.
    pub fn next_expiry(&self, group: &str, topic: &str) -> Option<i64> {
        self.queues
            .iter()
            .filter(|((g, t, _), _)| g == group && t == topic)
            .flat_map(|(_, q)| q.leases.values().map(|l| l.visible_at_ms))
            .min()
    }

    /// Messages leased right now, over every queue.
    pub fn inflight(&self) -> usize {
        self.queues.values().map(|q| q.leases.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> QueueKey {
        ("G".into(), "T".into(), 0)
    }

    fn book_with(offsets: &[u64], next: u64, visible: i64) -> (PopBook, Vec<Lease>) {
        let mut b = PopBook::new(1_000);
        b.open(&key(), 0);
        let from = b.begin_read(&key()).unwrap();
        let l = b.end_read(&key(), from, offsets, next, visible);
        (b, l.into_iter().flatten().collect())
    }

    #[test]
    fn an_ack_removes_for_good_and_a_second_ack_is_stale() {
        let (mut b, l) = book_with(&[0, 1, 2], 3, 100);
        assert_eq!(b.committed(&key()), Some(0));
        assert_eq!(b.ack(&key(), 1, l[1].id), LeaseCheck::Current);
        assert_eq!(b.ack(&key(), 1, l[1].id), LeaseCheck::Stale);
        assert_eq!(b.committed(&key()), Some(0));
        assert_eq!(b.ack(&key(), 0, l[0].id), LeaseCheck::Current);
        assert_eq!(b.ack(&key(), 2, l[2].id), LeaseCheck::Current);
        assert_eq!(b.committed(&key()), Some(3), "nothing leased: the cursor");
        assert!(b.take_expired(&key(), 1_000, 10, 32).is_empty());
    }

    #[test]
    fn an_expired_lease_comes_back_with_the_next_attempt_and_a_new_id() {
        let (mut b, l) = book_with(&[0, 1], 2, 100);
        assert!(b.take_expired(&key(), 99, 50, 32).is_empty(), "not yet");
        let again = b.take_expired(&key(), 100, 50, 1);
        assert_eq!(again.len(), 1, "bounded by max");
        let (off, nl) = again[0];
        assert_eq!((off, nl.attempt, nl.visible_at_ms), (0, 2, 150));
        assert_ne!(nl.id, l[0].id);
        assert_eq!(b.ack(&key(), 0, l[0].id), LeaseCheck::Stale, "old handle");
        assert_eq!(b.ack(&key(), 0, nl.id), LeaseCheck::Current);
    }

    #[test]
    fn a_changed_lease_makes_the_old_handle_stale() {
        let (mut b, l) = book_with(&[5], 6, 100);
        let nl = b.change(&key(), 5, l[0].id, 500).unwrap();
        assert_eq!(nl.visible_at_ms, 500);
        assert!(
            b.take_expired(&key(), 200, 10, 32).is_empty(),
            "new time holds"
        );
        assert!(b.change(&key(), 5, l[0].id, 900).is_none(), "old handle");
        assert_eq!(b.ack(&key(), 5, l[0].id), LeaseCheck::Stale);
        assert_eq!(b.ack(&key(), 5, nl.id), LeaseCheck::Current);
    }

    #[test]
    fn an_extended_lease_keeps_its_handle_and_its_attempt() {
        let (mut b, l) = book_with(&[4], 5, 100);
        let e = b.extend(&key(), 4, l[0].id, 900).unwrap();
        assert_eq!((e.id, e.attempt, e.visible_at_ms), (l[0].id, 1, 900));
        assert!(
            b.take_expired(&key(), 500, 10, 32).is_empty(),
            "not due before its new time"
        );
        assert_eq!(b.next_expiry("G", "T"), Some(900));
        // Cut short (the holder ended): due again at the new, earlier time.
        b.extend(&key(), 4, l[0].id, 600).unwrap();
        let again = b.take_expired(&key(), 600, 10, 32);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].1.attempt, 2);
        assert!(
            b.extend(&key(), 4, l[0].id, 2_000).is_none(),
            "a redelivered lease is not the holder's any more"
        );
        assert_eq!(b.ack(&key(), 4, l[0].id), LeaseCheck::Stale);
    }

    #[test]
    fn fifo_blocks_while_a_delivery_is_invisible() {
        let (mut b, l) = book_with(&[0], 1, 100);
        assert!(b.blocked(&key(), 50));
        assert!(!b.blocked(&key(), 100), "expired: deliverable again");
        b.ack(&key(), 0, l[0].id);
        assert!(!b.blocked(&key(), 50));
    }

    #[test]
    fn one_reader_at_a_time_and_the_cursor_only_moves_forward() {
        let mut b = PopBook::new(0);
        b.open(&key(), 7);
        assert_eq!(b.begin_read(&key()), Some(7));
        assert_eq!(b.begin_read(&key()), None, "a read is in progress");
        b.abort_read(&key());
        assert_eq!(b.begin_read(&key()), Some(7));
        b.end_read(&key(), 7, &[], 9, 0);
        assert_eq!(b.committed(&key()), Some(9));
        b.open(&key(), 0);
        assert_eq!(b.committed(&key()), Some(9), "open keeps a known cursor");
    }

    #[test]
    fn acks_above_the_committed_offset_survive_a_restart() {
        let (mut b, l) = book_with(&[0, 1, 2, 3], 4, 100);
        b.ack(&key(), 1, l[1].id);
        b.ack(&key(), 3, l[3].id);
        let mut snap = b.acked_snapshot();
        snap.sort();
        assert_eq!(snap, vec![(key(), 1), (key(), 3)]);
        // Restart: the committed offset (0) and the journal's acks.
        let mut again = PopBook::new(5_000);
        again.restore(snap);
        again.open(&key(), 0);
        let from = again.begin_read(&key()).unwrap();
        let leases = again.end_read(&key(), from, &[0, 1, 2, 3], 4, 100);
        let handed: Vec<bool> = leases.iter().map(Option::is_some).collect();
        assert_eq!(handed, [true, false, true, false], "acked ones are skipped");
        let ids: Vec<u64> = leases.iter().flatten().map(|l| l.id).collect();
        again.ack(&key(), 0, ids[0]);
        again.ack(&key(), 2, ids[1]);
        assert_eq!(again.committed(&key()), Some(4));
        assert!(
            again.acked_snapshot().is_empty(),
            "acks below committed are dropped"
        );
    }
}
