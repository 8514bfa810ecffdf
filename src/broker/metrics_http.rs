//! The metrics endpoint: a minimal HTTP/1.1 server on shard 0 that answers `GET /metrics`
//! with [`super::metrics::scrape`] and closes the connection. Scrapes are rare (seconds
//! apart), so one request per connection and a bounded request size are enough.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};

use super::shard::Shard;

/// Largest request head read before answering 400.
pub const MAX_REQUEST_HEAD_BYTES: usize = 8 * 1024;
/// A scrape connection that sends nothing for this long is closed.
pub const REQUEST_TIMEOUT_MS: u64 = 5_000;

/// Binds `0.0.0.0:port` (so a Prometheus elsewhere can scrape).
pub fn bind(port: u16) -> Result<TcpListener, String> {
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    TcpListener::bind(addr).map_err(|e| format!("metricsPort={port}: cannot listen on {addr}: {e}"))
}

/// Serves scrapes until the process ends.
pub async fn serve(listener: TcpListener, shard: Rc<Shard>) {
    let memory = Rc::new(std::cell::RefCell::new(
        super::metrics::ScrapeMemory::default(),
    ));
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let (shard, memory) = (shard.clone(), memory.clone());
                glommio::spawn_local(async move {
                    if let Err(e) = answer(stream, &shard, &memory).await {
                        tracing::debug!("metrics request failed: {e}");
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

async fn answer(
    mut stream: TcpStream,
    shard: &Rc<Shard>,
    memory: &std::cell::RefCell<super::metrics::ScrapeMemory>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_millis(REQUEST_TIMEOUT_MS)))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST_HEAD_BYTES {
            return respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                "request too large\n",
            )
            .await;
        }
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => match super::metrics::scrape(shard, memory).await {
            Ok(body) => {
                respond(
                    &mut stream,
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    &body,
                )
                .await
            }
            Err(e) => respond(&mut stream, "500 Internal Server Error", "text/plain", &e).await,
        },
        ("GET", "/") => {
            respond(
                &mut stream,
                "200 OK",
                "text/plain",
                "coremq broker: metrics at /metrics\n",
            )
            .await
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", "not found\n").await,
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.close().await
}
