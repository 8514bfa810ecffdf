//! The metrics endpoint on shard 0: `GET /metrics` answers [`super::metrics::scrape`].
//! HTTP/1.1 is hyper's (keep-alive included, so a Prometheus reuses its connection); a
//! scrape is seconds apart, so it shares shard 0's executor at no cost to the hot path.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use glommio::net::{TcpListener, TcpStream};
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};

use super::metrics::ScrapeMemory;
use super::shard::Shard;
use crate::http_io::HyperIo;

/// A scrape connection that sends nothing for this long is closed.
pub const REQUEST_TIMEOUT_MS: u64 = 5_000;
/// Largest request head hyper buffers before answering 431.
pub const MAX_REQUEST_HEAD_BYTES: usize = 8 * 1024;

/// Binds `0.0.0.0:port` (so a Prometheus elsewhere can scrape), with SO_REUSEADDR like
/// every listener of the broker: scrape connections the broker closed linger in TIME_WAIT
/// on this port for a minute, and a broker restarted meanwhile must still start (it
/// failed to, and a test that picked a recently used port failed with it).
pub fn bind(port: u16) -> Result<TcpListener, String> {
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    crate::remoting::server::bind_socket(addr, false)
        .map(crate::remoting::server::into_listener)
        .map_err(|e| format!("metricsPort={port}: cannot listen on {addr}: {e}"))
}

/// Serves scrapes until the process ends.
pub async fn serve(listener: TcpListener, shard: Rc<Shard>) {
    let memory = Rc::new(RefCell::new(ScrapeMemory::default()));
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let (shard, memory) = (shard.clone(), memory.clone());
                glommio::spawn_local(async move {
                    if let Err(e) = connection(stream, shard, memory).await {
                        tracing::debug!("metrics connection: {e}");
                    }
                })
                .detach();
            }
            Err(e) => {
                tracing::warn!("metrics listener: {e}");
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(
    stream: TcpStream,
    shard: Rc<Shard>,
    memory: Rc<RefCell<ScrapeMemory>>,
) -> Result<(), String> {
    // An idle or trickling client is cut off by the socket's own read timeout.
    stream
        .set_read_timeout(Some(Duration::from_millis(REQUEST_TIMEOUT_MS)))
        .map_err(|e| e.to_string())?;
    let service = service_fn(move |req| {
        let (shard, memory) = (shard.clone(), memory.clone());
        async move { Ok::<_, Infallible>(answer(req, &shard, &memory).await) }
    });
    http1::Builder::new()
        .max_buf_size(MAX_REQUEST_HEAD_BYTES)
        .serve_connection(HyperIo(stream), service)
        .await
        .map_err(|e| e.to_string())
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn answer<B>(
    req: Request<B>,
    shard: &Rc<Shard>,
    memory: &RefCell<ScrapeMemory>,
) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => match super::metrics::scrape(shard, memory).await {
            Ok(body) => text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                body,
            ),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", e),
        },
        (&Method::GET, "/") => text(
            StatusCode::OK,
            "text/plain",
            "coremq broker: metrics at /metrics\n".into(),
        ),
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}
