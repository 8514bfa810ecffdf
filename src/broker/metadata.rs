//! Broker metadata: topic configs and subscription groups (RocketMQ's topics.json and
//! subscriptionGroup.json).
//!
//! Shard 0 owns the authoritative copy and the files; every other shard keeps a read-only
//! copy for its hot path (a send or pull checks its topic without leaving the core). A
//! change goes to shard 0, is persisted first, then applied to every shard before the
//! caller is answered, so a client that was told "created" finds the topic on any core.
//! Changes are rare (topic creation, a new consumer group), so this costs nothing where
//! it matters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::broker::BrokerConfig;
use crate::protocol::body::client::{SubscriptionGroupConfig, SubscriptionGroupWrapper};
use crate::protocol::body::{DataVersion, TopicConfig, TopicConfigSerializeWrapper};
use crate::protocol::codes::perm;

pub use crate::protocol::topics::{
    dlq_topic, is_not_allowed_send, retry_topic, topic_name_problem, AUTO_CREATE_TOPIC, DLQ_PREFIX,
    MAX_TOPIC_CHARS, RETRY_PREFIX, SCHEDULE_TOPIC,
};

/// Queues of the topic benchmark/producer.sh uses.
pub const BENCHMARK_TOPIC_QUEUES: i32 = 1024;
/// Delay levels (SCHEDULE_TOPIC_XXXX queues).
pub const DELAY_LEVELS: i32 = 18;

/// One metadata change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaChange {
    /// Create or replace a topic (admin).
    UpsertTopic(TopicConfig),
    /// Create a topic unless it exists (auto-creation never replaces an admin's topic).
    CreateTopic(TopicConfig),
    /// Create a group unless it exists.
    CreateGroup(SubscriptionGroupConfig),
    /// Remove a topic.
    DeleteTopic(String),
    /// Create or replace a subscription group.
    UpsertGroup(SubscriptionGroupConfig),
    /// Remove a subscription group.
    DeleteGroup(String),
    /// A slave takes its master's topic table whole (with its version).
    ReplaceTopics(TopicConfigSerializeWrapper),
    /// A slave takes its master's group table whole (with its version).
    ReplaceGroups(SubscriptionGroupWrapper),
}

impl MetaChange {
    /// True when the nameserver must hear about it.
    pub fn changes_topics(&self) -> bool {
        matches!(
            self,
            MetaChange::UpsertTopic(_)
                | MetaChange::CreateTopic(_)
                | MetaChange::DeleteTopic(_)
                | MetaChange::ReplaceTopics(_)
        )
    }
}

/// Topics and groups with their versions.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// Topic → config.
    pub topics: BTreeMap<String, TopicConfig>,
    /// Version of the topic table (the nameserver reloads queue data when it changes).
    pub topics_version: DataVersion,
    /// Group → config.
    pub groups: BTreeMap<String, SubscriptionGroupConfig>,
    /// Version of the group table.
    pub groups_version: DataVersion,
}

/// Where shard 0 keeps the metadata files.
#[derive(Debug, Clone)]
pub struct MetadataFiles {
    /// topics.json.
    pub topics: PathBuf,
    /// subscriptionGroup.json.
    pub groups: PathBuf,
}

impl MetadataFiles {
    /// The files under `<storePathRootDir>/config/`.
    pub fn under(root: &Path) -> Self {
        let dir = root.join("config");
        MetadataFiles {
            topics: dir.join("topics.json"),
            groups: dir.join("subscriptionGroup.json"),
        }
    }
}

fn bump(v: &mut DataVersion) {
    v.counter += 1;
    v.timestamp = crate::clock::now_ms();
}

impl Metadata {
    /// Loads the files (absent files are empty tables) and adds the system topics a
    /// RocketMQ broker always has (spec §5.10).
    pub fn load(files: &MetadataFiles, cfg: &BrokerConfig) -> Result<Self, String> {
        let mut m = Metadata::default();
        if let Some(w) = super::persist::read_json::<TopicConfigSerializeWrapper>(&files.topics)? {
            m.topics = w.topic_config_table;
            m.topics_version = w.data_version;
        }
        if let Some(w) = super::persist::read_json::<SubscriptionGroupWrapper>(&files.groups)? {
            m.groups = w.subscription_group_table;
            m.groups_version = w.data_version;
        }
        let rw_inherit = perm::READ | perm::WRITE | perm::INHERIT;
        let mut system = vec![
            TopicConfig::new("SELF_TEST_TOPIC", 1),
            TopicConfig::new("BenchmarkTest", BENCHMARK_TOPIC_QUEUES),
            TopicConfig::new("OFFSET_MOVED_EVENT", 1),
            TopicConfig::new(SCHEDULE_TOPIC, DELAY_LEVELS),
            TopicConfig {
                perm: rw_inherit,
                ..TopicConfig::new(&cfg.broker_cluster_name, 16)
            },
            TopicConfig {
                perm: rw_inherit,
                ..TopicConfig::new(&cfg.broker_name, 1)
            },
            TopicConfig::new(
                &crate::protocol::topics::reply_topic(&cfg.broker_cluster_name),
                1,
            ),
        ];
        if cfg.auto_create_topic_enable {
            system.push(TopicConfig {
                perm: rw_inherit,
                ..TopicConfig::new(AUTO_CREATE_TOPIC, cfg.default_topic_queue_nums as i32)
            });
        } else {
            m.topics.remove(AUTO_CREATE_TOPIC);
        }
        for t in system {
            m.topics.entry(t.topic_name.clone()).or_insert(t);
        }
        bump(&mut m.topics_version);
        Ok(m)
    }

