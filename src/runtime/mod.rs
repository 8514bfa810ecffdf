//! Executor set-up shared by every role.
//!
//! glommio registers `io_memory` with io_uring, which counts against `RLIMIT_MEMLOCK`
//! (often 8 MiB for a non-root user, and shared by every executor in the process). Roles
//! that do no direct file I/O ask for the minimum so they start on any host.
//!
//! Every executor preempts every [`PREEMPT_PERIOD_MS`], glommio's default. Stock glommio
//! 0.9 could park an executor with runnable tasks: its scheduler stopped a round before the
//! first task queue when the preemption timer had already fired (the thread was off its
//! CPU), reported that nothing ran, and slept until some unrelated completion. Short periods
//! hung shards at boot under CI's load, so coremq kept 100 ms and a 10 ms wake tick per
//! executor (100 wakeups a second, idle or not). The vendored glommio
//! (third_party/glommio, change 4 of its README.coremq.md) reports the queued work instead,
//! so neither is needed: the test below runs the case that hung, with a 2 ms period and
//! no tick.

pub mod memory;

use std::future::Future;

use glommio::{LocalExecutorBuilder, Placement, TaskQueueHandle};

/// io_uring registered memory for an executor that does no storage I/O.
pub const NETWORK_ONLY_IO_MEMORY_BYTES: usize = 128 * 1024;

/// Shares of a [`prompt_queue`] against the default queue's 1,000: store work gets the core
/// first whenever it is ready. At 60k sends/s (open loop, 2 shards) equal shares measured a
/// send p99.9 of 3.8-9.3 ms over 4 rounds, these 3.2-6.3 ms.
pub const PROMPT_QUEUE_SHARES: usize = 10_000;

/// A task queue of this executor for work that acknowledgements wait on (the store's
/// flushers, the message-index writer, replication links), named `name`.
///
/// `Latency::NotImportant` on purpose: a `Latency::Matters(d)` queue makes `d` the
/// executor's preemption period, and short periods hang executors (module docs). The
/// queue gets the core first whenever the default queue yields, which a shard does at
/// every await on the network.
pub fn prompt_queue(name: &str) -> TaskQueueHandle {
    glommio::executor().create_task_queue(
        glommio::Shares::Static(PROMPT_QUEUE_SHARES),
        glommio::Latency::NotImportant,
        name,
    )
}

/// Preemption period of every executor, ms: glommio's default.
pub const PREEMPT_PERIOD_MS: u64 = 100;

/// A builder for an executor that runs a store: `name`, `placement`, `io_memory_bytes` of
/// registered memory, preempted every [`PREEMPT_PERIOD_MS`].
pub fn store_executor(
    name: &str,
    placement: Placement,
    io_memory_bytes: usize,
) -> LocalExecutorBuilder {
    LocalExecutorBuilder::new(placement)
        .name(name)
        .io_memory(io_memory_bytes)
        .preempt_timer(std::time::Duration::from_millis(PREEMPT_PERIOD_MS))
}

/// Runs `make()`'s future on a new, unpinned glommio executor thread named `name` and
/// waits for it to finish.
pub fn run_unpinned<F, Fut, T>(name: &str, io_memory_bytes: usize, make: F) -> std::io::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let builder = LocalExecutorBuilder::new(Placement::Unbound)
        .name(name)
        .io_memory(io_memory_bytes);
    let handle = builder
        .spawn(make)
        .map_err(|e| std::io::Error::other(format!("starting executor {name}: {e}")))?;
    handle
        .join()
        .map_err(|e| std::io::Error::other(format!("executor {name}: {e}")))
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;

    /// Rounds of the loop below; each is a few hundred microseconds on an idle host.
    const ROUNDS: u64 = 2_000;
    /// A round that makes no progress for this long is a lost wakeup, not a slow disk.
    const STALL_LIMIT_S: u64 = 20;
    /// Busy threads beside the loop: the race needs the executor's thread off its CPU.
    const CONTENDING_THREADS: usize = 2;
    /// Executors running the loop at once, each on its own thread.
    const LOOPS: usize = 3;

    /// Preemption period of the test's executors, ms: short, so that the timer often fires
    /// while the thread is off its CPU.
    const TEST_PREEMPT_MS: u64 = 2;

    /// The loop that hung shards with a 2 ms preemption period (module docs), on executors
    /// started as shards' are, more of them than cores, while two threads spin: the loop
    /// sleeps on every await, so each round is a chance to park with work queued. With stock
    /// glommio 0.9.0 and no wake tick this failed 6 of 6 runs.
    #[test]
    fn a_store_executor_runs_its_queues_through_cpu_contention() {
        let _contention = Contention::start(CONTENDING_THREADS);
        let loops: Vec<_> = (0..LOOPS).map(|_| std::thread::spawn(store_loop)).collect();
        for l in loops {
            l.join().unwrap();
        }
    }

    /// Threads that spin until dropped (also when the test fails).
    struct Contention(Arc<AtomicBool>);

    impl Contention {
        fn start(threads: usize) -> Self {
            let stop = Arc::new(AtomicBool::new(false));
            for _ in 0..threads {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                });
            }
            Contention(stop)
        }
    }

    impl Drop for Contention {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    /// Runs [`ROUNDS`] of write + fdatasync + timer + blocking call in a [`prompt_queue`] of a
    /// store executor; fails on a round that makes no progress
    /// for [`STALL_LIMIT_S`].
    fn store_loop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let done = Arc::new(AtomicU64::new(0));
        let progress = done.clone();
        let executor = std::thread::spawn(move || {
            let builder = store_executor("store-loop-test", Placement::Unbound, 1 << 20)
                .preempt_timer(Duration::from_millis(TEST_PREEMPT_MS));
            let work = move || async move {
                let tq = prompt_queue("test");
                let file = Rc::new(glommio::io::DmaFile::create(&path).await.unwrap());
                for i in 0..ROUNDS {
                    let file = file.clone();
                    glommio::spawn_local_into(
                        async move {
                            let mut buf = file.alloc_dma_buffer(4096);
                            buf.as_bytes_mut().fill(i as u8);
                            file.write_at(buf, (i % 64) * 4096).await.unwrap();
                            file.fdatasync().await.unwrap();
                            glommio::timer::sleep(Duration::from_micros(50)).await;
                            glommio::executor().spawn_blocking(|| ()).await;
                        },
                        tq,
                    )
                    .unwrap()
                    .await;
                    progress.store(i + 1, Ordering::Relaxed);
                }
            };
            builder.spawn(work).unwrap().join().unwrap();
        });
        let mut seen = 0;
        let mut since = Instant::now();
        while done.load(Ordering::Relaxed) < ROUNDS {
            std::thread::sleep(Duration::from_millis(50));
            let now = done.load(Ordering::Relaxed);
            if now != seen {
                (seen, since) = (now, Instant::now());
            }
            assert!(
                since.elapsed() < Duration::from_secs(STALL_LIMIT_S),
                "the executor slept through its own completions at round {seen} of {ROUNDS}"
            );
        }
        executor.join().unwrap();
    }
}
