//! Moving a connection to another core (executor).
//!
//! Why: a connection is served by the core that accepted it, but a request's work may
//! belong to another core (the broker's queues are sharded by core). A client whose
//! requests nearly all go to one other core pays a cross-core hop (two wakeups, two
//! channel slots) on every request; served by that core, it pays none.
//!
//! How: the owner tallies where each request's work ran ([`CoreTally`], a window of
//! [`MOVE_WINDOW_REQUESTS`]). When one other core took at least [`MOVE_SHARE_PERCENT`] of a
//! window, the handler asks the connection to move. The reader then stops taking requests
//! and waits, at most [`MOVE_QUIESCE_MS`], until every request it took has its response
//! written and no request of ours awaits the peer's reply. It duplicates the socket's
//! descriptor and hands it, with the bytes read but not yet decoded, to the target core
//! ([`Detached`], which is `Send`), where [`super::Connection::adopt`] serves it with the
//! same connection id. Nothing is lost or reordered: the old core answers everything it
//! took before the new one reads anything. If the connection does not settle in time the
//! move is dropped and the connection goes on where it is.
//!
//! A connection moves (or tries to) at most once per [`MOVE_MIN_INTERVAL_MS`], so a client
//! whose pattern changes cannot make it bounce between cores, and one with a request that
//! stays parked (a long-polling pull) pauses its reads for a settle at most that often.

use std::os::fd::{FromRawFd, OwnedFd};
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::future::poll_fn;

use super::connection::{Connection, ConnectionLimits};

/// Requests per tally window: a move is decided on this many requests' cores.
pub const MOVE_WINDOW_REQUESTS: u32 = 1024;
/// Share of a window (percent) one other core must take for the connection to move there.
pub const MOVE_SHARE_PERCENT: u32 = 90;
/// Longest wait for a moving connection's requests to be answered before the move is
/// dropped (the reader takes no request meanwhile). Settling takes one round of answers;
/// a request parked longer (a long-polling pull, a SYNC_FLUSH wait) makes it fail.
pub const MOVE_QUIESCE_MS: u64 = 200;
/// Shortest time between two moves of one connection, or after a move that failed to
/// settle.
pub const MOVE_MIN_INTERVAL_MS: u64 = 10_000;

/// Where a connection's requests ran, over the current window.
#[derive(Debug, Default)]
pub(super) struct CoreTally {
    /// Requests counted in this window.
    seen: u32,
    /// Requests per core (index), grown on first use.
    per_core: Vec<u32>,
}

impl CoreTally {
    /// Counts one request whose work ran on `core`; at the end of a window, the core that
    /// took at least [`MOVE_SHARE_PERCENT`] of it if that is not `here`.
    pub(super) fn note(&mut self, core: usize, here: usize) -> Option<usize> {
        if self.per_core.len() <= core {
            self.per_core.resize(core + 1, 0);
        }
        self.per_core[core] += 1;
        self.seen += 1;
        if self.seen < MOVE_WINDOW_REQUESTS {
            return None;
        }
        let (top, n) = self
            .per_core
            .iter()
            .copied()
            .enumerate()
            .max_by_key(|&(_, n)| n)
            .unwrap_or((here, 0));
        let seen = self.seen;
        self.seen = 0;
        self.per_core.iter_mut().for_each(|n| *n = 0);
        (top != here && u64::from(n) * 100 >= u64::from(seen) * u64::from(MOVE_SHARE_PERCENT))
            .then_some(top)
    }
}

/// A connection taken off its core, to be served by another ([`super::Connection::adopt`]).
/// Dropping it closes the socket (the peer reconnects).
#[derive(Debug)]
pub struct Detached {
    pub(super) fd: OwnedFd,
    /// Bytes read from the socket and not yet decoded (the start of the next frames).
    pub(super) unread: BytesMut,
    pub(super) id: u64,
    pub(super) limits: ConnectionLimits,
}

impl Detached {
    /// The connection's id (kept on the new core).
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// Settles `conn` for a move and takes its socket: `None` (the connection goes on here)
/// if it closed, or did not settle within [`MOVE_QUIESCE_MS`] (recorded, so the next try
/// waits [`MOVE_MIN_INTERVAL_MS`]), or the descriptor could not be duplicated. On success
/// the connection is closed here without touching the socket, and `unread` is taken.
pub(super) async fn detach(conn: &Connection, unread: &mut BytesMut) -> Option<Detached> {
    let settled = poll_fn(|cx| {
        if conn.is_closed() {
            return Poll::Ready(false);
        }
        if conn.settled() {
            return Poll::Ready(true);
        }
        conn.wake_reader_on_change(cx.waker());
        Poll::Pending
    });
    let timeout = async {
        glommio::timer::sleep(Duration::from_millis(MOVE_QUIESCE_MS)).await;
        false
    };
    if !futures_lite::future::or(settled, timeout).await {
        tracing::debug!(peer = %conn.peer(), "connection did not settle; it stays on this core");
        conn.move_failed();
        return None;
    }
    // SAFETY: fcntl duplicates a descriptor this connection owns and keeps open until its
    // tasks end; the duplicate is owned by the returned value alone.
    let dup = unsafe { libc::fcntl(conn.fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        tracing::warn!(peer = %conn.peer(), "cannot move connection: dup failed: {}", std::io::Error::last_os_error());
        return None;
    }
    // SAFETY: `dup` is a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(dup) };
    conn.close_for_move();
    Some(Detached {
        fd,
        unread: std::mem::take(unread),
        id: conn.id(),
        limits: conn.limits(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_dominated_by_another_core_asks_to_move() {
        let mut t = CoreTally::default();
        // 95 % on core 1, served on core 0: move at the window's end, not before.
        for i in 0..MOVE_WINDOW_REQUESTS - 1 {
            assert_eq!(t.note(if i % 20 == 0 { 0 } else { 1 }, 0), None);
        }
        assert_eq!(t.note(1, 0), Some(1));
        // The next window starts empty: alternating cores never ask.
        for i in 0..MOVE_WINDOW_REQUESTS * 3 {
            assert_eq!(t.note((i % 2) as usize, 0), None);
        }
        // Mostly local work never asks either.
        for _ in 0..MOVE_WINDOW_REQUESTS {
            assert_eq!(t.note(0, 0), None);
        }
    }

    #[test]
    fn the_share_threshold_is_inclusive_and_exact() {
        let mut t = CoreTally::default();
        let on_other = MOVE_WINDOW_REQUESTS * MOVE_SHARE_PERCENT / 100 + 1;
        let mut asked = None;
        for i in 0..MOVE_WINDOW_REQUESTS {
            asked = t.note(if i < on_other { 2 } else { 0 }, 0);
        }
        assert_eq!(asked, Some(2));
        let below = MOVE_WINDOW_REQUESTS * MOVE_SHARE_PERCENT / 100 - 1;
        for i in 0..MOVE_WINDOW_REQUESTS {
            asked = t.note(if i < below { 2 } else { 0 }, 0);
        }
        assert_eq!(asked, None);
    }
}
