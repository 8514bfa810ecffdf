//! A shard's timer files under `<shard>/timer/`: one `<minute>.tm` per minute holding the
//! entries due in it (16 bytes each: due ms, timer-queue offset, big endian), and
//! `progress` ([`Progress`]: the last entry whose delivery survives a crash and where in
//! the shard's log later deliveries start, with a CRC, so a torn write reads as absent and
//! the older minute files are kept until a good one is written).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::{BufferedFile, OpenOptions};

use super::wheel::{minute_of, Entry};

/// Bytes of one entry.
pub const ENTRY_BYTES: usize = 16;
/// Minute files kept open for appends at once.
pub const MAX_OPEN_MINUTE_FILES: usize = 64;
const PROGRESS: &str = "progress";
/// The first format: the entry and its CRC.
const PROGRESS_V1_BYTES: usize = 20;
/// The entry, the scan start, and the CRC of both.
const PROGRESS_BYTES: usize = 28;

/// What the timer has delivered for good, as recorded in `progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Every entry at or below it was delivered, and its delivery survives a crash.
    pub watermark: Entry,
    /// Local log offset at or below which no later entry's delivery starts: a restart
    /// scans the log from here for deliveries the watermark does not cover yet. `None`
    /// in files of the first format (nothing to scan).
    pub scan_from: Option<u64>,
}

/// Decodes a minute file (a torn last entry is ignored).
pub fn decode(bytes: &[u8]) -> Vec<Entry> {
    bytes
        .chunks_exact(ENTRY_BYTES)
        .map(|c| {
            let mut due = [0u8; 8];
            let mut off = [0u8; 8];
            due.copy_from_slice(&c[..8]);
            off.copy_from_slice(&c[8..]);
            (i64::from_be_bytes(due), u64::from_be_bytes(off))
        })
        .collect()
}

fn encode_entry(e: Entry) -> Vec<u8> {
    let mut v = Vec::with_capacity(ENTRY_BYTES);
    v.extend_from_slice(&e.0.to_be_bytes());
    v.extend_from_slice(&e.1.to_be_bytes());
    v
}

/// The timer files of one shard.
pub struct TimerFiles {
    dir: PathBuf,
    open: RefCell<BTreeMap<i64, (Rc<BufferedFile>, u64)>>,
    progress: RefCell<Option<Rc<BufferedFile>>>,
}

