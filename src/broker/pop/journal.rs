//! The ack journal: POP acks above a queue's committed offset, kept across a crash so an
//! acked message never comes back after a restart.
//!
//! The committed offset (lowest leased offset) is saved with the consumer offsets; what
//! it cannot say is which messages above it were acked already. Each ack is appended to
//! `popAcks.<gen>.log` before the client hears OK (a buffered io_uring write: it survives
//! a killed process; it is fsynced with the offsets, as RocketMQ's acks ride its async
//! flush). Each offsets flush rotates to a new generation, writes every queue's acks above
//! its committed offset to `popAcks.snapshot`, then removes the older logs; a start loads
//! the snapshot and replays the logs left. Records are `crc32c | len | payload`; a torn
//! tail (the kill came mid-write) ends that log's replay.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::BufferedFile;

use super::book::QueueKey;

/// Longest record payload (group and topic are at most 255 bytes each).
pub const MAX_ACK_RECORD_BYTES: usize = 1_024;
const SNAPSHOT: &str = "popAcks.snapshot";
const HEADER_BYTES: usize = 8;

/// Encodes one ack record.
pub fn encode(key: &QueueKey, offset: u64, out: &mut Vec<u8>) {
    let mut p = Vec::with_capacity(key.0.len() + key.1.len() + 16);
    for s in [&key.0, &key.1] {
        let b = s.as_bytes();
        let n = b.len().min(u8::MAX as usize);
        p.push(n as u8);
        p.extend_from_slice(&b[..n]);
    }
    p.extend_from_slice(&key.2.to_be_bytes());
    p.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&p).to_be_bytes());
    out.extend_from_slice(&(p.len() as u32).to_be_bytes());
    out.extend_from_slice(&p);
}

/// Decodes records until the end or the first torn or corrupt one.
pub fn decode_all(bytes: &[u8]) -> Vec<(QueueKey, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes.len() >= at + HEADER_BYTES {
        let crc = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
        let len = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().unwrap_or_default()) as usize;
        if len > MAX_ACK_RECORD_BYTES || bytes.len() < at + HEADER_BYTES + len {
            break;
        }
        let p = &bytes[at + HEADER_BYTES..at + HEADER_BYTES + len];
        if crc32c::crc32c(p) != crc {
            break;
        }
        let Some(rec) = parse(p) else { break };
        out.push(rec);
        at += HEADER_BYTES + len;
    }
    out
}

fn parse(p: &[u8]) -> Option<(QueueKey, u64)> {
    let mut at = 0;
    let mut text = || -> Option<String> {
        let n = *p.get(at)? as usize;
        let s = std::str::from_utf8(p.get(at + 1..at + 1 + n)?)
            .ok()?
            .to_owned();
        at += 1 + n;
        Some(s)
    };
    let group = text()?;
    let topic = text()?;
    if p.len() != at + 12 {
        return None;
    }
    let qid = i32::from_be_bytes(p[at..at + 4].try_into().ok()?);
    let offset = u64::from_be_bytes(p[at + 4..at + 12].try_into().ok()?);
    Some(((group, topic, qid), offset))
}

fn log_path(dir: &Path, gen: u64) -> PathBuf {
    dir.join(format!("popAcks.{gen}.log"))
}

fn log_gens(dir: &Path) -> Vec<u64> {
    let mut gens: Vec<u64> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("popAcks.")?
                .strip_suffix(".log")?
                .parse()
                .ok()
        })
        .collect();
    gens.sort_unstable();
    gens
}

/// Everything the snapshot and the logs in `dir` hold.
pub fn load(dir: &Path) -> std::io::Result<Vec<(QueueKey, u64)>> {
    let mut out = match std::fs::read(dir.join(SNAPSHOT)) {
        Ok(b) => decode_all(&b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    for gen in log_gens(dir) {
        out.extend(decode_all(&std::fs::read(log_path(dir, gen))?));
    }
    Ok(out)
}

/// The open journal of one shard.
pub struct AckJournal {
    dir: PathBuf,
    gen: Cell<u64>,
    file: RefCell<Rc<BufferedFile>>,
    pos: Cell<u64>,
    /// Records appended since the last rotation.
    appended: Cell<bool>,
}

impl AckJournal {
    /// Opens a new generation after the ones in `dir` (which [`load`] read).
    pub async fn open(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let gen = log_gens(dir).last().map_or(1, |g| g + 1);
        let path = log_path(dir, gen);
        let file = BufferedFile::create(&path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self {
            dir: dir.to_owned(),
            gen: Cell::new(gen),
            file: RefCell::new(Rc::new(file)),
            pos: Cell::new(0),
            // The first flush writes a snapshot of what was loaded, then removes the logs.
            appended: Cell::new(true),
        })
    }

    /// True when acks were appended since the last rotation (an idle broker skips it).
    pub fn has_new_records(&self) -> bool {
        self.appended.get()
    }

    /// Appends one ack; done when the write reached the file.
    pub async fn append(&self, key: &QueueKey, offset: u64) -> Result<(), String> {
        let mut rec = Vec::with_capacity(64);
        encode(key, offset, &mut rec);
        let at = self.pos.get();
        self.pos.set(at + rec.len() as u64);
        self.appended.set(true);
        let file = self.file.borrow().clone();
        let len = rec.len();
        match file.write_at(rec, at).await {
            Ok(n) if n == len => Ok(()),
            Ok(n) => Err(format!("short ack journal write: {n} of {len} bytes")),
            Err(e) => Err(format!("ack journal write: {e}")),
        }
    }

    /// Starts a new generation; the older ones are removed by [`Self::finish_snapshot`]
    /// once a snapshot covering them is written.
    pub async fn rotate(&self) -> Result<u64, String> {
        let old = self.gen.get();
        let path = log_path(&self.dir, old + 1);
        let file = BufferedFile::create(&path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let prev = std::mem::replace(&mut *self.file.borrow_mut(), Rc::new(file));
        self.gen.set(old + 1);
        self.pos.set(0);
        self.appended.set(false);
        // Writes still in flight keep their own handle; the file closes after them.
        let _ = prev.fdatasync().await;
        Ok(old)
    }

    /// The snapshot's path.
    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join(SNAPSHOT)
    }

    /// Removes the logs up to `gen` (the snapshot now holds them).
    pub fn finish_snapshot(&self, gen: u64) {
        for g in log_gens(&self.dir).into_iter().filter(|g| *g <= gen) {
            let _ = std::fs::remove_file(log_path(&self.dir, g));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_ends_the_replay() {
        let mut b = Vec::new();
        let k1: QueueKey = ("G".into(), "T".into(), 3);
        let k2: QueueKey = ("group-é".into(), "%RETRY%x".into(), 0);
        encode(&k1, 7, &mut b);
        encode(&k2, u64::MAX, &mut b);
        let whole = b.len();
        encode(&k1, 9, &mut b);
        assert_eq!(decode_all(&b).len(), 3);
        for cut in whole..b.len() {
            let got = decode_all(&b[..cut]);
            assert_eq!(
                got,
                vec![(k1.clone(), 7), (k2.clone(), u64::MAX)],
                "cut {cut}"
            );
        }
        let mut bad = b.clone();
        bad[whole + 9] ^= 1;
        assert_eq!(
            decode_all(&bad).len(),
            2,
            "a corrupt record ends the replay"
        );
    }
}
