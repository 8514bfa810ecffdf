//! Producer and consumer groups (RocketMQ's ProducerManager / ConsumerManager), each group
//! kept by one shard: `crc32c(group) % shards`. Heartbeats arriving on any core are routed
//! there, so the group's member list — what GET_CONSUMER_LIST_BY_GROUP answers and what
//! every consumer's queue allocation depends on — is one consistent list.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::protocol::body::client::{
    Connection as ConnInfo, ConsumerConnection, ConsumerData, SubscriptionData,
};

/// A member not heard from for this long is dropped (RocketMQ's channel expiry).
pub const CLIENT_EXPIRE_MS: u64 = 120_000;

/// The shard keeping `group`'s member list.
pub fn group_shard(group: &str, shards: usize) -> usize {
    crc32c::crc32c(group.as_bytes()) as usize % shards.max(1)
}

/// Where a client is connected, and what it said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `ip@instance`.
    pub client_id: String,
    /// Shard holding the connection.
    pub shard: usize,
    /// Connection id on that shard.
    pub conn_id: u64,
    /// Peer address.
    pub addr: String,
    /// Language name.
    pub language: String,
    /// Client version.
    pub version: i32,
}

#[derive(Debug)]
struct Entry {
    member: Member,
    seen: Instant,
}

/// A consumer group's live state.
#[derive(Debug, Default)]
struct ConsumerGroup {
    consume_type: String,
    message_model: String,
    consume_from_where: String,
    subscriptions: BTreeMap<String, SubscriptionData>,
    members: BTreeMap<String, Entry>,
}

/// The groups this shard keeps.
#[derive(Debug, Default)]
pub struct ClientTables {
    consumers: HashMap<String, ConsumerGroup>,
    producers: HashMap<String, BTreeMap<String, Entry>>,
}

impl ClientTables {
    /// Records a consumer heartbeat; true when the member list or the subscribed topics
    /// changed (members must be told, NOTIFY_CONSUMER_IDS_CHANGED).
    pub fn register_consumer(&mut self, data: ConsumerData, member: Member, now: Instant) -> bool {
        let g = self.consumers.entry(data.group_name.clone()).or_default();
        g.consume_type = data.consume_type;
        g.message_model = data.message_model;
        g.consume_from_where = data.consume_from_where;
        // The latest heartbeat's subscription set wins; an older version never replaces a
        // newer one.
        let mut subs = BTreeMap::new();
        for s in data.subscriptions {
            match g.subscriptions.get(&s.topic) {
                Some(old) if old.sub_version > s.sub_version => {
                    subs.insert(s.topic.clone(), old.clone());
                }
                _ => {
                    subs.insert(s.topic.clone(), s);
                }
            }
        }
        let subs_changed = !g.subscriptions.keys().eq(subs.keys());
        g.subscriptions = subs;
        let changed = subs_changed
            || g.members.get(&member.client_id).is_none_or(|e| {
                e.member.conn_id != member.conn_id || e.member.shard != member.shard
            });
        g.members
            .insert(member.client_id.clone(), Entry { member, seen: now });
        changed
    }

    /// Records a producer heartbeat.
    pub fn register_producer(&mut self, group: &str, member: Member, now: Instant) {
        self.producers
            .entry(group.to_owned())
            .or_default()
            .insert(member.client_id.clone(), Entry { member, seen: now });
    }

    /// Re-points `group`'s members on connection `conn_id` from shard `from` to shard `to`
    /// (the connection moved; src/broker/connection_moves.rs).
    pub fn connection_moved(&mut self, group: &str, from: usize, conn_id: u64, to: usize) {
        let entries = self
            .producers
            .get_mut(group)
            .into_iter()
            .flat_map(|p| p.values_mut())
            .chain(
                self.consumers
                    .get_mut(group)
                    .into_iter()
                    .flat_map(|g| g.members.values_mut()),
            );
        for e in entries {
            if e.member.shard == from && e.member.conn_id == conn_id {
                e.member.shard = to;
            }
        }
    }

    /// Removes a closed connection from a group; the remaining consumers when its consumer
    /// membership changed.
    pub fn connection_closed(
        &mut self,
        group: &str,
        shard: usize,
        conn_id: u64,
    ) -> Option<Vec<Member>> {
        if let Some(p) = self.producers.get_mut(group) {
            p.retain(|_, e| !(e.member.shard == shard && e.member.conn_id == conn_id));
            if p.is_empty() {
                self.producers.remove(group);
            }
        }
        self.remove_consumers(group, |m| m.shard == shard && m.conn_id == conn_id)
    }

    /// UNREGISTER_CLIENT: removes `client_id` from the named groups; like
    /// [`Self::connection_closed`] for the consumer group.
    pub fn unregister(
        &mut self,
        client_id: &str,
        producer_group: Option<&str>,
        consumer_group: Option<&str>,
    ) -> Option<Vec<Member>> {
        if let Some(pg) = producer_group {
            if let Some(p) = self.producers.get_mut(pg) {
                p.remove(client_id);
                if p.is_empty() {
                    self.producers.remove(pg);
                }
            }
        }
        consumer_group.and_then(|g| self.remove_consumers(g, |m| m.client_id == client_id))
    }

