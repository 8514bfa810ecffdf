//! Executor set-up shared by every role.
//!
//! glommio registers `io_memory` with io_uring, which counts against `RLIMIT_MEMLOCK`
//! (often 8 MiB for a non-root user, and shared by every executor in the process). Roles
//! that do no direct file I/O ask for the minimum so they start on any host.

use std::future::Future;

use glommio::{LocalExecutorBuilder, Placement};

/// io_uring registered memory for an executor that does no storage I/O.
pub const NETWORK_ONLY_IO_MEMORY_BYTES: usize = 128 * 1024;

/// Runs `make()`'s future on a new, unpinned glommio executor thread named `name` and
/// waits for it to finish.
pub fn run_unpinned<F, Fut, T>(name: &str, io_memory_bytes: usize, make: F) -> std::io::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let handle = LocalExecutorBuilder::new(Placement::Unbound)
        .name(name)
        .io_memory(io_memory_bytes)
        .spawn(make)
        .map_err(|e| std::io::Error::other(format!("starting executor {name}: {e}")))?;
    handle
        .join()
        .map_err(|e| std::io::Error::other(format!("executor {name}: {e}")))
}
