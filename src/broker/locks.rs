//! Queue locks for orderly consumers (LOCK_BATCH_MQ 41 / UNLOCK_BATCH_MQ 42), kept by the
//! shard that owns each queue. A lock belongs to (group, clientId) and lapses when not
//! renewed within [`LOCK_MAX_LIVE_MS`] (clients renew every 20 s).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A lock not renewed for this long may be taken by another client.
pub const LOCK_MAX_LIVE_MS: u64 = 60_000;

/// Locks on this shard's queues.
#[derive(Debug, Default)]
pub struct QueueLocks {
    held: HashMap<(String, String, i32), (String, Instant)>,
}

impl QueueLocks {
    /// Locks (or renews) the queue for `client`; false when another client holds it.
    pub fn try_lock(
        &mut self,
        group: &str,
        topic: &str,
        qid: i32,
        client: &str,
        now: Instant,
    ) -> bool {
        let key = (group.to_owned(), topic.to_owned(), qid);
        let live = Duration::from_millis(LOCK_MAX_LIVE_MS);
        match self.held.get_mut(&key) {
            Some((owner, at)) if owner != client && now.duration_since(*at) < live => false,
            Some(slot) => {
                *slot = (client.to_owned(), now);
                true
            }
            None => {
                self.held.insert(key, (client.to_owned(), now));
                true
            }
        }
    }

    /// Forgets locks that lapsed (called periodically so the map does not only grow).
    pub fn prune(&mut self, now: Instant) {
        let live = Duration::from_millis(LOCK_MAX_LIVE_MS);
        self.held
            .retain(|_, (_, at)| now.duration_since(*at) < live);
    }

    /// Locks held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// True when no queue is locked.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Releases the queue if `client` holds it.
    pub fn unlock(&mut self, group: &str, topic: &str, qid: i32, client: &str) {
        let key = (group.to_owned(), topic.to_owned(), qid);
        if self.held.get(&key).is_some_and(|(o, _)| o == client) {
            self.held.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_until_it_lapses() {
        let mut l = QueueLocks::default();
        let t0 = Instant::now();
        assert!(l.try_lock("g", "T", 0, "c1", t0));
        assert!(!l.try_lock("g", "T", 0, "c2", t0));
        assert!(l.try_lock("g", "T", 0, "c1", t0), "renewal");
        assert!(l.try_lock("h", "T", 0, "c2", t0), "other group");
        l.unlock("g", "T", 0, "c2");
        assert!(
            !l.try_lock("g", "T", 0, "c2", t0),
            "only the holder unlocks"
        );
        let later = t0 + Duration::from_millis(LOCK_MAX_LIVE_MS + 1);
        assert!(l.try_lock("g", "T", 0, "c2", later), "lapsed");
        l.unlock("g", "T", 0, "c2");
        assert!(l.try_lock("g", "T", 0, "c1", later));
        l.prune(later + Duration::from_millis(LOCK_MAX_LIVE_MS + 1));
        assert!(l.is_empty());
    }
}
