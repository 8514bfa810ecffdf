//! What a request needs (RocketMQ's `PlainAccessValidator.parse` and
//! `Permission.ADMIN_CODE`): the topics and groups it touches with the permission each
//! needs, and whether only an admin account may send it.
//!
//! A topic named `%RETRY%<group>` is the group `<group>`: RocketMQ keeps group permissions
//! under the retry topic's name, so a subscription to a retry topic is checked against the
//! group.

use crate::broker::metadata::RETRY_PREFIX;
use crate::protocol::body::client::HeartbeatData;
use crate::protocol::{RemotingCommand, RequestCode};

use super::permission::Perm;

/// A topic or a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A topic.
    Topic(String),
    /// A consumer group.
    Group(String),
}

impl Resource {
    /// `topic`, or the group when it is a retry topic.
    pub fn topic(name: &str) -> Resource {
        match name.strip_prefix(RETRY_PREFIX) {
            Some(group) => Resource::Group(group.to_owned()),
            None => Resource::Topic(name.to_owned()),
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::Topic(t) => write!(f, "topic {t}"),
            Resource::Group(g) => write!(f, "group {g}"),
        }
    }
}

/// What one request needs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Only an admin account may send it.
    pub admin: bool,
    /// Resources and the permission each needs.
    pub resources: Vec<(Resource, Perm)>,
}

/// Requests only an admin account may send: RocketMQ 4.9's five, plus the ACL changes
/// (RocketMQ 4.9 lets any signed account change the ACL; coremq does not).
const ADMIN_CODES: [RequestCode; 8] = [
    RequestCode::UPDATE_AND_CREATE_TOPIC,
    RequestCode::UPDATE_BROKER_CONFIG,
    RequestCode::DELETE_TOPIC_IN_BROKER,
    RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
    RequestCode::DELETE_SUBSCRIPTIONGROUP,
    RequestCode::UPDATE_AND_CREATE_ACL_CONFIG,
    RequestCode::DELETE_ACL_CONFIG,
    RequestCode::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG,
];

/// The needs of `req`, or why they cannot be read (a heartbeat body that does not parse).
pub fn needs(code: RequestCode, req: &RemotingCommand) -> Result<Needs, String> {
    use RequestCode as C;
    let ext = |k: &str| req.ext.get(k).map(str::to_owned);
    let mut n = Needs {
        admin: ADMIN_CODES.contains(&code),
        resources: Vec::new(),
    };
    let mut add = |r: Option<Resource>, p: Perm| {
        if let Some(r) = r {
            n.resources.push((r, p));
        }
    };
    let topic = |k: &str| req.ext.get(k).map(Resource::topic);
    let group = |k: &str| ext(k).map(Resource::Group);
    match code {
        C::SEND_MESSAGE | C::SEND_MESSAGE_V2 | C::SEND_BATCH_MESSAGE => {
            // 310 and 320 use the letter names unless the client sent long ones.
            let key = if req.ext.get("b").is_some() {
                "b"
            } else {
                "topic"
            };
            // A send to a retry topic (a consumer's fallback for a failed send-back)
            // needs SUB on that group, as RocketMQ asks.
            let perm = match req.ext.get(key) {
                Some(t) if t.starts_with(RETRY_PREFIX) => Perm::SUB,
                _ => Perm::PUB,
            };
            add(topic(key), perm);
        }
        C::CONSUMER_SEND_MSG_BACK => add(group("group"), Perm::SUB),
        C::PULL_MESSAGE => {
            add(topic("topic"), Perm::SUB);
            add(group("consumerGroup"), Perm::SUB);
        }
        C::QUERY_MESSAGE => add(topic("topic"), Perm::SUB),
        C::HEART_BEAT => {
            let hb = HeartbeatData::parse(&req.body)?;
            for c in hb.consumers {
                add(Some(Resource::Group(c.group_name)), Perm::SUB);
                for s in c.subscriptions {
                    add(Some(Resource::topic(&s.topic)), Perm::SUB);
                }
            }
        }
        C::UNREGISTER_CLIENT | C::GET_CONSUMER_LIST_BY_GROUP => {
            add(group("consumerGroup"), Perm::SUB)
        }
        C::UPDATE_CONSUMER_OFFSET => {
            add(group("consumerGroup"), Perm::SUB);
            add(topic("topic"), Perm::SUB);
        }
        _ => {}
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ExtFields;

    fn req(code: RequestCode, fields: &[(&str, &str)]) -> RemotingCommand {
        let mut e = ExtFields::new();
        for (k, v) in fields {
            e.insert(*k, *v);
        }
        RemotingCommand::request(code.code(), e)
    }

    fn needs_of(code: RequestCode, fields: &[(&str, &str)]) -> Needs {
        needs(code, &req(code, fields)).unwrap()
    }

    #[test]
    fn codes_map_to_rocketmq_resources() {
        let t = |s: &str| Resource::Topic(s.into());
        let g = |s: &str| Resource::Group(s.into());
        assert_eq!(
            needs_of(RequestCode::SEND_MESSAGE_V2, &[("a", "pg"), ("b", "T")]).resources,
            [(t("T"), Perm::PUB)]
        );
        assert_eq!(
            needs_of(RequestCode::SEND_MESSAGE, &[("topic", "%RETRY%cg")]).resources,
            [(g("cg"), Perm::SUB)]
        );
        assert_eq!(
            needs_of(
                RequestCode::PULL_MESSAGE,
                &[("topic", "T"), ("consumerGroup", "cg")]
            )
            .resources,
            [(t("T"), Perm::SUB), (g("cg"), Perm::SUB)]
        );
        assert_eq!(
            needs_of(RequestCode::CONSUMER_SEND_MSG_BACK, &[("group", "cg")]).resources,
            [(g("cg"), Perm::SUB)]
        );
        let admin = needs_of(RequestCode::UPDATE_AND_CREATE_TOPIC, &[("topic", "T")]);
        assert!(admin.admin && admin.resources.is_empty());
        assert!(!needs_of(RequestCode::GET_MAX_OFFSET, &[("topic", "T")]).admin);
    }

    #[test]
    fn heartbeat_needs_its_groups_and_subscriptions() {
        let body = br#"{"clientID":"c","consumerDataSet":[{"groupName":"cg","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"topic":"T","subString":"*"},{"topic":"%RETRY%cg","subString":"*"}]}],"producerDataSet":[]}"#;
        let r = req(RequestCode::HEART_BEAT, &[]).with_body(&body[..]);
        let n = needs(RequestCode::HEART_BEAT, &r).unwrap();
        assert_eq!(
            n.resources,
            [
                (Resource::Group("cg".into()), Perm::SUB),
                (Resource::Topic("T".into()), Perm::SUB),
                (Resource::Group("cg".into()), Perm::SUB),
            ]
        );
        let bad = req(RequestCode::HEART_BEAT, &[]).with_body(&b"{"[..]);
        assert!(needs(RequestCode::HEART_BEAT, &bad).is_err());
    }
}