    /// True when applying `change` would change nothing (an existing create-if-absent).
    pub fn is_noop(&self, change: &MetaChange) -> bool {
        match change {
            MetaChange::CreateTopic(t) => self.topics.contains_key(&t.topic_name),
            MetaChange::CreateGroup(g) => self.groups.contains_key(&g.group_name),
            _ => false,
        }
    }

    /// Applies a change.
    pub fn apply(&mut self, change: &MetaChange) {
        if self.is_noop(change) {
            return;
        }
        match change {
            MetaChange::CreateTopic(t) => {
                self.topics.insert(t.topic_name.clone(), t.clone());
                bump(&mut self.topics_version);
            }
            MetaChange::CreateGroup(g) => {
                self.groups.insert(g.group_name.clone(), g.clone());
                bump(&mut self.groups_version);
            }
            MetaChange::UpsertTopic(t) => {
                self.topics.insert(t.topic_name.clone(), t.clone());
                bump(&mut self.topics_version);
            }
            MetaChange::DeleteTopic(t) => {
                self.topics.remove(t);
                bump(&mut self.topics_version);
            }
            MetaChange::UpsertGroup(g) => {
                self.groups.insert(g.group_name.clone(), g.clone());
                bump(&mut self.groups_version);
            }
            MetaChange::DeleteGroup(g) => {
                self.groups.remove(g);
                bump(&mut self.groups_version);
            }
            MetaChange::ReplaceTopics(w) => {
                self.topics = w.topic_config_table.clone();
                self.topics_version = w.data_version;
            }
            MetaChange::ReplaceGroups(w) => {
                self.groups = w.subscription_group_table.clone();
                self.groups_version = w.data_version;
            }
        }
    }

    /// The topic table as the nameserver and admin tools see it.
    pub fn topic_wrapper(&self) -> TopicConfigSerializeWrapper {
        TopicConfigSerializeWrapper {
            topic_config_table: self.topics.clone(),
            data_version: self.topics_version,
        }
    }

    /// The group table as admin tools see it.
    pub fn group_wrapper(&self) -> SubscriptionGroupWrapper {
        SubscriptionGroupWrapper {
            subscription_group_table: self.groups.clone(),
            data_version: self.groups_version,
        }
    }

    /// Writes the file(s) a change touched.
    pub fn persist(&self, files: &MetadataFiles, change: &MetaChange) -> std::io::Result<()> {
        let (path, bytes) = self.snapshot_for(files, change);
        super::persist::write_atomic(&path, &bytes)
    }

    /// The file a change touches and its new content.
    pub fn snapshot_for(&self, files: &MetadataFiles, change: &MetaChange) -> (PathBuf, Vec<u8>) {
        match change {
            MetaChange::UpsertTopic(_)
            | MetaChange::CreateTopic(_)
            | MetaChange::DeleteTopic(_)
            | MetaChange::ReplaceTopics(_) => (
                files.topics.clone(),
                serde_json::to_vec_pretty(&self.topic_wrapper()).unwrap_or_default(),
            ),
            MetaChange::UpsertGroup(_)
            | MetaChange::CreateGroup(_)
            | MetaChange::DeleteGroup(_)
            | MetaChange::ReplaceGroups(_) => (
                files.groups.clone(),
                serde_json::to_vec_pretty(&self.group_wrapper()).unwrap_or_default(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_topics_persistence_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let files = MetadataFiles::under(dir.path());
        let cfg = BrokerConfig::default();
        let mut m = Metadata::load(&files, &cfg).unwrap();
        assert_eq!(m.topics[AUTO_CREATE_TOPIC].perm, 7);
        assert_eq!(m.topics[AUTO_CREATE_TOPIC].write_queue_nums, 8);
        assert_eq!(m.topics["BenchmarkTest"].read_queue_nums, 1024);
        let change = MetaChange::UpsertTopic(TopicConfig::new("T1", 4));
        let before = m.topics_version.counter;
        m.apply(&change);
        assert!(m.topics_version.counter > before);
        m.persist(&files, &change).unwrap();
        let g = MetaChange::UpsertGroup(SubscriptionGroupConfig {
            group_name: "g".into(),
            ..Default::default()
        });
        m.apply(&g);
        m.persist(&files, &g).unwrap();
        let again = Metadata::load(&files, &cfg).unwrap();
        assert_eq!(again.topics["T1"].write_queue_nums, 4);
        assert_eq!(again.groups["g"].retry_max_times, 16);

        assert!(topic_name_problem("Topic_A-1%|").is_none());
        assert!(topic_name_problem("").is_some());
        assert!(topic_name_problem("a b").unwrap().contains("illegal"));
        assert!(topic_name_problem(&"x".repeat(128)).is_some());
        assert!(is_not_allowed_send(SCHEDULE_TOPIC));
    }
}
