//! The in-memory part of a shard's timer: the entries due within the loaded minutes, in
//! due order, and the watermark below which everything was delivered.
//!
//! Entries are `(due ms, offset in the timer queue)`. Every entry is also in its minute's
//! file ([`super::files`]); only minutes up to a short look-ahead are loaded, so memory
//! follows what is due soon, not what is scheduled. Delivery is in entry order and the
//! watermark is the last entry delivered: since a message is only parked when due after
//! its arrival (and arrivals come after the watermark's time), everything at or below
//! the watermark was delivered and everything above it was not.

use std::collections::BTreeSet;

/// One scheduled message.
pub type Entry = (i64, u64);

/// Width of one timer file.
pub const MINUTE_MS: i64 = 60_000;

/// The minute an instant falls in.
pub fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(MINUTE_MS)
}

/// Loaded entries and delivery progress.
#[derive(Debug)]
pub struct Wheel {
    near: BTreeSet<Entry>,
    /// The first minute not loaded yet.
    next_minute: i64,
    watermark: Entry,
}

impl Wheel {
    /// A wheel resuming after `watermark`, with minutes from `first_minute` still to load.
    pub fn new(watermark: Entry, first_minute: i64) -> Self {
        Self {
            near: BTreeSet::new(),
            next_minute: first_minute,
            watermark,
        }
    }

    /// The next minute to load when the look-ahead reaches it.
    pub fn minute_to_load(&self, now_ms: i64, lookahead_ms: i64) -> Option<i64> {
        (self.next_minute <= minute_of(now_ms + lookahead_ms)).then_some(self.next_minute)
    }

    /// Starts loading `minute`: from now on its new entries are kept here (so none is
    /// missed while its file is read).
    pub fn begin_load(&mut self, minute: i64) {
        assert_eq!(minute, self.next_minute, "minutes load in order");
        self.next_minute = minute + 1;
    }

    /// Takes a minute file's entries (those not delivered yet).
    pub fn add_loaded(&mut self, minute: i64, entries: impl IntoIterator<Item = Entry>) {
        let w = self.watermark;
        self.near.extend(
            entries
                .into_iter()
                .filter(|e| *e > w && minute_of(e.0) == minute),
        );
    }

    /// [`Self::begin_load`] and [`Self::add_loaded`] at once.
    pub fn load(&mut self, minute: i64, entries: impl IntoIterator<Item = Entry>) {
        self.begin_load(minute);
        self.add_loaded(minute, entries);
    }

    /// The first minute not loaded yet.
    pub fn next_minute(&self) -> i64 {
        self.next_minute
    }

    /// A new entry; true when it belongs to a loaded minute (kept here as well).
    pub fn schedule(&mut self, e: Entry) -> bool {
        debug_assert!(e > self.watermark, "scheduled below the watermark: {e:?}");
        if minute_of(e.0) < self.next_minute {
            self.near.insert(e);
            true
        } else {
            false
        }
    }

    /// Up to `max` entries due at `now_ms`, in order.
    pub fn due(&self, now_ms: i64, max: usize) -> Vec<Entry> {
        self.near
            .iter()
            .take_while(|e| e.0 <= now_ms)
            .take(max)
            .copied()
            .collect()
    }

    /// Marks an entry delivered (entries are delivered in order).
    pub fn delivered(&mut self, e: Entry) {
        assert!(
            e > self.watermark,
            "delivered out of order: {e:?} after {:?}",
            self.watermark
        );
        self.near.remove(&e);
        self.watermark = e;
    }

    /// After a restart: deliveries found in the log up to `e` count as done, so the
    /// watermark moves there and what it passes is dropped.
    pub fn recovered(&mut self, e: Entry) {
        if e > self.watermark {
            self.watermark = e;
            self.near.retain(|x| *x > e);
        }
    }

    /// The last entry delivered.
    pub fn watermark(&self) -> Entry {
        self.watermark
    }

    /// When the next loaded entry is due.
    pub fn next_due(&self) -> Option<i64> {
        self.near.first().map(|e| e.0)
    }

    /// Entries held in memory.
    pub fn loaded(&self) -> usize {
        self.near.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loaded_minutes_are_held_and_delivery_moves_the_watermark() {
        let mut w = Wheel::new((0, 0), 10);
        assert_eq!(w.minute_to_load(10 * MINUTE_MS, 5_000), Some(10));
        assert_eq!(w.minute_to_load(9 * MINUTE_MS, 5_000), None);
        w.load(
            10,
            [
                (10 * MINUTE_MS + 5, 1),
                (10 * MINUTE_MS + 1, 2),
                (11 * MINUTE_MS, 3),
            ],
        );
        assert_eq!(w.loaded(), 2, "another minute's entry is not taken");
        assert!(
            !w.schedule((12 * MINUTE_MS, 9)),
            "a far entry stays in its file"
        );
        assert!(w.schedule((10 * MINUTE_MS + 3, 4)));
        assert_eq!(w.next_due(), Some(10 * MINUTE_MS + 1));
        let due = w.due(10 * MINUTE_MS + 4, 10);
        assert_eq!(due, vec![(10 * MINUTE_MS + 1, 2), (10 * MINUTE_MS + 3, 4)]);
        for e in due {
            w.delivered(e);
        }
        assert_eq!(w.watermark(), (10 * MINUTE_MS + 3, 4));
        assert_eq!(w.loaded(), 1);
    }

    #[test]
    fn a_restart_skips_what_was_delivered() {
        let mut w = Wheel::new((600_010, 7), 10);
        w.load(10, [(600_005, 1), (600_010, 7), (600_010, 8), (600_020, 2)]);
        assert_eq!(w.due(700_000, 10), vec![(600_010, 8), (600_020, 2)]);
    }

    #[test]
    fn recovered_deliveries_move_the_watermark_and_drop_what_it_passes() {
        let mut w = Wheel::new((0, 0), 1);
        w.load(
            1,
            [(MINUTE_MS + 1, 1), (MINUTE_MS + 2, 2), (MINUTE_MS + 3, 3)],
        );
        w.recovered((MINUTE_MS + 2, 2));
        assert_eq!(w.watermark(), (MINUTE_MS + 2, 2));
        assert_eq!(w.due(2 * MINUTE_MS, 10), vec![(MINUTE_MS + 3, 3)]);
        w.recovered((MINUTE_MS + 1, 1));
        assert_eq!(w.watermark(), (MINUTE_MS + 2, 2), "never back");
    }
}
