//! Executor set-up shared by every role.
//!
//! glommio registers `io_memory` with io_uring, which counts against `RLIMIT_MEMLOCK`
//! (often 8 MiB for a non-root user, and shared by every executor in the process). Roles
//! that do no direct file I/O ask for the minimum so they start on any host.

use std::future::Future;

use glommio::{LocalExecutorBuilder, Placement, TaskQueueHandle};

/// io_uring registered memory for an executor that does no storage I/O.
pub const NETWORK_ONLY_IO_MEMORY_BYTES: usize = 128 * 1024;

/// Shares of a [`prompt_queue`] against the default queue's 1,000: store work gets the core
/// first whenever it is ready. At 60k sends/s (open loop, 2 shards) equal shares measured a
/// send p99.9 of 3.8-9.3 ms over 4 rounds, these 3.2-6.3 ms (Latency::Matters: 3.5-4.7).
pub const PROMPT_QUEUE_SHARES: usize = 10_000;

/// A task queue of this executor for work that acknowledgements wait on (the store's
/// flushers, the message-index writer, replication links), named `name`.
///
/// Deliberately `Latency::NotImportant`. With glommio 0.9 on Linux 6.x, an executor asleep
/// on its main ring missed the completions of a `Latency::Matters` queue (direct writes,
/// fdatasync, timers and blocking-pool results alike) until some unrelated completion
/// woke it; with no network traffic, for good. A loop of write + fdatasync in such a queue
/// hung in 13 of 16 runs under CPU load (20 s without progress), the same loop in a
/// `NotImportant` queue in none of 12; shards that stalled at boot and a crash test that hung
/// in recovery were this (bench/results/2026-12-01-vm-wakeups.md). Such a queue gets the
/// core when the default queue yields (a shard does at every await on the network) or is
/// preempted ([`STORE_EXECUTOR_PREEMPT_MS`]).
pub fn prompt_queue(name: &str) -> TaskQueueHandle {
    glommio::executor().create_task_queue(
        glommio::Shares::Static(PROMPT_QUEUE_SHARES),
        glommio::Latency::NotImportant,
        name,
    )
}

/// Preemption period of an executor that runs a store, ms. Its [`prompt_queue`]s get the
/// core when the default queue yields or is preempted; glommio's default period of 100 ms
/// let appenders that never await (bench store) hold the core that long (64 KiB, 16
/// writers: 0.12 GB/s and p99 0.4 s with prompt queues at 100 ms).
pub const STORE_EXECUTOR_PREEMPT_MS: u64 = 2;

/// A builder for an executor that runs a store: `name`, `placement`, `io_memory_bytes` of
/// registered memory, preempted every [`STORE_EXECUTOR_PREEMPT_MS`].
pub fn store_executor(
    name: &str,
    placement: Placement,
    io_memory_bytes: usize,
) -> LocalExecutorBuilder {
    LocalExecutorBuilder::new(placement)
        .name(name)
        .io_memory(io_memory_bytes)
        .preempt_timer(std::time::Duration::from_millis(STORE_EXECUTOR_PREEMPT_MS))
}

/// Runs `make()`'s future on a new, unpinned glommio executor thread named `name` and
/// waits for it to finish.
pub fn run_unpinned<F, Fut, T>(name: &str, io_memory_bytes: usize, make: F) -> std::io::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let handle = LocalExecutorBuilder::new(Placement::Unbound)
        .name(name)
        .io_memory(io_memory_bytes)
        .spawn(make)
        .map_err(|e| std::io::Error::other(format!("starting executor {name}: {e}")))?;
    handle
        .join()
        .map_err(|e| std::io::Error::other(format!("executor {name}: {e}")))
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;

    /// Rounds of the loop below; each is a few hundred microseconds on an idle host.
    const ROUNDS: u64 = 2_000;
    /// A round that makes no progress for this long is a lost wakeup, not a slow disk.
    const STALL_LIMIT_S: u64 = 20;

    /// The loop that hung in a `Latency::Matters` queue (see [`prompt_queue`]), on an
    /// executor built as a shard's is: it has nothing else to do, so it sleeps on every
    /// await and only the queue's own completions can wake it.
    #[test]
    fn a_prompt_queue_is_woken_by_its_own_completions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let done = Arc::new(AtomicU64::new(0));
        let progress = done.clone();
        let executor = std::thread::spawn(move || {
            let ex = store_executor("prompt-queue-test", Placement::Unbound, 1 << 20);
            ex.spawn(move || async move {
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
            })
            .unwrap()
            .join()
            .unwrap();
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
