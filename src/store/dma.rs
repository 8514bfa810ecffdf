//! Opening direct-I/O files, with glommio's iopoll probe primed first.
//!
//! glommio decides per block device whether reads and writes go to its polled (IOPOLL)
//! ring by issuing one read at offset 0 of the first file opened on that device, and caches
//! the answer for the process. If that file is empty or preallocated-but-unwritten, the
//! read completes without touching the device, the probe "succeeds", and every later real
//! read fails with EOPNOTSUPP on devices without poll queues (virtio, most EBS volumes).
//! So before the first open on a device we open a file holding synced data, which makes the
//! probe see a real device read. glommio caches per thread (executor), so this runs once per
//! device per executor thread, at open time only.

use std::cell::RefCell;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use glommio::io::{DmaFile, OpenOptions};

use super::segmented_file::FileError;

thread_local! {
    /// Devices whose probe this thread has primed (glommio's cache is thread-local too).
    static PRIMED_DEVICES: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// How to open.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write, created if absent.
    Create,
}

/// Opens `path` for direct I/O.
pub async fn open(path: &Path, mode: Mode) -> Result<DmaFile, FileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    prime(dir).await?;
    let mut o = OpenOptions::new();
    o.read(true);
    match mode {
        Mode::Read => {}
        Mode::ReadWrite => {
            o.write(true);
        }
        Mode::Create => {
            o.write(true).create(true);
        }
    }
    o.dma_open(path)
        .await
        .map_err(|e| FileError::io("open", path, e))
}

async fn prime(dir: &Path) -> Result<(), FileError> {
    let io = |e: std::io::Error| FileError::io("prime iopoll probe", dir, e);
    let dev = std::fs::metadata(dir).map_err(io)?.dev();
    if PRIMED_DEVICES.with(|d| d.borrow().contains(&dev)) {
        return Ok(());
    }
    let probe = dir.join(format!(
        ".coremq-iopoll-probe-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&probe, [0xA5u8; 4096]).map_err(io)?;
    std::fs::File::open(&probe)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    let opened = DmaFile::open(&probe).await;
    let _ = std::fs::remove_file(&probe);
    if let Ok(f) = opened {
        let _ = f.close().await;
    }
    PRIMED_DEVICES.with(|d| d.borrow_mut().push(dev));
    Ok(())
}
