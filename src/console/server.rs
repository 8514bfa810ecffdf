//! The HTTP side: accepts connections and hands each to hyper's HTTP/1.1 state machine,
//! with the routes as its service.

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;

use super::{routes, Console};
use crate::http_io::HyperIo;

/// Connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 256;
/// Pause after a failed accept (out of descriptors), so the loop does not spin.
const ACCEPT_RETRY_MS: u64 = 100;

/// Serves connections until the process ends.
pub async fn serve(console: Rc<Console>, listener: glommio::net::TcpListener) {
    let open = Rc::new(Cell::new(0usize));
    loop {
        if open.get() >= MAX_CONNECTIONS {
            glommio::timer::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
            continue;
        }
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("console: accept: {e}");
                glommio::timer::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
                continue;
            }
        };
        let peer = stream.peer_addr().ok();
        let (c, open) = (console.clone(), open.clone());
        open.set(open.get() + 1);
        glommio::spawn_local(async move {
            let service = service_fn(move |req| {
                let c = c.clone();
                async move { Ok::<_, Infallible>(routes::handle(&c, req).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(HyperIo(stream), service)
                .await
            {
                tracing::debug!("console: connection {peer:?}: {e}");
            }
            open.set(open.get() - 1);
        })
        .detach();
    }
}
