//! Read caches given back when a shard goes idle.
//!
//! The commit log's read cache (`readCacheBytesPerShard`) and the consume indexes' small
//! caches hold what was just written, because tailing consumers read it within
//! milliseconds. Once a shard has seen no append and no read for `cache_idle_release`, the
//! consumers that wanted that data have had it, and a consumer that comes later reads from
//! the device like any lagging one (direct I/O, the design's normal path). So the caches are
//! dropped and the allocator is told to return what they held
//! ([`crate::runtime::memory`]): a broker's memory after a load run falls back to its fixed
//! part instead of keeping the run's last 64 MiB per shard
//! (bench/results/2026-12-01-vm-idle-memory.md). The cache refills from the next write.
//!
//! Idleness is read from counters the store keeps anyway (appends, reads), sampled
//! every [`IDLE_SAMPLE_MS`]: nothing is added to the append or read path. Monitoring's peeks
//! at store times (`/metrics`, admin's stats) are not counted as reads, so a scraped broker
//! still goes idle.

use std::rc::Rc;
use std::time::Duration;

use super::shard_store::ShardStore;

/// How often idleness is sampled, ms (the release happens within one sample of the limit).
pub const IDLE_SAMPLE_MS: u64 = 1_000;

impl ShardStore {
    /// Drops the read caches whenever the store has been idle for the configured time, until
    /// the store closes (the owner spawns this on the store's executor); returns at once
    /// when release at idle is off.
    pub async fn run_idle_release(self: Rc<Self>) {
        let Some(limit) = self.inner.cfg.cache_idle_release else {
            return;
        };
        let sample = Duration::from_millis(IDLE_SAMPLE_MS).min(limit);
        let mut last = self.activity();
        let mut idle_for = Duration::ZERO;
        // Once per idle spell: without appends nothing refills the caches.
        let mut released = false;
        while !self.inner.closing.get() {
            glommio::timer::sleep(sample).await;
            let now = self.activity();
            if now != last {
                last = now;
                idle_for = Duration::ZERO;
                released = false;
                continue;
            }
            idle_for += sample;
            // A checkpoint writes every partial index tail into the read caches; one that
            // came after the release would refill them until the next activity. So the
            // release first asks for it, and waits (a bounded time) until it is written.
            let unsealed = self.inner.unsealed_log_bytes() > 0;
            if idle_for >= limit && !released && unsealed && idle_for < limit * 2 {
                self.inner.want_checkpoint();
                continue;
            }
            if idle_for >= limit && !released {
                released = true;
                let freed = self.release_read_caches();
                if freed > 0 {
                    crate::runtime::memory::return_freed_memory();
                    tracing::debug!(
                        shard = self.inner.cfg.shard,
                        freed,
                        "idle: read caches dropped"
                    );
                }
            }
        }
    }

    /// Drops the commit log's and every consume index's read cache; returns the bytes freed.
    pub fn release_read_caches(&self) -> usize {
        let log = self.inner.log.borrow_mut().file_mut().release_cache();
        let index: usize = self
            .inner
            .queues
            .borrow_mut()
            .values_mut()
            .flat_map(|m| m.values_mut())
            .map(|cq| cq.file_mut().release_cache())
            .sum();
        log + index
    }

    /// What changes whenever the store is used: appends (a slave's replicated ones too),
    /// reads. Read from the counters alone, not `stats()`, which walks every queue.
    fn activity(&self) -> (u64, u64) {
        let s = self.inner.stats.get();
        (s.appends, s.reads_from_memory + s.reads_from_disk)
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::time::Duration;

    use crate::store::shard_store::ReadLimits;
    use crate::store::tests::{message, run, small_config};
    use crate::store::{FlushMode, ShardStore};

    const ALL: ReadLimits = ReadLimits {
        max_msgs: usize::MAX,
        max_bytes: usize::MAX,
    };

    #[test]
    fn an_idle_store_drops_its_read_caches_and_a_busy_one_keeps_them() {
        run(|| async {
            let dir = tempfile::tempdir().unwrap();
            let mut cfg = small_config(dir.path(), FlushMode::Async);
            cfg.cache_idle_release = Some(Duration::from_millis(300));
            let store = Rc::new(ShardStore::open(cfg).await.unwrap());
            glommio::spawn_local(store.clone().run_idle_release()).detach();
            for i in 0..200 {
                store.append(&message("T", 0, i, 200)).await.unwrap();
            }
            store.flush_now().await.unwrap();
            assert!(store.stats().read_cache_bytes > 0, "written data is cached");
            // Busy: a read every 100 ms, for three times the idle limit. A loaded host can
            // stretch a sleep past the limit; then the store was idle and may drop.
            let mut last_use = std::time::Instant::now();
            let mut ever_idle = false;
            for _ in 0..9 {
                glommio::timer::sleep(Duration::from_millis(100)).await;
                ever_idle |= last_use.elapsed() >= Duration::from_millis(250);
                store.read("T", 0, 0, ALL, |_| true).await.unwrap();
                last_use = std::time::Instant::now();
                if !ever_idle {
                    assert!(store.stats().read_cache_bytes > 0, "dropped while in use");
                }
            }
            // Idle: dropped once the limit has passed, within a few samples.
            let mut waited_ms = 0;
            while store.stats().read_cache_bytes > 0 {
                assert!(waited_ms < 3_000, "still cached after {waited_ms} ms idle");
                glommio::timer::sleep(Duration::from_millis(50)).await;
                waited_ms += 50;
            }
            assert!(
                waited_ms >= 250,
                "dropped after {waited_ms} ms idle, limit 300"
            );
            // Nothing stored is lost: the same records come back, from the device.
            let before = store.stats().reads_from_disk;
            let got = store.read("T", 0, 0, ALL, |_| true).await.unwrap();
            assert_eq!(got.records.len(), 200);
            assert!(store.stats().reads_from_disk > before);
            // The next write fills the cache again.
            store.append(&message("T", 0, 200, 200)).await.unwrap();
            store.flush_now().await.unwrap();
            assert!(store.stats().read_cache_bytes > 0);
            store.close().await.unwrap();
        });
    }
}