impl TimerFiles {
    /// The files under `dir` (created if absent).
    pub fn new(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Self {
            dir: dir.to_owned(),
            open: RefCell::default(),
            progress: RefCell::default(),
        })
    }

    fn minute_path(&self, minute: i64) -> PathBuf {
        self.dir.join(format!("{minute}.tm"))
    }

    /// Minutes with a file, oldest first.
    pub fn minutes(&self) -> Vec<i64> {
        let mut m: Vec<i64> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .into_string()
                    .ok()?
                    .strip_suffix(".tm")?
                    .parse()
                    .ok()
            })
            .collect();
        m.sort_unstable();
        m
    }

    /// The progress recorded before the stop, if a good one was.
    pub fn read_progress(&self) -> Option<Progress> {
        let b = std::fs::read(self.dir.join(PROGRESS)).ok()?;
        let (data, crc) = match b.len() {
            PROGRESS_BYTES | PROGRESS_V1_BYTES => b.split_at(b.len() - 4),
            _ => return None,
        };
        if crc32c::crc32c(data).to_be_bytes() != crc {
            return None;
        }
        let watermark = decode(&data[..ENTRY_BYTES]).first().copied()?;
        let scan_from = data
            .get(ENTRY_BYTES..ENTRY_BYTES + 8)
            .and_then(|x| x.try_into().ok())
            .map(u64::from_be_bytes);
        Some(Progress {
            watermark,
            scan_from,
        })
    }

    /// Records the progress (one in-place write of [`PROGRESS_BYTES`]).
    pub async fn write_progress(&self, p: Progress) -> Result<(), String> {
        let open = self.progress.borrow().clone();
        let f = match open {
            Some(f) => f,
            None => {
                let f = OpenOptions::new()
                    .create(true)
                    .write(true)
                    .buffered_open(self.dir.join(PROGRESS))
                    .await
                    .map_err(|e| format!("timer progress: {e}"))?;
                let f = Rc::new(f);
                *self.progress.borrow_mut() = Some(f.clone());
                f
            }
        };
        let mut b = encode_entry(p.watermark);
        b.extend_from_slice(&p.scan_from.unwrap_or(0).to_be_bytes());
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_be_bytes());
        debug_assert_eq!(b.len(), PROGRESS_BYTES);
        f.write_at(b, 0)
            .await
            .map(|_| ())
            .map_err(|e| format!("timer progress: {e}"))
    }

    /// Appends an entry to its minute's file.
    pub async fn append(&self, e: Entry) -> Result<(), String> {
        let minute = minute_of(e.0);
        let known = self.open.borrow().get(&minute).map(|(f, _)| f.clone());
        let f = match known {
            Some(f) => f,
            None => {
                let path = self.minute_path(minute);
                let f = OpenOptions::new()
                    .create(true)
                    .write(true)
                    .read(true)
                    .buffered_open(&path)
                    .await
                    .map_err(|err| format!("{}: {err}", path.display()))?;
                let size = f.file_size().await.map_err(|err| err.to_string())?;
                // Another append may have opened it meanwhile: keep the first.
                let mut open = self.open.borrow_mut();
                let f = open
                    .entry(minute)
                    .or_insert((Rc::new(f), size - size % ENTRY_BYTES as u64))
                    .0
                    .clone();
                while open.len() > MAX_OPEN_MINUTE_FILES {
                    let oldest = *open.keys().next().unwrap_or(&minute);
                    open.remove(&oldest);
                }
                f
            }
        };
        let reserved = self.open.borrow_mut().get_mut(&minute).map(|(_, pos)| {
            let at = *pos;
            *pos += ENTRY_BYTES as u64;
            at
        });
        let at = match reserved {
            Some(at) => at,
            // Evicted between the open and here: its size is the file's own.
            None => f.file_size().await.map_err(|err| err.to_string())?,
        };
        f.write_at(encode_entry(e), at)
            .await
            .map(|_| ())
            .map_err(|err| format!("timer file of minute {minute}: {err}"))
    }

    /// A minute's entries.
    pub async fn load(&self, minute: i64) -> Result<Vec<Entry>, String> {
        let path = self.minute_path(minute);
        let r = glommio::executor()
            .spawn_blocking(move || std::fs::read(&path))
            .await;
        match r {
            Ok(b) => Ok(decode(&b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(format!("timer file of minute {minute}: {e}")),
        }
    }

    /// Removes the files of minutes before `minute` (all delivered).
    pub fn remove_before(&self, minute: i64) {
        self.open.borrow_mut().retain(|m, _| *m >= minute);
        for m in self.minutes().into_iter().filter(|m| *m < minute) {
            let _ = std::fs::remove_file(self.minute_path(m));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_both_formats_and_a_torn_write_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let files = TimerFiles::new(dir.path()).unwrap();
        assert_eq!(files.read_progress(), None);
        // The first format: entry and CRC, no scan start.
        let mut v1 = encode_entry((7_000, 3));
        let crc = crc32c::crc32c(&v1);
        v1.extend_from_slice(&crc.to_be_bytes());
        std::fs::write(dir.path().join(PROGRESS), &v1).unwrap();
        let want = Progress {
            watermark: (7_000, 3),
            scan_from: None,
        };
        assert_eq!(files.read_progress(), Some(want));

        let p = Progress {
            watermark: (9_000, 5),
            scan_from: Some(1 << 33),
        };
        let path = dir.path().to_owned();
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(128 << 10)
            .spawn(move || async move {
                let files = TimerFiles::new(&path).unwrap();
                files.write_progress(p).await.unwrap();
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(
            files.read_progress(),
            Some(p),
            "the new format over the old"
        );

        let mut torn = std::fs::read(dir.path().join(PROGRESS)).unwrap();
        torn[20] ^= 1;
        std::fs::write(dir.path().join(PROGRESS), &torn).unwrap();
        assert_eq!(files.read_progress(), None, "a bad CRC reads as absent");
    }
}
