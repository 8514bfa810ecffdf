//! One remoting connection on a glommio executor: framing, request/response matching by
//! opaque, oneway sends, server-initiated requests and timeouts, shared by servers and the
//! client.
//!
//! Each connection runs two tasks on the executor that owns it, sharing one socket (one
//! descriptor per connection: 10,000 clients cost 10,000 fds). glommio keeps separate
//! read and write readiness sources on a stream, so the reader and the writer wait
//! independently; each borrows the stream only inside a poll. Outgoing frames go to a
//! [`WriteQueue`]: small ones are encoded into one shared buffer, large bodies are queued
//! uncopied, and the writer sends everything queued since its last write in one call (a
//! plain send, or a vectored one when large bodies are among it), so a burst of responses
//! costs one syscall (group writes, not one write per frame). Buffers are allocated on
//! first use, so an idle connection holds little more than its read scratch.
//!
//! Limits: at most [`MAX_INFLIGHT_REQUESTS`] requests from the peer are processed at once,
//! and the reader stops taking requests while more than [`MAX_QUEUED_WRITE_BYTES`] (queued
//! plus being written) wait to be sent: a peer that does not read its responses stops being
//! served instead of growing memory. A handler about to build a big response reserves its
//! room first ([`Connection::reserve`]), so requests already taken wait there rather than
//! all building their responses at once. Responses of requests in flight still queue;
//! one that would take the unsent bytes past [`MAX_UNSENT_RESPONSE_BYTES`] closes the
//! connection and frees them, so no peer holds more than that of the memory (the queue's
//! buffer may hold up to twice its length while it grows).
//! A connection that completes no frame for [`CHANNEL_IDLE_MS`] (RocketMQ's 120 s; clients
//! heartbeat every 30 s) is closed, which also ends peers that trickle a frame or vanished
//! without a FIN, and a write that makes no progress for [`WRITE_TIMEOUT_MS`] closes it too.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::future::poll_fn;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use super::handover::{self, CoreTally, Detached, MOVE_MIN_INTERVAL_MS};
use super::large_frame;
use super::oneshot;
use super::write_queue::{Taken, WriteQueue};
use super::RemotingError;
use crate::protocol::command::{FLAG_ONEWAY, FLAG_RESPONSE};
use crate::protocol::{frame, RemotingCommand, ResponseCode};

/// Requests from one peer processed concurrently before the reader pauses.
pub const MAX_INFLIGHT_REQUESTS: usize = 4096;
/// Bytes queued for sending (or being written) before the reader stops taking requests
/// (and `request` callers wait): sixty-four full pull responses.
pub const MAX_QUEUED_WRITE_BYTES: usize = 16 * 1024 * 1024;
/// Unsent bytes at which a connection is closed rather than queue another response: the
/// reader has paused long before, so only responses of requests already in flight can get
/// here, from a peer that sent many requests and reads none of the answers.
pub const MAX_UNSENT_RESPONSE_BYTES: usize = 128 * 1024 * 1024;
/// Bytes read per call while no large frame is pending (a fixed, reused scratch buffer).
const READ_SCRATCH_BYTES: usize = 16 * 1024;
/// A connection that completes no frame for this long is closed.
pub const CHANNEL_IDLE_MS: u64 = 120_000;
/// A write that does not complete within this is treated as a dead peer.
pub const WRITE_TIMEOUT_MS: u64 = 30_000;
/// Buffers larger than this are released once empty (after a big frame).
pub(super) const SHRINK_ABOVE_BYTES: usize = 1 << 20;

/// Serves the requests a peer sends on a connection.
pub trait RequestHandler: 'static {
    /// Handles one request. The response is dropped if the request was oneway.
    fn handle(
        &self,
        conn: &Connection,
        req: RemotingCommand,
    ) -> impl Future<Output = Option<RemotingCommand>>;

    /// Called once when the connection has closed, for any reason but a move (then
    /// [`Self::moved`] is called instead).
    fn on_close(&self, _conn: &Connection) {}

    /// Takes a connection that left this core for `core` at the handler's request
    /// ([`Connection::request_move`]); it is closed here, its socket is in `detached`.
    /// Handlers that ask for moves implement this; by default the socket is closed.
    fn moved(&self, conn: &Connection, core: usize, detached: Detached) {
        tracing::warn!(peer = %conn.peer(), core, "connection moved without a taker; closing it");
        drop(detached);
    }
}

