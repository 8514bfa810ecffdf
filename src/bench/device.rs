//! The raw ceiling of the device under the store: direct-I/O sequential writes of a given
//! block size, and fdatasync latency, measured with the same glommio file API the store uses.

use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::store::dma::{self, Mode};

/// What the device did.
#[derive(Debug, Clone)]
pub struct DeviceCeiling {
    /// Sequential direct-I/O write bandwidth, bytes/s.
    pub write_bytes_per_sec: f64,
    /// Write size used.
    pub block_bytes: usize,
    /// fdatasync after a 4 KiB write, microseconds.
    pub sync_us: Histogram<u64>,
}

/// Measures for about `duration` (split between the two tests) in `dir`.
pub async fn measure(
    dir: &Path,
    block_bytes: usize,
    duration: Duration,
) -> Result<DeviceCeiling, String> {
    let path = dir.join("coremq-device-probe");
    let file = dma::open(&path, Mode::Create)
        .await
        .map_err(|e| e.to_string())?;
    // Fresh, preallocated space written once, front to back: the conditions the commit log
    // writes under (new segments, never overwrites). Sized for up to 8 GB/s for the window
    // and removed afterwards; fallocate only reserves, it writes nothing.
    let span =
        ((8e9 * duration.as_secs_f64()) as u64 / block_bytes as u64 + 1) * block_bytes as u64;
    let blocks = (span / block_bytes as u64).max(1);
    file.pre_allocate(span, false)
        .await
        .map_err(|e| e.to_string())?;
    let write_for = duration.mul_f64(0.7);
    let file = Rc::new(file);
    let start = Instant::now();
    // Several writers, as the store's flusher keeps several chunk writes in flight.
    const IN_FLIGHT: u64 = 4;
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|k| {
            let file = file.clone();
            glommio::spawn_local(async move {
                let mut written = 0u64;
                let mut i = k;
                while start.elapsed() < write_for {
                    let mut buf = file.alloc_dma_buffer(block_bytes);
                    buf.as_bytes_mut().fill(0x5a);
                    let pos = (i % blocks) * block_bytes as u64;
                    i += IN_FLIGHT;
                    written += file.write_at(buf, pos).await.map_err(|e| e.to_string())? as u64;
                }
                Ok::<u64, String>(written)
            })
        })
        .collect();
    let mut written = 0u64;
    for t in tasks {
        written += t.await?;
    }
    file.fdatasync().await.map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let mut sync_us = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    let sync_for = duration - write_for;
    let s0 = Instant::now();
    let mut n = 0u64;
    while s0.elapsed() < sync_for && n < 100_000 {
        let mut buf = file.alloc_dma_buffer(4096);
        buf.as_bytes_mut().fill(n as u8);
        file.write_at(buf, (n % 1024) * 4096)
            .await
            .map_err(|e| e.to_string())?;
        let t = Instant::now();
        file.fdatasync().await.map_err(|e| e.to_string())?;
        let _ = sync_us.record(t.elapsed().as_micros() as u64);
        n += 1;
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok(DeviceCeiling {
        write_bytes_per_sec: written as f64 / secs,
        block_bytes,
        sync_us,
    })
}
