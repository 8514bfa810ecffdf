//! Device I/O in flight on this core: a gauge of reads, writes, syncs and segment
//! preallocations submitted to the ring and not yet completed, its peak since the last
//! look, and counts by kind — what an operator reads to tell a saturated device (in flight
//! high, flush latency high) from a saturated core (in flight low).
//!
//! Thread-local on purpose: each shard is one executor thread with its own io_uring, so the
//! thread's gauge is the shard's, and the hot path pays two cell updates per I/O instead of
//! threading a handle through every file.

use std::cell::Cell;
use std::future::Future;

/// Kinds of device I/O counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoKind {
    /// A direct-I/O read.
    Read,
    /// A direct-I/O write.
    Write,
    /// An fdatasync.
    Sync,
    /// A new segment's preallocation (fallocate).
    Allocate,
}

/// The gauge as read at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoInFlight {
    /// Operations in flight now.
    pub now: u64,
    /// Most operations in flight at once since the previous [`take`].
    pub peak: u64,
    /// Reads, writes and syncs issued since the thread started.
    pub reads: u64,
    /// Writes issued.
    pub writes: u64,
    /// Syncs issued.
    pub syncs: u64,
    /// Segment preallocations issued.
    pub allocations: u64,
}

#[derive(Default)]
struct Gauge {
    now: Cell<u64>,
    peak: Cell<u64>,
    reads: Cell<u64>,
    writes: Cell<u64>,
    syncs: Cell<u64>,
    allocations: Cell<u64>,
}

thread_local! {
    static GAUGE: Gauge = Gauge::default();
}

/// Decrements the gauge when the I/O completes or its future is dropped.
struct InFlightGuard;

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        // try_with: a future dropped while the thread's locals are torn down must not panic.
        let _ = GAUGE.try_with(|g| {
            debug_assert!(g.now.get() > 0, "I/O gauge underflow");
            g.now.set(g.now.get().saturating_sub(1));
        });
    }
}

/// Runs `io`, counted in flight from its first poll (when glommio submits it) to its end.
pub async fn tracked<T>(kind: IoKind, io: impl Future<Output = T>) -> T {
    let _guard = GAUGE.with(|g| {
        let n = g.now.get() + 1;
        g.now.set(n);
        g.peak.set(g.peak.get().max(n));
        let by_kind = match kind {
            IoKind::Read => &g.reads,
            IoKind::Write => &g.writes,
            IoKind::Sync => &g.syncs,
            IoKind::Allocate => &g.allocations,
        };
        by_kind.set(by_kind.get() + 1);
        InFlightGuard
    });
    io.await
}

/// The gauge now; restarts the peak from the current level.
pub fn take() -> IoInFlight {
    GAUGE.with(|g| {
        let out = IoInFlight {
            now: g.now.get(),
            peak: g.peak.get(),
            reads: g.reads.get(),
            writes: g.writes.get(),
            syncs: g.syncs.get(),
            allocations: g.allocations.get(),
        };
        g.peak.set(g.now.get());
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_concurrent_io_and_peak_restarts_on_take() {
        // A fresh thread: the gauge is per thread.
        std::thread::spawn(|| {
            futures_lite::future::block_on(async {
                let (tx, rx) = one_shot();
                let a = tracked(IoKind::Write, rx.recv_one());
                let b = tracked(IoKind::Sync, async {});
                // `a` waits on the channel: one write in flight while the sync runs.
                let mut a = Box::pin(a);
                assert!(futures_lite::future::poll_once(&mut a).await.is_none());
                assert_eq!(take().now, 1);
                b.await;
                tx.send_one();
                a.await;
                let seen = take();
                assert_eq!(
                    (seen.now, seen.peak, seen.writes, seen.syncs, seen.reads),
                    (0, 2, 1, 1, 0)
                );
                assert_eq!(take().peak, 0, "peak restarts from the current level");
                // A dropped, never-finished I/O leaves the gauge too.
                let (_tx, rx) = one_shot();
                let mut c = Box::pin(tracked(IoKind::Read, rx.recv_one()));
                assert!(futures_lite::future::poll_once(&mut c).await.is_none());
                assert_eq!(take().now, 1);
                drop(c);
                assert_eq!(take().now, 0);
            })
        })
        .join()
        .unwrap();
    }

    /// A one-shot signal built on a cell (no executor needed).
    fn one_shot() -> (Sender, Receiver) {
        let flag = std::rc::Rc::new(Cell::new(false));
        (Sender(flag.clone()), Receiver(flag))
    }
    struct Sender(std::rc::Rc<Cell<bool>>);
    struct Receiver(std::rc::Rc<Cell<bool>>);
    impl Sender {
        fn send_one(&self) {
            self.0.set(true);
        }
    }
    impl Receiver {
        async fn recv_one(&self) {
            futures_lite::future::poll_fn(|cx| {
                if self.0.get() {
                    std::task::Poll::Ready(())
                } else {
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await
        }
    }
}
