//! How the shard store drives its index: open (load and re-index), every append, retention,
//! close. Kept here so the store's own files only call in.

use super::rebuild::{self, IndexOpenReport};
use super::writer;
use crate::store::error::StoreError;
use crate::store::record::NewMessage;
use crate::store::segmented_file::FileError;
use crate::store::shard_store::{Inner, ShardStore};

impl ShardStore {
    /// Loads the index, re-indexes the log past its runs and starts the writer (nothing
    /// when `messageIndexEnable` is off). Called by `open` before the store serves.
    pub(in crate::store) async fn open_message_index(&self) -> Result<IndexOpenReport, StoreError> {
        let cfg = &self.inner.cfg;
        let mut report = IndexOpenReport::default();
        if !cfg.message_index_enable {
            return Ok(report);
        }
        let (first, end) = {
            let log = self.inner.log.borrow();
            (log.file().first_offset(), log.end())
        };
        let dir = cfg.shard_dir().join("index");
        let idx = rebuild::load(
            &dir,
            cfg.message_index_buffer_entries,
            first,
            end,
            &mut report,
        )
        .await?;
        *self.inner.msg_index.borrow_mut() = Some(idx);
        report.reindexed = self.reindex_from(report.reindexed_from).await?;
        if report.reindexed > 0 || !report.refused.is_empty() {
            tracing::info!(
                shard = cfg.shard,
                ?report,
                "message index re-indexed from the log"
            );
        }
        // Like the flushers, the writer must get the core promptly: appends wait for it
        // once runs back up.
        let tq = crate::runtime::prompt_queue("index-writer");
        let task = glommio::spawn_local_into(writer::run_writer(self.inner.clone()), tq)
            .map_err(|e| StoreError::Io(FileError::io("spawn index writer", String::new(), e)))?
            .detach();
        *self.index_writer.borrow_mut() = Some(task);
        Ok(report)
    }

    /// Writes the buffer as a final run and stops the writer (a clean close leaves
    /// nothing to re-index).
    pub(in crate::store) async fn close_message_index(&self) {
        let inner = &self.inner;
        if let Some(i) = inner.msg_index.borrow_mut().as_mut() {
            i.seal_if_any();
        }
        inner.msg_index_closing.set(true);
        inner.msg_index_signal.kick();
        let task = self.index_writer.borrow_mut().take();
        if let Some(t) = task {
            t.await;
        }
    }

    /// Removes runs wholly below the log's first local offset `first`.
    pub(in crate::store) fn trim_message_index(&self, first: u64) -> Result<usize, StoreError> {
        let doomed = match self.inner.msg_index.borrow_mut().as_mut() {
            Some(i) => i.trim(first),
            None => return Ok(0),
        };
        for p in &doomed {
            std::fs::remove_file(p).map_err(|e| FileError::io("remove", p, e))?;
        }
        Ok(doomed.len())
    }

    /// Counters of the index (`None` when it is off).
    pub fn message_index_stats(&self) -> Option<super::IndexStats> {
        self.inner.msg_index.borrow().as_ref().map(|i| i.stats())
    }
}

impl Inner {
    /// True when sealed buffers wait for their runs at the limit: appends wait for the
    /// writer (see `ShardStore::wait_writable`).
    pub(in crate::store) fn index_backlogged(&self) -> bool {
        self.msg_index
            .borrow()
            .as_ref()
            .is_some_and(super::MessageIndex::backlogged)
    }

    /// Indexes one appended record (no I/O: a buffer push, and a wake-up when it sealed).
    pub(in crate::store) fn index_append(
        &self,
        m: &NewMessage,
        physical_offset: i64,
        size: u32,
        store_timestamp: i64,
        local_end: u64,
    ) {
        let sealed = self.msg_index.borrow_mut().as_mut().is_some_and(|i| {
            i.record(
                &m.topic,
                &m.properties,
                m.sys_flag,
                physical_offset,
                size,
                store_timestamp,
                local_end,
            )
        });
        if sealed {
            self.msg_index_signal.kick();
        }
    }

    /// Indexes one replicated record (a slave's append).
    pub(in crate::store) fn index_replicated(
        &self,
        r: &crate::store::record::Record<'_>,
        local_end: u64,
    ) {
        let sealed = self.msg_index.borrow_mut().as_mut().is_some_and(|i| {
            i.record(
                &r.topic(),
                &r.properties(),
                r.sys_flag(),
                r.physical_offset(),
                r.bytes().len() as u32,
                r.store_timestamp(),
                local_end,
            )
        });
        if sealed {
            self.msg_index_signal.kick();
        }
    }
}
