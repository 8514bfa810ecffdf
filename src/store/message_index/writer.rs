//! The index writer: one background task per shard that turns sealed buffers into runs.
//!
//! Sorting and encoding (~20 ms for 256 k entries) run on glommio's blocking pool, so the
//! shard's core keeps serving; the core only issues the direct-I/O writes. A failed write
//! keeps the sealed buffer (still searchable) and is retried every
//! [`INDEX_WRITE_RETRY_MS`].

use std::path::Path;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use futures_lite::future::poll_fn;

use super::entry::KeyEntry;
use super::index::Sealed;
use super::run::{encode, Run};
use crate::store::segmented_file::FileError;
use crate::store::shard_store::Inner;

/// Pause between retries of a failed run write.
pub const INDEX_WRITE_RETRY_MS: u64 = 1000;

/// Sorts a sealed buffer's entries and encodes its run image (blocking-pool work).
pub fn sorted_image(entries: &[KeyEntry], first: u64, end: u64) -> Vec<u8> {
    let mut v = entries.to_vec();
    v.sort_unstable();
    encode(&v, first, end)
}

/// Writes the run of one sealed buffer.
pub async fn write_sealed(dir: &Path, s: Sealed) -> Result<Run, FileError> {
    let Sealed {
        entries,
        first,
        end,
    } = s;
    let img = glommio::executor()
        .spawn_blocking(move || sorted_image(&entries, first, end))
        .await;
    Run::write(dir, img, first).await
}

/// Writes every sealed buffer, oldest first, and returns how many; stops at the first
/// failure.
pub(in crate::store) async fn drain(inner: &Inner) -> Result<usize, FileError> {
    let mut written = 0;
    loop {
        let next = inner.msg_index.borrow().as_ref().and_then(|i| {
            let s = i.next_sealed()?;
            Some((i.dir.clone(), s))
        });
        let Some((dir, s)) = next else {
            return Ok(written);
        };
        let run = write_sealed(&dir, s).await?;
        if let Some(i) = inner.msg_index.borrow_mut().as_mut() {
            i.install_run(run);
        }
        written += 1;
        inner.wake_admission(false);
    }
}

/// The writer loop; ends once the store is closing and nothing is left to write (or the
/// last attempt failed: the records stay in the log and are re-indexed at the next open).
pub(in crate::store) async fn run_writer(inner: Rc<Inner>) {
    loop {
        poll_fn(|cx| {
            if inner.msg_index_signal.take() || inner.msg_index_closing.get() {
                return Poll::Ready(());
            }
            inner.msg_index_signal.park(cx.waker());
            Poll::Pending
        })
        .await;
        inner.msg_index_signal.unpark();
        let closing = inner.msg_index_closing.get();
        let result = drain(&inner).await;
        let was_failing = inner.msg_index.borrow_mut().as_mut().map(|i| {
            let was = i.writer_failing();
            i.set_writer_failing(result.is_err());
            was
        });
        // Appends held back by the backlog go on (written, or no longer waited for). A
        // round that changed nothing (nothing written, still failing or still fine) wakes
        // nobody: a waiter for the log's flush would only kick this writer again.
        let wrote = matches!(result, Ok(n) if n > 0);
        if wrote || was_failing.is_none_or(|was| was != result.is_err()) {
            inner.wake_admission(true);
        }
        if let Err(e) = result {
            tracing::error!(
                shard = inner.cfg.shard,
                "message index run write failed: {e}"
            );
            if closing {
                return;
            }
            glommio::timer::sleep(Duration::from_millis(INDEX_WRITE_RETRY_MS)).await;
            inner.msg_index_signal.kick();
            continue;
        }
        if closing {
            return;
        }
    }
}