    fn remove_consumers(
        &mut self,
        group: &str,
        gone: impl Fn(&Member) -> bool,
    ) -> Option<Vec<Member>> {
        let g = self.consumers.get_mut(group)?;
        let before = g.members.len();
        g.members.retain(|_, e| !gone(&e.member));
        if g.members.len() == before {
            return None;
        }
        let rest: Vec<Member> = g.members.values().map(|e| e.member.clone()).collect();
        if rest.is_empty() {
            self.consumers.remove(group);
        }
        Some(rest)
    }

    /// Drops members silent for [`CLIENT_EXPIRE_MS`]; (group, remaining members) for each
    /// consumer group that changed.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, Vec<Member>)> {
        let limit = Duration::from_millis(CLIENT_EXPIRE_MS);
        let alive = |e: &Entry| now.duration_since(e.seen) < limit;
        for p in self.producers.values_mut() {
            p.retain(|_, e| alive(e));
        }
        self.producers.retain(|_, p| !p.is_empty());
        let mut changed = Vec::new();
        for (name, g) in self.consumers.iter_mut() {
            let before = g.members.len();
            g.members.retain(|_, e| alive(e));
            if g.members.len() != before {
                changed.push((
                    name.clone(),
                    g.members.values().map(|e| e.member.clone()).collect(),
                ));
            }
        }
        self.consumers.retain(|_, g| !g.members.is_empty());
        changed
    }

    /// Client ids of a group's live consumers, sorted.
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        self.consumers
            .get(group)
            .map(|g| g.members.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Members of a consumer group.
    pub fn consumers_of(&self, group: &str) -> Vec<Member> {
        self.consumers
            .get(group)
            .map(|g| g.members.values().map(|e| e.member.clone()).collect())
            .unwrap_or_default()
    }

    /// A group's subscription to `topic`.
    pub fn subscription(&self, group: &str, topic: &str) -> Option<SubscriptionData> {
        self.consumers.get(group)?.subscriptions.get(topic).cloned()
    }

    /// Groups whose live consumers subscribe `topic`.
    pub fn groups_subscribing(&self, topic: &str) -> Vec<String> {
        self.consumers
            .iter()
            .filter(|(_, g)| g.subscriptions.contains_key(topic))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Topics a live group subscribes, when it is online.
    pub fn subscribed_topics(&self, group: &str) -> Option<Vec<String>> {
        self.consumers
            .get(group)
            .map(|g| g.subscriptions.keys().cloned().collect())
    }

    /// GET_CONSUMER_CONNECTION_LIST body; `None` when the group is offline.
    pub fn consumer_connection(&self, group: &str) -> Option<ConsumerConnection> {
        let g = self.consumers.get(group)?;
        Some(ConsumerConnection {
            connection_set: g.members.values().map(|e| info(&e.member)).collect(),
            consume_from_where: g.consume_from_where.clone(),
            consume_type: g.consume_type.clone(),
            message_model: g.message_model.clone(),
            subscription_table: g.subscriptions.clone(),
        })
    }

    /// Connections of a producer group.
    pub fn producer_connections(&self, group: &str) -> Vec<ConnInfo> {
        self.producers
            .get(group)
            .map(|p| p.values().map(|e| info(&e.member)).collect())
            .unwrap_or_default()
    }
}

fn info(m: &Member) -> ConnInfo {
    ConnInfo {
        client_addr: m.addr.clone(),
        client_id: m.client_id.clone(),
        language: m.language.clone(),
        version: m.version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, conn: u64) -> Member {
        Member {
            client_id: id.into(),
            shard: 0,
            conn_id: conn,
            addr: "127.0.0.1:1".into(),
            language: "JAVA".into(),
            version: 409,
        }
    }

    fn data(group: &str) -> ConsumerData {
        ConsumerData {
            group_name: group.into(),
            consume_type: "CONSUME_PASSIVELY".into(),
            message_model: "CLUSTERING".into(),
            consume_from_where: "CONSUME_FROM_FIRST_OFFSET".into(),
            subscriptions: vec![SubscriptionData::from_expression("T", "*", 1)],
        }
    }

    #[test]
    fn membership_changes_and_expiry() {
        let mut t = ClientTables::default();
        let now = Instant::now();
        assert!(t.register_consumer(data("g"), member("c1", 1), now));
        assert!(
            !t.register_consumer(data("g"), member("c1", 1), now),
            "same member"
        );
        assert!(t.register_consumer(data("g"), member("c2", 2), now));
        assert_eq!(
            t.consumer_ids("g"),
            vec!["c1".to_string(), "c2".to_string()]
        );
        assert!(t.subscription("g", "T").is_some());
        assert_eq!(t.groups_subscribing("T"), vec!["g".to_string()]);
        let rest = t.connection_closed("g", 0, 1).unwrap();
        assert_eq!(rest.len(), 1);
        assert!(t.connection_closed("g", 0, 1).is_none(), "already gone");
        t.register_producer("p", member("c3", 3), now);
        assert_eq!(t.producer_connections("p").len(), 1);
        let later = now + Duration::from_millis(CLIENT_EXPIRE_MS + 1);
        let changed = t.expire(later);
        assert_eq!(changed.len(), 1);
        assert!(t.consumer_ids("g").is_empty());
        assert!(t.producer_connections("p").is_empty());
        assert!(t.consumer_connection("g").is_none());
    }
}
