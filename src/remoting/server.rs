//! Accept loop: every accepted connection gets its own reader/writer tasks on this executor.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;

use glommio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};

use super::connection::{Connection, RequestHandler};

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

/// Wraps a listening socket for the current executor.
pub fn into_listener(socket: Socket) -> TcpListener {
    // SAFETY: the descriptor is a listening socket handed over whole.
    unsafe { TcpListener::from_raw_fd(socket.into_raw_fd()) }
}

/// Accepts connections forever, serving each with `handler`.
pub async fn serve<H: RequestHandler>(listener: TcpListener, handler: Rc<H>) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                if let Err(e) = Connection::spawn(stream, handler.clone()) {
                    tracing::warn!("could not set up an accepted connection: {e}");
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
