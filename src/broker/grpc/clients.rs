//! The gRPC clients whose connection is on this core: what they announced over Telemetry
//! (type, group, topics, SDK) and their open Telemetry stream, for the admin views and
//! for commands the broker pushes (transaction check-back).
//!
//! They are kept apart from the remoting group tables (`broker/clients.rs`) on purpose:
//! those tables answer GET_CONSUMER_LIST_BY_GROUP, which 4.x consumers split queues by,
//! and a POP client takes no queue share. The admin views (consumerConnection,
//! producerConnection, the console) ask every shard for both and show them together, as
//! RocketMQ 5's proxy registers them: consumers by group (SIMPLE_CONSUMER as
//! CONSUME_ACTIVELY, PUSH_CONSUMER as CONSUME_PASSIVELY, CLUSTERING,
//! CONSUME_FROM_LAST_OFFSET), producers under each topic they publish, the topic name
//! standing for the producer group 5.x producers do not have.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use super::body::BodyWriter;
use crate::protocol::body::client::{Connection, ConsumerConnection, SubscriptionData};

/// Clients not heard from for this long are dropped (the SDKs heartbeat every 10 s).
pub const GRPC_CLIENT_EXPIRY_MS: i64 = 120_000;

/// One client as its settings describe it.
#[derive(Clone)]
pub struct GrpcClient {
    /// `x-mq-client-id`.
    pub client_id: String,
    /// Where it connects from.
    pub peer: SocketAddr,
    /// PRODUCER, SIMPLE_CONSUMER, PUSH_CONSUMER (the proto's name).
    pub client_type: String,
    /// Consumer group, empty for producers.
    pub group: String,
    /// Topics published or subscribed.
    pub topics: Vec<String>,
    /// A consumer's subscriptions (topic and filter expression).
    pub subscriptions: Vec<SubscriptionData>,
    /// The SDK's language as RocketMQ's remoting `LanguageCode` names it.
    pub language: String,
    /// The SDK's version as an `MQVersion.Version` ordinal.
    pub version: i32,
    /// Last heard from, ms since the epoch.
    pub last_seen_ms: i64,
    /// Its Telemetry stream, while open.
    pub telemetry: Option<BodyWriter>,
}

/// This core's gRPC clients, by client id.
#[derive(Default)]
pub struct GrpcClients {
    by_id: HashMap<String, GrpcClient>,
}

impl GrpcClients {
    /// Records or refreshes a client.
    pub fn upsert(&mut self, c: GrpcClient) {
        self.by_id.insert(c.client_id.clone(), c);
    }

    /// Marks a client alive now.
    pub fn touch(&mut self, client_id: &str, now_ms: i64) {
        if let Some(c) = self.by_id.get_mut(client_id) {
            c.last_seen_ms = now_ms;
        }
    }

    /// True while the client is known here (announced, and not ended or expired).
    pub fn knows(&self, client_id: &str) -> bool {
        self.by_id.contains_key(client_id)
    }

    /// Forgets a client (NotifyClientTermination).
    pub fn remove(&mut self, client_id: &str) {
        self.by_id.remove(client_id);
    }

    /// Closes a client's Telemetry stream record (the stream ended).
    pub fn stream_closed(&mut self, client_id: &str) {
        if let Some(c) = self.by_id.get_mut(client_id) {
            c.telemetry = None;
        }
    }

    /// Drops clients silent past [`GRPC_CLIENT_EXPIRY_MS`] whose Telemetry stream is
    /// closed too (an open stream is a live client).
    pub fn expire(&mut self, now_ms: i64) {
        self.by_id.retain(|_, c| {
            now_ms - c.last_seen_ms < GRPC_CLIENT_EXPIRY_MS
                || c.telemetry.as_ref().is_some_and(|w| !w.is_gone())
        });
    }

    /// A producer of `topic` with an open Telemetry stream.
    pub fn producer_stream(&self, topic: &str) -> Option<BodyWriter> {
        self.by_id
            .values()
            .filter(|c| c.client_type == "PRODUCER" && c.topics.iter().any(|t| t == topic))
            .find_map(|c| c.telemetry.clone().filter(|w| !w.is_gone()))
    }

    /// Every client, for the admin views.
    pub fn all(&self) -> impl Iterator<Item = &GrpcClient> {
        self.by_id.values()
    }

    /// The consumers of `group` on this core.
    pub fn consumers_of(&self, group: &str) -> Vec<GrpcConsumer> {
        self.by_id
            .values()
            .filter(|c| c.client_type != "PRODUCER" && c.group == group)
            .map(|c| GrpcConsumer {
                connection: c.connection(),
                client_type: c.client_type.clone(),
                subscriptions: c.subscriptions.clone(),
            })
            .collect()
    }

    /// The producers of `topic` on this core (the topic is their group, as in RocketMQ 5).
    pub fn producers_of(&self, topic: &str) -> Vec<Connection> {
        self.by_id
            .values()
            .filter(|c| c.client_type == "PRODUCER" && c.topics.iter().any(|t| t == topic))
            .map(GrpcClient::connection)
            .collect()
    }
}

