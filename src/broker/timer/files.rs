//! A shard's timer files under `<shard>/timer/`: one `<minute>.tm` per minute holding the
//! entries due in it (16 bytes each: due ms, timer-queue offset, big endian), and
//! `progress`, the last entry delivered (with a CRC, so a torn write reads as absent and
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
const PROGRESS_BYTES: usize = 20;

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

    /// The last entry delivered before the stop, if one was recorded.
    pub fn read_progress(&self) -> Option<Entry> {
        let b = std::fs::read(self.dir.join(PROGRESS)).ok()?;
        if b.len() != PROGRESS_BYTES || crc32c::crc32c(&b[..16]).to_be_bytes() != b[16..] {
            return None;
        }
        decode(&b[..16]).first().copied()
    }

    /// Records the last entry delivered.
    pub async fn write_progress(&self, e: Entry) -> Result<(), String> {
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
        let mut b = encode_entry(e);
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_be_bytes());
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
