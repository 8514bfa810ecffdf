//! Accept loop: every accepted connection gets its own reader/writer tasks on this executor.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;

use glommio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};

use super::connection::{Connection, ConnectionLimits, RequestHandler};

/// Listen backlog (clients reconnect in bursts after a broker restart).
pub const LISTEN_BACKLOG: i32 = 1024;

/// Binds `addr` for one executor. With `reuse_port` several executors (cores) may bind the
/// same port and the kernel spreads connections; without it a second process on the port
/// fails with "address in use" instead of silently sharing it.
pub fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    bind_socket(addr, reuse_port).map(into_listener)
}

/// Binds and listens without an executor, so a role can fail on "address in use" before it
/// starts anything; [`into_listener`] then hands the socket to the executor that serves it.
pub fn bind_socket(addr: SocketAddr, reuse_port: bool) -> std::io::Result<Socket> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sk = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sk.set_reuse_address(true)?;
    if reuse_port {
        sk.set_reuse_port(true)?;
    }
    sk.bind(&addr.into())?;
    sk.listen(LISTEN_BACKLOG)?;
    Ok(sk)
}

/// How long a bind waits for a port held by a process that has just died: the kernel
/// releases a listening socket that io_uring still references only once it has torn the
/// dead process's rings down, a moment after the process is gone.
pub const BIND_IN_USE_WAIT_MS: u64 = 5_000;

/// Runs `bind` until it succeeds, fails for another reason than "address in use", or
/// [`BIND_IN_USE_WAIT_MS`] pass.
pub fn bind_waiting_for_release<T>(
    what: &str,
    bind: impl Fn() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(BIND_IN_USE_WAIT_MS);
    let mut told = false;
    loop {
        match bind() {
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < deadline =>
            {
                if !told {
                    tracing::warn!("{what} is in use; waiting up to {BIND_IN_USE_WAIT_MS} ms for it to be released");
                    told = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

/// Wraps a listening socket for the current executor.
pub fn into_listener(socket: Socket) -> TcpListener {
    // SAFETY: the descriptor is a listening socket handed over whole.
    unsafe { TcpListener::from_raw_fd(socket.into_raw_fd()) }
}

/// Connections one listener (one core) serves at once; more are closed on accept.
pub const MAX_CONNECTIONS_PER_LISTENER: usize = 16_384;

/// Accepts connections forever, serving each with `handler`.
pub async fn serve<H: RequestHandler>(
    listener: TcpListener,
    handler: Rc<H>,
    limits: ConnectionLimits,
) {
    let live = Rc::new(std::cell::Cell::new(0usize));
    let counted = Rc::new(Counted {
        inner: handler,
        live: live.clone(),
    });
    loop {
        match listener.accept().await {
            Ok(stream) => {
                if live.get() >= MAX_CONNECTIONS_PER_LISTENER {
                    tracing::warn!(
                        peer = ?stream.peer_addr().ok(),
                        "refusing connection: {MAX_CONNECTIONS_PER_LISTENER} already open"
                    );
                    drop(stream);
                    continue;
                }
                match Connection::spawn(stream, counted.clone(), limits) {
                    Ok(_) => live.set(live.get() + 1),
                    Err(e) => tracing::warn!("could not set up an accepted connection: {e}"),
                }
            }
            Err(e) => {
                // EMFILE and friends: back off briefly rather than spin.
                tracing::warn!("accept failed: {e}");
                glommio::timer::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Wraps a handler to count live connections.
struct Counted<H> {
    inner: Rc<H>,
    live: Rc<std::cell::Cell<usize>>,
}

impl<H: RequestHandler> RequestHandler for Counted<H> {
    async fn handle(
        &self,
        conn: &Connection,
        req: crate::protocol::RemotingCommand,
    ) -> Option<crate::protocol::RemotingCommand> {
        self.inner.handle(conn, req).await
    }

    fn on_close(&self, conn: &Connection) {
        self.live.set(self.live.get().saturating_sub(1));
        self.inner.on_close(conn);
    }

    fn moved(&self, conn: &Connection, core: usize, detached: super::Detached) {
        // Counted against this listener no more (the core taking it does not count it).
        self.live.set(self.live.get().saturating_sub(1));
        self.inner.moved(conn, core, detached);
    }
}