/// Java's answer to an unknown request code.
pub fn not_supported(req: &RemotingCommand) -> RemotingCommand {
    req.error(
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
        format!(" request type {} not supported", req.code),
    )
}

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// Per-executor connection counts, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Connections open now (accepted and connected).
    pub open: u64,
    /// Times a reader stopped taking requests because its peer's responses were unsent.
    pub paused: u64,
    /// Connections closed because their unsent responses reached
    /// [`MAX_UNSENT_RESPONSE_BYTES`].
    pub closed_unsent: u64,
    /// Connections handed to another core ([`handover`]).
    pub moved_out: u64,
    /// Bytes queued, being written or reserved for peers, summed over the open
    /// connections: what slow readers hold in memory now.
    pub unsent_bytes: u64,
}

thread_local! {
    static STATS: Cell<ConnectionStats> = Cell::new(ConnectionStats::default());
    /// This executor's open connections, for the unsent-bytes gauge (read at scrape time,
    /// so the write path keeps no extra counter).
    static LIVE: RefCell<HashMap<u64, Weak<Inner>>> = RefCell::new(HashMap::new());
}

/// This executor's connection counts (open now; back-pressure since it started) and the
/// bytes its peers have not been sent yet.
pub fn stats() -> ConnectionStats {
    let mut s = STATS.with(Cell::get);
    s.unsent_bytes = LIVE.with(|live| {
        live.borrow()
            .values()
            .filter_map(Weak::upgrade)
            .map(|inner| Connection(inner).queued_bytes() as u64)
            .sum()
    });
    s
}

fn count(f: impl FnOnce(&mut ConnectionStats)) {
    STATS.with(|c| {
        let mut v = c.get();
        f(&mut v);
        c.set(v);
    });
}

/// One side (reader or writer) of a stream both tasks share. A borrow lasts one poll and
/// the executor runs one task at a time, so the two never overlap.
struct Half(Rc<RefCell<TcpStream>>);

impl futures_lite::AsyncRead for Half {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut *self.0.borrow_mut()).poll_read(cx, buf)
    }
}

impl futures_lite::AsyncWrite for Half {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut *self.0.borrow_mut()).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.0.borrow_mut()).poll_flush(cx)
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.0.borrow_mut()).poll_close(cx)
    }
}

/// Per-connection settings.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Close the connection when no whole frame arrives for this long.
    pub idle: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            idle: Duration::from_millis(CHANNEL_IDLE_MS),
        }
    }
}

struct Inner {
    id: u64,
    peer: SocketAddr,
    limits: ConnectionLimits,
    fd: RawFd,
    out: RefCell<WriteQueue>,
    /// Bytes the writer has taken from the queue and not yet finished writing.
    writing: Cell<usize>,
    /// Bytes reserved by handlers building big responses ([`Connection::reserve`]).
    reserved: Cell<usize>,
    pending: RefCell<HashMap<i32, oneshot::Sender<RemotingCommand>>>,
    next_opaque: Cell<i32>,
    closed: Cell<bool>,
    inflight: Cell<usize>,
    reader_waker: RefCell<Option<Waker>>,
    /// Where this connection's requests ran, for [`Connection::note_core`].
    tally: RefCell<CoreTally>,
    /// A move the handler asked for, carried out by the reader.
    move_to: Cell<Option<usize>>,
    /// When the connection last moved here, or last failed to settle for a move.
    move_tried: Cell<Option<std::time::Instant>>,
}

/// A cheap, clonable handle to a live (or closed) connection.
#[derive(Clone)]
pub struct Connection(Rc<Inner>);

