//! Plain ACL for gRPC calls (aclEnable=true), against the same plain_acl.yml and rules as
//! remoting. The SDKs sign `x-mq-date-time` with HMAC-SHA1 and send
//! `authorization: MQv2-HMAC-SHA1 Credential=<AK>, SignedHeaders=x-mq-date-time,
//! Signature=<hex>` (Python lowercase hex, Node uppercase: compared as bytes). As in
//! RocketMQ 5's ACL 1.0 there is no freshness check on the date (Python sends local time).
//! What each RPC needs follows RocketMQ's `PlainAccessResource.parse`.

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::server::Call;
use crate::broker::acl::permission::Perm;
use crate::broker::acl::resources::{Needs, Resource};
use crate::protocol::grpc::v2;

/// The signed header.
pub const DATE_TIME_HEADER: &str = "x-mq-date-time";

/// (access key, signature bytes) of an `authorization` header.
pub fn parse_authorization(value: &str) -> Option<(String, Vec<u8>)> {
    let rest = value.trim().strip_prefix("MQv2-HMAC-SHA1")?.trim();
    let mut ak = None;
    let mut sig = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k.trim() {
            "Credential" => ak = v.trim().split('/').next().map(str::to_owned),
            "Signature" => sig = Some(hex_decode(v.trim())?),
            _ => {}
        }
    }
    Some((ak?, sig?))
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// HMAC-SHA1 of the date-time header with the secret key.
pub fn signature(secret_key: &str, date_time: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret_key.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(date_time.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn topic(r: &Option<v2::Resource>) -> Option<(Resource, Perm)> {
    r.as_ref().map(|r| (Resource::topic(&r.name), Perm::SUB))
}

fn group(r: &Option<v2::Resource>) -> Option<(Resource, Perm)> {
    r.as_ref()
        .map(|r| (Resource::Group(r.name.clone()), Perm::SUB))
}

fn with(perm: Perm, r: Option<(Resource, Perm)>) -> Option<(Resource, Perm)> {
    r.map(|(r, _)| (r, perm))
}

/// What a call needs, by RPC.
pub trait AclNeeds {
    /// Resources and permissions.
    fn needs(&self) -> Needs;
}

fn needs(list: impl IntoIterator<Item = Option<(Resource, Perm)>>) -> Needs {
    Needs {
        admin: false,
        resources: list.into_iter().flatten().collect(),
    }
}

impl AclNeeds for v2::QueryRouteRequest {
    fn needs(&self) -> Needs {
        needs([with(Perm::ANY, topic(&self.topic))])
    }
}
impl AclNeeds for v2::QueryAssignmentRequest {
    fn needs(&self) -> Needs {
        needs([topic(&self.topic), group(&self.group)])
    }
}
impl AclNeeds for v2::HeartbeatRequest {
    fn needs(&self) -> Needs {
        needs([group(&self.group)])
    }
}
impl AclNeeds for v2::NotifyClientTerminationRequest {
    fn needs(&self) -> Needs {
        needs([group(&self.group)])
    }
}
impl AclNeeds for v2::SendMessageRequest {
    fn needs(&self) -> Needs {
        needs(
            self.messages
                .iter()
                .map(|m| with(Perm::PUB, topic(&m.topic))),
        )
    }
}
impl AclNeeds for v2::EndTransactionRequest {
    fn needs(&self) -> Needs {
        needs([with(Perm::PUB, topic(&self.topic))])
    }
}
impl AclNeeds for v2::ReceiveMessageRequest {
    fn needs(&self) -> Needs {
        let t = self.message_queue.as_ref().and_then(|q| topic(&q.topic));
        needs([t, group(&self.group)])
    }
}
impl AclNeeds for v2::AckMessageRequest {
    fn needs(&self) -> Needs {
        needs([topic(&self.topic), group(&self.group)])
    }
}
impl AclNeeds for v2::ChangeInvisibleDurationRequest {
    fn needs(&self) -> Needs {
        needs([topic(&self.topic), group(&self.group)])
    }
}
impl AclNeeds for v2::ForwardMessageToDeadLetterQueueRequest {
    fn needs(&self) -> Needs {
        needs([topic(&self.topic), group(&self.group)])
    }
}
impl AclNeeds for v2::Settings {
    fn needs(&self) -> Needs {
        match &self.pub_sub {
            Some(v2::settings::PubSub::Publishing(p)) => needs(
                p.topics
                    .iter()
                    .map(|t| Some((Resource::topic(&t.name), Perm::PUB))),
            ),
            Some(v2::settings::PubSub::Subscription(s)) => needs(
                std::iter::once(group(&s.group))
                    .chain(s.subscriptions.iter().map(|e| topic(&e.topic))),
            ),
            None => Needs::default(),
        }
    }
}

/// Checks a call against the ACL (when on); `Err` names what was refused.
pub fn check(call: &Call, rpc: &str, req: &impl AclNeeds) -> Result<(), String> {
    let Some(gate) = call.shard.acl.as_ref() else {
        return Ok(());
    };
    let (ak, sig) = parse_authorization(call.header("authorization")).unwrap_or_default();
    let date = call.header(DATE_TIME_HEADER).to_owned();
    gate.check_signed(
        call.peer.ip(),
        &ak,
        !sig.is_empty(),
        |account| signature(&account.secret_key, &date) == sig,
        || Ok((req.needs(), format!("RPC {rpc}"))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_both_sdks_parse_and_verify() {
        let sig = signature("sk", "20261206T101010Z");
        let lower: String = sig.iter().map(|b| format!("{b:02x}")).collect();
        for hex in [lower.clone(), lower.to_uppercase()] {
            let h = format!(
                "MQv2-HMAC-SHA1 Credential=ak, SignedHeaders=x-mq-date-time, Signature={hex}"
            );
            assert_eq!(parse_authorization(&h), Some(("ak".into(), sig.clone())));
        }
        assert_eq!(parse_authorization("Basic abc"), None);
        assert_eq!(
            parse_authorization("MQv2-HMAC-SHA1 Credential=ak, Signature=zz"),
            None
        );
    }
}
