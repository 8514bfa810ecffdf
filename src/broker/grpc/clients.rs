//! The gRPC clients whose connection is on this core: what they announced over Telemetry
//! (type, group, topics, SDK) and their open Telemetry stream, for the admin views and
//! for commands the broker pushes (transaction check-back).

use std::collections::HashMap;
use std::net::SocketAddr;

use super::body::BodyWriter;

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
    /// `language/version` from the user agent.
    pub agent: String,
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

    /// Drops clients silent past [`GRPC_CLIENT_EXPIRY_MS`].
    pub fn expire(&mut self, now_ms: i64) {
        self.by_id
            .retain(|_, c| now_ms - c.last_seen_ms < GRPC_CLIENT_EXPIRY_MS);
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
}
