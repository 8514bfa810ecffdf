//! producerConnection: a producer group's live connections, as one broker of the topic
//! knows them.

use super::AdminError;
use crate::client::admin::AdminClient;
use crate::protocol::body::client::ProducerConnection;

/// A producer group's live connections, as the first broker of `topic` that knows them
/// has them.
pub async fn producer_connections(
    admin: &AdminClient,
    group: &str,
    topic: &str,
) -> Result<ProducerConnection, AdminError> {
    let route = super::route_of(admin, topic).await?;
    // Producers heartbeat every broker of their topics: the first that knows the group
    // answers for all.
    let mut found = None;
    for b in &route.broker_datas {
        if let Some(addr) = b.master_addr() {
            if let Some(pc) = admin.producer_connection(addr, group).await? {
                found = Some(pc);
                break;
            }
        }
    }
    found.ok_or_else(|| {
        AdminError::NotFound(format!(
            "Not found the producer group connection: [{group}] has no live producer on topic [{topic}]'s brokers"
        ))
    })
}

/// producerConnection -g GROUP -t TOPIC: `%04d  %-32s %-22s %-8s %s` per connection.
pub async fn producer_connection(
    admin: &AdminClient,
    group: &str,
    topic: &str,
    json: bool,
) -> Result<String, AdminError> {
    let pc = producer_connections(admin, group, topic).await?;
    if json {
        return Ok(serde_json::to_string_pretty(&pc).unwrap_or_default() + "\n");
    }
    let mut out = String::new();
    for (i, c) in pc.connection_set.iter().enumerate() {
        out.push_str(&format!(
            "{:04}  {:<32} {:<22} {:<8} {}\n",
            i + 1,
            c.client_id,
            c.client_addr,
            c.language,
            crate::protocol::version_name(c.version)
        ));
    }
    Ok(out)
}