/// What another core needs of a gRPC consumer for the admin views (no stream handle,
/// which stays on its own core).
#[derive(Debug, Clone)]
pub struct GrpcConsumer {
    /// Its row in the connection table.
    pub connection: Connection,
    /// SIMPLE_CONSUMER or PUSH_CONSUMER.
    pub client_type: String,
    /// Its subscriptions.
    pub subscriptions: Vec<SubscriptionData>,
}

impl GrpcClient {
    /// The row consumerConnection and producerConnection show.
    pub fn connection(&self) -> Connection {
        Connection {
            client_addr: crate::broker::handlers::send::v4_peer(self.peer).to_string(),
            client_id: self.client_id.clone(),
            language: self.language.clone(),
            version: self.version,
        }
    }
}

/// `consumerConnection`'s body with a group's gRPC consumers added to what the remoting
/// tables hold (`remoting`, `None` when no 4.x client is online); `None` when neither has
/// a member.
pub fn merge_consumers(
    remoting: Option<ConsumerConnection>,
    grpc: &[GrpcConsumer],
) -> Option<ConsumerConnection> {
    if grpc.is_empty() {
        return remoting;
    }
    let mut cc = remoting.unwrap_or_else(|| ConsumerConnection {
        connection_set: Vec::new(),
        consume_from_where: "CONSUME_FROM_LAST_OFFSET".into(),
        consume_type: consume_type(&grpc[0].client_type).into(),
        message_model: "CLUSTERING".into(),
        subscription_table: BTreeMap::new(),
    });
    for c in grpc {
        cc.connection_set.push(c.connection.clone());
        for s in &c.subscriptions {
            // A 4.x member's newer subscription of the same topic is kept.
            match cc.subscription_table.get(&s.topic) {
                Some(old) if old.sub_version >= s.sub_version => {}
                _ => {
                    cc.subscription_table.insert(s.topic.clone(), s.clone());
                }
            }
        }
    }
    Some(cc)
}

/// RocketMQ 5's ConsumeType for a gRPC client type.
fn consume_type(client_type: &str) -> &'static str {
    if client_type == "PUSH_CONSUMER" {
        "CONSUME_PASSIVELY"
    } else {
        "CONSUME_ACTIVELY"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer(id: &str, kind: &str) -> GrpcConsumer {
        let mut t = GrpcClients::default();
        t.upsert(client(id, kind, "g", "T"));
        t.consumers_of("g").remove(0)
    }

    fn client(id: &str, kind: &str, group: &str, topic: &str) -> GrpcClient {
        GrpcClient {
            client_id: id.into(),
            peer: "127.0.0.1:4000".parse().unwrap(),
            client_type: kind.into(),
            group: group.into(),
            topics: vec![topic.into()],
            subscriptions: vec![SubscriptionData::from_expression(topic, "a || b", 5)],
            language: "PYTHON".into(),
            version: crate::protocol::version_ordinal(5, 1, 2),
            last_seen_ms: 0,
            telemetry: None,
        }
    }

    #[test]
    fn admin_views_find_grpc_clients_by_group_and_topic() {
        let mut t = GrpcClients::default();
        t.upsert(client("c1", "SIMPLE_CONSUMER", "g", "T"));
        t.upsert(client("c2", "PUSH_CONSUMER", "other", "T"));
        t.upsert(client("p1", "PRODUCER", "", "T"));
        let g: Vec<String> = t
            .consumers_of("g")
            .into_iter()
            .map(|c| c.connection.client_id)
            .collect();
        assert_eq!(g, ["c1"]);
        let p: Vec<String> = t
            .producers_of("T")
            .into_iter()
            .map(|c| c.client_id)
            .collect();
        assert_eq!(p, ["p1"]);
        assert!(t.producers_of("U").is_empty());
        assert!(
            t.consumers_of("T").is_empty(),
            "a topic is no consumer group"
        );
    }

    #[test]
    fn merged_view_adds_grpc_members_and_their_subscriptions() {
        assert!(merge_consumers(None, &[]).is_none());
        let only = merge_consumers(None, &[consumer("c1", "SIMPLE_CONSUMER")]).unwrap();
        assert_eq!(only.consume_type, "CONSUME_ACTIVELY");
        assert_eq!(only.message_model, "CLUSTERING");
        assert_eq!(only.connection_set[0].client_addr, "127.0.0.1:4000");
        assert_eq!(only.connection_set[0].language, "PYTHON");
        assert_eq!(only.subscription_table["T"].sub_string, "a || b");
        let remoting = ConsumerConnection {
            connection_set: vec![Connection {
                client_addr: "127.0.0.1:5000".into(),
                client_id: "r1".into(),
                language: "JAVA".into(),
                version: 409,
            }],
            consume_from_where: "CONSUME_FROM_FIRST_OFFSET".into(),
            consume_type: "CONSUME_PASSIVELY".into(),
            message_model: "CLUSTERING".into(),
            subscription_table: BTreeMap::from([(
                "T".to_string(),
                SubscriptionData::from_expression("T", "*", 9),
            )]),
        };
        let both = merge_consumers(Some(remoting), &[consumer("c1", "SIMPLE_CONSUMER")]).unwrap();
        assert_eq!(both.connection_set.len(), 2);
        assert_eq!(both.consume_from_where, "CONSUME_FROM_FIRST_OFFSET");
        assert_eq!(both.subscription_table["T"].sub_string, "*", "newer kept");
    }
}
