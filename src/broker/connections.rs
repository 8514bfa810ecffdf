//! The client connections one shard holds: how the shard reaches a client (to send
//! NOTIFY_CONSUMER_IDS_CHANGED) and which groups each connection joined (to leave them
//! when it closes). Also the subscriptions heard on this shard, so a pull arriving here
//! finds its tag filter without leaving the core.

use std::collections::{BTreeSet, HashMap};

use crate::protocol::body::client::SubscriptionData;
use crate::remoting::Connection;

/// Groups one connection joined.
#[derive(Debug, Default, Clone)]
pub struct Joined {
    /// Consumer groups.
    pub consumers: BTreeSet<String>,
    /// Producer groups.
    pub producers: BTreeSet<String>,
}

/// What a connection's entry here carries when it moves to another shard.
#[derive(Debug, Default)]
pub struct Moved {
    /// Groups it joined.
    pub joined: Joined,
    /// Producer client ids heard on it.
    pub producer_ids: Vec<String>,
}

/// This shard's client connections.
#[derive(Default)]
pub struct LocalConnections {
    conns: HashMap<u64, Connection>,
    joined: HashMap<u64, Joined>,
    /// Producer client ids heard on each connection's heartbeats (where a request-reply
    /// reply is pushed: RocketMQ's ProducerManager.findChannel).
    producer_ids: HashMap<String, u64>,
    subscriptions: HashMap<(String, String), SubscriptionData>,
}

impl LocalConnections {
    /// Records what a heartbeat on `conn` said.
    pub fn heartbeat(
        &mut self,
        conn: &Connection,
        client_id: &str,
        consumers: &[String],
        producers: &[String],
    ) {
        self.conns.entry(conn.id()).or_insert_with(|| conn.clone());
        if !producers.is_empty() {
            self.producer_ids.insert(client_id.to_owned(), conn.id());
        }
        let j = self.joined.entry(conn.id()).or_default();
        j.consumers.extend(consumers.iter().cloned());
        j.producers.extend(producers.iter().cloned());
    }

    /// Remembers a subscription (newest version wins).
    pub fn subscribe(&mut self, group: &str, s: &SubscriptionData) {
        let key = (group.to_owned(), s.topic.clone());
        match self.subscriptions.get(&key) {
            Some(old) if old.sub_version > s.sub_version => {}
            _ => {
                self.subscriptions.insert(key, s.clone());
            }
        }
    }

    /// A subscription heard on this shard.
    pub fn subscription(&self, group: &str, topic: &str) -> Option<SubscriptionData> {
        self.subscriptions
            .get(&(group.to_owned(), topic.to_owned()))
            .cloned()
    }

    /// The connection, while open.
    pub fn get(&self, conn_id: u64) -> Option<Connection> {
        self.conns.get(&conn_id).filter(|c| !c.is_closed()).cloned()
    }

    /// The open connection of the producer client `client_id`, if it is on this shard.
    pub fn producer_connection(&self, client_id: &str) -> Option<u64> {
        let id = *self.producer_ids.get(client_id)?;
        self.get(id).map(|_| id)
    }

    /// An open connection that joined producer group `group` (transaction check-backs go
    /// to any member of the group, as RocketMQ's).
    pub fn producer_group_connection(&self, group: &str) -> Option<u64> {
        self.joined
            .iter()
            .filter(|(_, j)| j.producers.contains(group))
            .map(|(id, _)| *id)
            .find(|id| self.get(*id).is_some())
    }

    /// Forgets a closed connection; the groups it had joined.
    pub fn closed(&mut self, conn_id: u64) -> Joined {
        self.take(conn_id).joined
    }

    /// True when `conn_id` joined a consumer group.
    pub fn joined_consumers(&self, conn_id: u64) -> bool {
        self.joined
            .get(&conn_id)
            .is_some_and(|j| !j.consumers.is_empty())
    }

    /// Removes a connection (it closed, or moves to another shard); what a move carries.
    pub fn take(&mut self, conn_id: u64) -> Moved {
        self.conns.remove(&conn_id);
        let mut producer_ids = Vec::new();
        self.producer_ids.retain(|id, c| {
            let mine = *c == conn_id;
            if mine {
                producer_ids.push(id.clone());
            }
            !mine
        });
        Moved {
            joined: self.joined.remove(&conn_id).unwrap_or_default(),
            producer_ids,
        }
    }

    /// Records a connection that moved here from another shard, with its state there.
    pub fn adopt(&mut self, conn: &Connection, moved: Moved) {
        self.conns.insert(conn.id(), conn.clone());
        for id in moved.producer_ids {
            self.producer_ids.insert(id, conn.id());
        }
        if !moved.joined.consumers.is_empty() || !moved.joined.producers.is_empty() {
            self.joined.insert(conn.id(), moved.joined);
        }
    }

    /// Leaves one group (UNREGISTER_CLIENT).
    pub fn leave(&mut self, conn_id: u64, producer: Option<&str>, consumer: Option<&str>) {
        if let Some(j) = self.joined.get_mut(&conn_id) {
            if let Some(p) = producer {
                j.producers.remove(p);
            }
            if let Some(c) = consumer {
                j.consumers.remove(c);
            }
        }
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True when no client is connected.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }
}
