//! A bound on how long an executor sleeps with work queued: every executor keeps a read of
//! a periodic timerfd in flight on io_uring's main ring, the ring glommio sleeps on, so a
//! sleep ends within [`WAKE_BOUND_MS`] whatever else happens.
//!
//! Why: glommio 0.9 can park an executor that has runnable tasks (the preemption race in
//! the module docs of [`crate::runtime`]). Then only an unrelated completion wakes it, and
//! at boot or idle there is none. Each wakeup makes glommio look at its queues again, so a
//! parked executor now loses at most one tick. The price is one 8-byte read per tick per
//! executor (100 a second, idle or not).

use std::io;
use std::os::fd::FromRawFd;

use glommio::io::BufferedFile;

/// Longest an executor sleeps with work it was not woken for, ms.
pub const WAKE_BOUND_MS: u64 = 10;

/// Bytes a timerfd read returns: the count of expirations since the last read.
const TIMERFD_READ_BYTES: usize = 8;

/// Starts the tick on the current executor; it runs until the executor stops.
pub fn start() -> io::Result<()> {
    let file = periodic_timerfd(WAKE_BOUND_MS)?;
    glommio::spawn_local(async move {
        loop {
            // A timerfd read does not fail; if one does, the executor merely loses the
            // bound, so say so and stop.
            if let Err(e) = file.read_at(0, TIMERFD_READ_BYTES).await {
                tracing::warn!("the wake tick stopped: {e}");
                return;
            }
        }
    })
    .detach();
    Ok(())
}

/// A timerfd that expires every `period_ms`, wrapped so that glommio reads it through the
/// main ring (buffered reads go there). Blocking mode on purpose: io_uring then waits for
/// an expiration instead of completing the read with `EAGAIN`.
fn periodic_timerfd(period_ms: u64) -> io::Result<BufferedFile> {
    // SAFETY: plain syscall; the result is checked before use.
    let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let period = libc::timespec {
        tv_sec: (period_ms / 1000) as libc::time_t,
        tv_nsec: ((period_ms % 1000) * 1_000_000) as libc::c_long,
    };
    let spec = libc::itimerspec {
        it_interval: period,
        it_value: period,
    };
    // SAFETY: `fd` is the timerfd created above and `spec` outlives the call.
    if unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) } < 0 {
        let e = io::Error::last_os_error();
        // SAFETY: we own `fd` and nothing else refers to it.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    // SAFETY: `fd` is open and owned by nothing else; the file closes it.
    Ok(unsafe { BufferedFile::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// On an executor with nothing else to do, the tick's reads complete, about one per
    /// period: the sleeping executor is woken by them.
    #[test]
    fn the_tick_wakes_an_idle_executor() {
        let (expirations, took) =
            crate::runtime::run_unpinned("wake-tick-test", 1 << 20, || async {
                let file = periodic_timerfd(WAKE_BOUND_MS).unwrap();
                let start = Instant::now();
                let mut expirations = 0u64;
                for _ in 0..5 {
                    let r = file.read_at(0, TIMERFD_READ_BYTES).await.unwrap();
                    let count: [u8; TIMERFD_READ_BYTES] = r[..].try_into().unwrap();
                    expirations += u64::from_ne_bytes(count);
                }
                (expirations, start.elapsed())
            })
            .unwrap();
        assert!(expirations >= 5, "{expirations} expirations");
        assert!(took >= Duration::from_millis(4 * WAKE_BOUND_MS), "{took:?}");
    }
}
