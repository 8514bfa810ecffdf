//! Consumer offsets of the queues this shard owns (RocketMQ's consumerOffset.json, one file
//! per shard): the next logical offset each group will consume, per (group, topic, queue).
//!
//! Updated in memory by UPDATE_CONSUMER_OFFSET and by the commit piggy-backed on pulls,
//! written to disk every `flushConsumerOffsetInterval` when changed and on clean shutdown
//! (as RocketMQ does: a crash may replay up to one interval of messages, which
//! at-least-once delivery allows).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The file's shape: `{"offsetTable":{"topic@group":{"0":12}}}`, as RocketMQ writes it.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct OffsetFile {
    offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

/// Offsets of one shard's queues.
#[derive(Debug)]
pub struct ConsumerOffsets {
    /// (topic, group) → queue → offset.
    table: HashMap<(String, String), BTreeMap<i32, i64>>,
    dirty: bool,
    path: PathBuf,
}

impl ConsumerOffsets {
    /// Loads the shard's file (absent = empty).
    pub fn load(path: PathBuf) -> Result<Self, String> {
        let mut table = HashMap::new();
        if let Some(f) = super::persist::read_json::<OffsetFile>(&path)? {
            for (key, queues) in f.offset_table {
                if let Some((topic, group)) = key.split_once('@') {
                    table.insert((topic.to_owned(), group.to_owned()), queues);
                }
            }
        }
        Ok(ConsumerOffsets {
            table,
            dirty: false,
            path,
        })
    }

    /// The committed offset, if any (negative stored values mean none, trap 13a).
    pub fn get(&self, group: &str, topic: &str, qid: i32) -> Option<i64> {
        self.table
            .get(&(topic.to_owned(), group.to_owned()))
            .and_then(|q| q.get(&qid))
            .copied()
            .filter(|o| *o >= 0)
    }

    /// Stores a commit.
    pub fn set(&mut self, group: &str, topic: &str, qid: i32, offset: i64) {
        let q = self
            .table
            .entry((topic.to_owned(), group.to_owned()))
            .or_default();
        if q.insert(qid, offset) != Some(offset) {
            self.dirty = true;
        }
    }

    /// Every (topic, queue, offset) a group has here.
    pub fn of_group(&self, group: &str) -> Vec<(String, i32, i64)> {
        self.table
            .iter()
            .filter(|((_, g), _)| g == group)
            .flat_map(|((t, _), q)| q.iter().map(move |(qid, o)| (t.clone(), *qid, *o)))
            .collect()
    }

    /// Every group with an offset on `topic`.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        self.table
            .keys()
            .filter(|(t, _)| t == topic)
            .map(|(_, g)| g.clone())
            .collect()
    }

    /// Every (group, topic, queue, offset) here, committed ones only.
    pub fn entries(&self) -> Vec<(String, String, i32, i64)> {
        self.table
            .iter()
            .flat_map(|((t, g), q)| {
                q.iter()
                    .filter(|(_, o)| **o >= 0)
                    .map(move |(qid, o)| (g.clone(), t.clone(), *qid, *o))
            })
            .collect()
    }

    /// Every group with any offset here.
    pub fn groups(&self) -> Vec<String> {
        let mut g: Vec<String> = self.table.keys().map(|(_, g)| g.clone()).collect();
        g.sort();
        g.dedup();
        g
    }

    /// Forgets a topic (DELETE_TOPIC_IN_BROKER).
    pub fn remove_topic(&mut self, topic: &str) {
        let before = self.table.len();
        self.table.retain(|(t, _), _| t != topic);
        self.dirty |= self.table.len() != before;
    }

    /// Forgets a group (DELETE_SUBSCRIPTIONGROUP).
    pub fn remove_group(&mut self, group: &str) {
        let before = self.table.len();
        self.table.retain(|(_, g), _| g != group);
        self.dirty |= self.table.len() != before;
    }

    /// Writes the file when something changed since the last write.
    pub fn persist_if_dirty(&mut self) -> std::io::Result<()> {
        match self.take_snapshot() {
            Some((path, bytes)) => super::persist::write_atomic(&path, &bytes).inspect_err(|_| {
                self.dirty = true;
            }),
            None => Ok(()),
        }
    }

    /// The file's path and new content when something changed (then considered written;
    /// call [`Self::mark_dirty`] if writing it fails).
    pub fn take_snapshot(&mut self) -> Option<(PathBuf, Vec<u8>)> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        let file = OffsetFile {
            offset_table: self
                .table
                .iter()
                .map(|((t, g), q)| (format!("{t}@{g}"), q.clone()))
                .collect(),
        };
        Some((
            self.path.clone(),
            serde_json::to_vec(&file).unwrap_or_default(),
        ))
    }

    /// Marks the table as not yet written.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_persist_and_negative_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/consumerOffset.json");
        let mut o = ConsumerOffsets::load(path.clone()).unwrap();
        o.set("g", "T", 0, 10);
        o.set("g", "T", 1, -1);
        o.set("h", "U", 2, 3);
        assert_eq!(o.get("g", "T", 0), Some(10));
        assert_eq!(o.get("g", "T", 1), None, "ali-ons' -1 is no offset");
        o.persist_if_dirty().unwrap();
        let mut again = ConsumerOffsets::load(path).unwrap();
        assert_eq!(again.get("g", "T", 0), Some(10));
        assert_eq!(again.groups(), vec!["g".to_string(), "h".to_string()]);
        assert_eq!(again.groups_of_topic("U"), vec!["h".to_string()]);
        again.remove_topic("T");
        assert_eq!(again.get("g", "T", 0), None);
        assert_eq!(again.of_group("h"), vec![("U".to_string(), 2, 3)]);
    }
}