impl Connection {
    /// Takes over an accepted or connected stream: spawns its reader and writer tasks on the
    /// current executor and returns the handle.
    pub fn spawn<H: RequestHandler>(
        stream: TcpStream,
        handler: Rc<H>,
        limits: ConnectionLimits,
    ) -> std::io::Result<Self> {
        let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
        Self::start(stream, handler, limits, id, BytesMut::new(), None)
    }

    /// Serves a connection another core detached for this one ([`handover`]), with its
    /// id and the bytes it had read.
    pub fn adopt<H: RequestHandler>(detached: Detached, handler: Rc<H>) -> std::io::Result<Self> {
        let Detached {
            fd,
            unread,
            id,
            limits,
        } = detached;
        // SAFETY: the descriptor is a connected TCP socket handed over whole.
        let stream = unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) };
        let moved_at = std::time::Instant::now();
        Self::start(stream, handler, limits, id, unread, Some(moved_at))
    }

    fn start<H: RequestHandler>(
        stream: TcpStream,
        handler: Rc<H>,
        limits: ConnectionLimits,
        id: u64,
        unread: BytesMut,
        moved_at: Option<std::time::Instant>,
    ) -> std::io::Result<Self> {
        let peer = stream.peer_addr()?;
        // Requests and responses are small and latency-bound.
        stream.set_nodelay(true)?;
        let fd = stream.as_raw_fd();
        let stream = Rc::new(RefCell::new(stream));
        let conn = Connection(Rc::new(Inner {
            id,
            peer,
            limits,
            fd,
            out: RefCell::new(WriteQueue::default()),
            writing: Cell::new(0),
            reserved: Cell::new(0),
            pending: RefCell::new(HashMap::new()),
            next_opaque: Cell::new(1),
            closed: Cell::new(false),
            inflight: Cell::new(0),
            reader_waker: RefCell::new(None),
            tally: RefCell::new(CoreTally::default()),
            move_to: Cell::new(None),
            move_tried: Cell::new(moved_at),
        }));
        count(|c| c.open += 1);
        LIVE.with(|live| live.borrow_mut().insert(conn.id(), Rc::downgrade(&conn.0)));
        glommio::spawn_local(write_loop(conn.clone(), Half(stream.clone()))).detach();
        glommio::spawn_local(read_loop(conn.clone(), Half(stream), handler, unread)).detach();
        Ok(conn)
    }

    /// Connects to `addr` and spawns the connection, `handler` serving server-initiated
    /// requests.
    pub async fn connect<H: RequestHandler>(
        addr: SocketAddr,
        handler: Rc<H>,
        timeout: Duration,
    ) -> Result<Self, RemotingError> {
        let stream = TcpStream::connect_timeout(addr, timeout)
            .await
            .map_err(|e| RemotingError::Connect {
                addr,
                reason: e.to_string(),
            })?;
        Connection::spawn(stream, handler, ConnectionLimits::default()).map_err(|e| {
            RemotingError::Connect {
                addr,
                reason: e.to_string(),
            }
        })
    }

    /// Process-unique id of this connection.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.0.peer
    }

    /// True once the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.0.closed.get()
    }

    /// Counts one request whose work ran on `core` (this connection is served on
    /// `here`); gives the core it should move to when a window of requests says so and it
    /// has not moved in the last [`MOVE_MIN_INTERVAL_MS`] ([`handover`]).
    pub fn note_core(&self, core: usize, here: usize) -> Option<usize> {
        let target = self.0.tally.borrow_mut().note(core, here)?;
        let recent = self
            .0
            .move_tried
            .get()
            .is_some_and(|t| t.elapsed() < Duration::from_millis(MOVE_MIN_INTERVAL_MS));
        (!recent).then_some(target)
    }

    /// Asks the reader to move this connection to `core` once its requests in flight are
    /// answered; the handler's [`RequestHandler::moved`] then takes it.
    pub fn request_move(&self, core: usize) {
        self.0.move_to.set(Some(core));
    }

    /// Nothing in flight either way: every request taken is answered and written, and no
    /// request of ours awaits a reply.
    pub(super) fn settled(&self) -> bool {
        self.0.inflight.get() == 0 && self.0.pending.borrow().is_empty() && self.queued_bytes() == 0
    }

    /// Wakes `waker` when a request finishes or a write completes.
    pub(super) fn wake_reader_on_change(&self, waker: &Waker) {
        *self.0.reader_waker.borrow_mut() = Some(waker.clone());
    }

    /// Records a move that did not happen (the connection did not settle): the next is
    /// not suggested before [`MOVE_MIN_INTERVAL_MS`].
    pub(super) fn move_failed(&self) {
        self.0.move_tried.set(Some(std::time::Instant::now()));
    }

    /// The connection's limits.
    pub(super) fn limits(&self) -> ConnectionLimits {
        self.0.limits
    }

    /// Ends the connection on this core for a move: both tasks stop, the socket is left
    /// open (its duplicate travels on). Settled, so nothing queued or awaited is dropped.
    pub(super) fn close_for_move(&self) {
        debug_assert!(self.settled(), "a connection moves only once settled");
        self.end(false);
    }

    /// The socket's descriptor.
    pub(super) fn fd(&self) -> RawFd {
        self.0.fd
    }

    /// Sends a request and waits for its response, at most `timeout`.
    pub async fn request(
        &self,
        mut cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, RemotingError> {
        self.wait_writable().await?;
        let opaque = self.next_opaque();
        cmd.opaque = opaque;
        cmd.flag &= !(FLAG_RESPONSE | FLAG_ONEWAY);
        let (tx, rx) = oneshot::channel();
        self.0.pending.borrow_mut().insert(opaque, tx);
        self.enqueue(&cmd);
        let code = cmd.code;
        let reply = async { rx.await.ok_or(RemotingError::Closed { addr: self.peer() }) };
        let expire = async {
            glommio::timer::sleep(timeout).await;
            Err(RemotingError::Timeout {
                addr: self.peer(),
                code,
                millis: timeout.as_millis() as u64,
            })
        };
        let result = futures_lite::future::or(reply, expire).await;
        if result.is_err() {
            self.0.pending.borrow_mut().remove(&opaque);
        }
        result
    }

    /// Sends a oneway request (no response expected). Refused, not queued, while the peer
    /// is not reading (the queue is over its limit): oneway sends are best effort.
    pub fn oneway(&self, mut cmd: RemotingCommand) -> Result<(), RemotingError> {
        if self.is_closed() || self.queued_bytes() > MAX_QUEUED_WRITE_BYTES {
            return Err(RemotingError::Closed { addr: self.peer() });
        }
        cmd.opaque = self.next_opaque();
        cmd.flag = (cmd.flag & !FLAG_RESPONSE) | FLAG_ONEWAY;
        self.enqueue(&cmd);
        Ok(())
    }

    /// Queues a response (or any prepared frame) for sending. A peer whose unsent bytes
    /// would pass [`MAX_UNSENT_RESPONSE_BYTES`] is not reading: its connection is closed
    /// (and the bytes freed) instead.
    pub fn send(&self, cmd: &RemotingCommand) {
        if self.is_closed() {
            return;
        }
        // Checked before encoding, so the queue's buffer never grows past the limit.
        let unsent = self.queued_bytes() + cmd.body.len();
        if unsent > MAX_UNSENT_RESPONSE_BYTES {
            tracing::warn!(
                peer = %self.peer(),
                unsent,
                "closing connection: its peer reads none of its responses"
            );
            count(|b| b.closed_unsent += 1);
            self.close();
            return;
        }
        self.enqueue(cmd);
    }

    /// Closes the connection: pending requests fail, both tasks end, `on_close` runs.
    pub fn close(&self) {
        self.end(true);
    }

    /// Ends both tasks; with `shutdown`, the socket too (a move keeps it for its duplicate).
    fn end(&self, shutdown: bool) {
        if self.0.closed.replace(true) {
            return;
        }
        if shutdown {
            // Waking the blocked read: shutdown makes it return 0 at once.
            // SAFETY: the fd stays open until both tasks have dropped their halves.
            unsafe { libc::shutdown(self.0.fd, libc::SHUT_RDWR) };
        }
        self.0.pending.borrow_mut().clear();
        let wakers = {
            let mut out = self.0.out.borrow_mut();
            // Unsent bytes go now: nobody will read them.
            out.clear();
            let mut w: Vec<Waker> = out.drained.drain(..).collect();
            w.extend(out.writer.take());
            w
        };
        wakers.into_iter().for_each(Waker::wake);
        if let Some(w) = self.0.reader_waker.borrow_mut().take() {
            w.wake();
        }
    }

    fn next_opaque(&self) -> i32 {
        let o = self.0.next_opaque.get();
        self.0.next_opaque.set(o.wrapping_add(1).max(1));
        o
    }

    fn enqueue(&self, cmd: &RemotingCommand) {
        let waker = {
            let mut out = self.0.out.borrow_mut();
            if let Err(e) = out.push(cmd) {
                tracing::warn!(peer = %self.peer(), code = cmd.code, "cannot send: {e}");
                if cmd.is_response() {
                    // The peer still gets an answer for its opaque.
                    let mut short = cmd.clone();
                    short.code = ResponseCode::SYSTEM_ERROR.code();
                    short.remark = Some(format!("response too large to send: {e}"));
                    short.ext = crate::protocol::ExtFields::new();
                    short.body = bytes::Bytes::new();
                    let _ = out.push(&short);
                }
            }
            out.writer.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Bytes queued, being written or reserved: what the peer has not yet been sent.
    fn queued_bytes(&self) -> usize {
        self.0.out.borrow().len() + self.0.writing.get() + self.0.reserved.get()
    }

    /// Waits until the peer's unsent bytes are at most [`MAX_QUEUED_WRITE_BYTES`], then
    /// counts `bytes` more as unsent until the returned guard drops: a handler about to
    /// build a big response (a pull) takes this first, so many such requests from a peer
    /// that reads nothing wait here instead of all building their responses at once.
    /// Fails once the connection has closed.
    pub async fn reserve(&self, bytes: usize) -> Result<Reservation, RemotingError> {
        self.wait_writable().await?;
        self.0.reserved.set(self.0.reserved.get() + bytes);
        Ok(Reservation {
            conn: self.clone(),
            bytes,
        })
    }

    /// Wakes the tasks waiting for the unsent bytes to fall to the limit, if they have.
    fn wake_if_drained(&self) {
        let drained: Vec<Waker> = {
            let below = self.queued_bytes() <= MAX_QUEUED_WRITE_BYTES;
            let mut out = self.0.out.borrow_mut();
            if below {
                out.drained.drain(..).collect()
            } else {
                Vec::new()
            }
        };
        drained.into_iter().for_each(Waker::wake);
    }

    /// Waits until the peer's unsent bytes are at most [`MAX_QUEUED_WRITE_BYTES`]; fails
    /// once the connection has closed.
    async fn wait_writable(&self) -> Result<(), RemotingError> {
        poll_fn(|cx| {
            if self.is_closed() {
                return Poll::Ready(Err(RemotingError::Closed { addr: self.peer() }));
            }
            if self.queued_bytes() <= MAX_QUEUED_WRITE_BYTES {
                return Poll::Ready(Ok(()));
            }
            let mut out = self.0.out.borrow_mut();
            out.drained.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    fn complete(&self, resp: RemotingCommand) {
        let waiter = self.0.pending.borrow_mut().remove(&resp.opaque);
        match waiter {
            Some(tx) => tx.send(resp),
            None => tracing::debug!(
                peer = %self.peer(),
                opaque = resp.opaque,
                "response matches no outstanding request (late or unknown); dropped"
            ),
        }
    }
}

/// Bytes counted as unsent for a response being built; released when dropped (just
/// before the response is queued).
pub struct Reservation {
    conn: Connection,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let inner = &self.conn.0;
        inner
            .reserved
            .set(inner.reserved.get().saturating_sub(self.bytes));
        self.conn.wake_if_drained();
        if let Some(w) = inner.reader_waker.borrow_mut().take() {
            w.wake();
        }
    }
}

async fn write_loop(conn: Connection, mut stream: Half) {
    let mut spare = BytesMut::new();
    loop {
        let taken = poll_fn(|cx| {
            let mut out = conn.0.out.borrow_mut();
            if let Some(taken) = out.take(&mut spare) {
                conn.0.writing.set(taken.len());
                return Poll::Ready(Some(taken));
            }
            if conn.is_closed() {
                return Poll::Ready(None);
            }
            out.writer = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        let Some(taken) = taken else {
            break;
        };
        let write = async {
            match taken {
                Taken::Buffer(_) => stream.write_all(&spare).await,
                Taken::Segments(mut s) => s.write_all(conn.0.fd, &mut stream).await,
            }
            .map_err(|e| e.to_string())
        };
        let timeout = async {
            glommio::timer::sleep(Duration::from_millis(WRITE_TIMEOUT_MS)).await;
            Err(format!("no progress for {WRITE_TIMEOUT_MS} ms"))
        };
        let written = futures_lite::future::or(write, timeout).await;
        conn.0.writing.set(0);
        if let Err(e) = written {
            tracing::debug!(peer = %conn.peer(), "write failed, closing: {e}");
            conn.close();
            break;
        }
        spare.clear();
        if spare.capacity() > SHRINK_ABOVE_BYTES {
            spare = BytesMut::new();
        }
        conn.wake_if_drained();
        if let Some(w) = conn.0.reader_waker.borrow_mut().take() {
            w.wake();
        }
    }
}

async fn read_loop<H: RequestHandler>(
    conn: Connection,
    mut stream: Half,
    handler: Rc<H>,
    mut buf: BytesMut,
) {
    let mut scratch = vec![0u8; READ_SCRATCH_BYTES];
    let mut last_frame = std::time::Instant::now();
    let outcome = loop {
        match drain_frames(&conn, &handler, &mut buf) {
            Ok(0) => {}
            Ok(_) => last_frame = std::time::Instant::now(),
            Err(e) => {
                // Logged once per connection: the connection ends right here.
                tracing::warn!(peer = %conn.peer(), "malformed frame, closing connection: {e}");
                break Ended::Closed("malformed frame");
            }
        }
        // Not while a request of ours awaits the peer's reply: only this reader could take
        // it, so the connection could not settle; the move waits for a later pass.
        let awaiting_reply = !conn.0.pending.borrow().is_empty();
        if let Some(core) = conn.0.move_to.get().filter(|_| !awaiting_reply) {
            conn.0.move_to.set(None);
            if let Some(detached) = handover::detach(&conn, &mut buf).await {
                break Ended::Moved(core, detached);
            }
        }
        if buf.is_empty() && buf.capacity() > SHRINK_ABOVE_BYTES {
            buf = BytesMut::new();
        }
        wait_for_capacity(&conn).await;
        if conn.is_closed() {
            break Ended::Closed("closed");
        }
        if frame::frame_len(&buf).is_ok_and(|len| len.is_some_and(|n| 4 + n <= buf.len())) {
            // Whole frames left over from before a pause: serve them before reading more.
            continue;
        }
        let idle_left = conn.0.limits.idle.saturating_sub(last_frame.elapsed());
        let read = async {
            match frame::frame_len(&buf) {
                // A large frame in progress (`buf` holds only its start, and `decode` has
                // reserved its full size): filled in place, handed over without copying.
                Ok(Some(total)) if 4 + total > buf.len() + READ_SCRATCH_BYTES => {
                    large_frame::fill(conn.0.fd, &mut stream, &mut buf, 4 + total, &mut scratch)
                        .await
                }
                // Small reads go through a fixed scratch buffer: nothing is zero-filled.
                _ => {
                    let n = stream.read(&mut scratch).await?;
                    buf.extend_from_slice(&scratch[..n]);
                    Ok(n)
                }
            }
        };
        let idle = async {
            glommio::timer::sleep(idle_left).await;
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))
        };
        match futures_lite::future::or(read, idle).await {
            Ok(0) => break Ended::Closed("peer closed"),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                tracing::info!(peer = %conn.peer(), "closing connection: no complete frame for {} ms", conn.0.limits.idle.as_millis());
                break Ended::Closed("idle");
            }
            Err(e) => {
                tracing::debug!(peer = %conn.peer(), "read failed: {e}");
                break Ended::Closed("read error");
            }
        }
    };
    if let Ended::Closed(why) = &outcome {
        tracing::debug!(peer = %conn.peer(), id = conn.id(), "connection ended: {why}");
        conn.close();
    }
    count(|c| c.open = c.open.saturating_sub(1));
    LIVE.with(|live| live.borrow_mut().remove(&conn.id()));
    match outcome {
        Ended::Moved(core, detached) => {
            tracing::debug!(peer = %conn.peer(), id = conn.id(), core, "connection moves to another core");
            count(|c| c.moved_out += 1);
            handler.moved(&conn, core, detached);
        }
        Ended::Closed(_) => handler.on_close(&conn),
    }
}

/// How a connection's reader ended on this core.
enum Ended {
    /// Closed, and why.
    Closed(&'static str),
    /// Detached for the core given ([`handover`]).
    Moved(usize, Detached),
}

/// Dispatches whole frames in `buf` while the connection has capacity; returns how many.
/// Frames past the capacity stay in `buf` until it returns.
fn drain_frames<H: RequestHandler>(
    conn: &Connection,
    handler: &Rc<H>,
    buf: &mut BytesMut,
) -> Result<usize, frame::FrameError> {
    let mut n = 0;
    while has_capacity(conn) {
        let Some(cmd) = frame::decode(buf)? else {
            break;
        };
        dispatch(conn, handler, cmd);
        n += 1;
    }
    Ok(n)
}

/// Room for another request: few enough in flight and few enough bytes unsent.
fn has_capacity(conn: &Connection) -> bool {
    conn.0.inflight.get() < MAX_INFLIGHT_REQUESTS && conn.queued_bytes() <= MAX_QUEUED_WRITE_BYTES
}

/// Pauses reading while too many requests are in flight or too many bytes wait to be sent.
async fn wait_for_capacity(conn: &Connection) {
    let mut counted = false;
    poll_fn(|cx| {
        if conn.is_closed() || has_capacity(conn) {
            return Poll::Ready(());
        }
        if !counted {
            counted = true;
            count(|b| b.paused += 1);
        }
        *conn.0.reader_waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    })
    .await
}

fn dispatch<H: RequestHandler>(conn: &Connection, handler: &Rc<H>, cmd: RemotingCommand) {
    if cmd.is_response() {
        conn.complete(cmd);
        return;
    }
    let oneway = cmd.is_oneway();
    let conn = conn.clone();
    let handler = handler.clone();
    conn.0.inflight.set(conn.0.inflight.get() + 1);
    glommio::spawn_local(async move {
        use futures_lite::FutureExt as _;
        let code = cmd.code;
        let skeleton = cmd.success();
        // glommio does not catch task panics: one would take the whole executor (every
        // connection of this core) down. A handler bug costs only this request.
        let resp = std::panic::AssertUnwindSafe(handler.handle(&conn, cmd))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!(peer = %conn.peer(), code, "request handler panicked");
                Some(skeleton.error_response(ResponseCode::SYSTEM_ERROR, "internal error"))
            });
        if let (Some(resp), false) = (resp, oneway) {
            conn.send(&resp);
        }
        conn.0.inflight.set(conn.0.inflight.get() - 1);
        if let Some(w) = conn.0.reader_waker.borrow_mut().take() {
            w.wake();
        }
    })
    .detach();
}
