//! Message properties string (spec §4.1): `name\x01value\x02...`, final `\x02` optional.
//! Parsed into an ordered list for the few places the broker edits them (dropping `WAIT`,
//! adding `CLUSTER`, retry and delay bookkeeping); empty and malformed items are skipped.

/// Separates a name from its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Ends a property.
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// Keys the broker reads or writes.
pub mod keys {
    /// Tag.
    pub const TAGS: &str = "TAGS";
    /// Space-separated message keys.
    pub const KEYS: &str = "KEYS";
    /// Wait for flush before answering; not stored.
    pub const WAIT: &str = "WAIT";
    /// Transactional half message.
    pub const TRAN_MSG: &str = "TRAN_MSG";
    /// Producer group of a transactional message (check-backs go to this group).
    pub const PRODUCER_GROUP: &str = "PGROUP";
    /// The transaction id a client may set (it defaults to `UNIQ_KEY`).
    pub const TRANSACTION_ID: &str = "__transactionId__";
    /// Seconds a half message is not checked back (the producer's own timeout).
    pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
    /// Delay level.
    pub const DELAY: &str = "DELAY";
    /// Cluster name, added on store.
    pub const CLUSTER: &str = "CLUSTER";
    /// Original topic of a retried message.
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    /// Message id of the first delivery.
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
    /// Target topic while parked.
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    /// Target queue while parked.
    pub const REAL_QID: &str = "REAL_QID";
    /// Client-side unique id.
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    /// RocketMQ 5 timer message: due time, ms since the epoch.
    pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
    /// RocketMQ 5 timer message: delay in seconds from its arrival.
    pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
    /// RocketMQ 5 timer message: delay in milliseconds from its arrival.
    pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
    /// A delivered timer message: when it was due (RocketMQ 5 sets it too).
    pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
    /// A delivered timer message: its offset in the timer queue, so a restart can tell
    /// which deliveries reached the log.
    pub const TIMER_PARK_OFFSET: &str = "TIMER_PARK_OFFSET";
    /// Redelivery count carried by client-side resends.
    pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
    /// Max redeliveries carried by client-side resends.
    pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
    /// Request-reply: the requesting client's id, where the reply is pushed.
    pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
    /// Request-reply: pairs a reply with its request.
    pub const CORRELATION_ID: &str = "CORRELATION_ID";
    /// Request-reply: "reply" on a reply message.
    pub const MESSAGE_TYPE: &str = "MSG_TYPE";
    /// Request-reply: the `MSG_TYPE` value of a reply.
    pub const MESSAGE_TYPE_REPLY: &str = "reply";
    /// Request-reply: the requester's timeout, ms.
    pub const TTL: &str = "TTL";
    /// Request-reply: when the broker pushed the reply, ms since the epoch.
    pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
}

/// An editable properties list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties(Vec<(String, String)>);

impl Properties {
    /// Parses a properties string.
    pub fn parse(s: &str) -> Self {
        Properties(
            s.split(PROPERTY_SEPARATOR)
                .filter_map(|item| item.split_once(NAME_VALUE_SEPARATOR))
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// Every (key, value) in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a value (replacing).
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    /// Sets a value only when absent.
    pub fn set_if_absent(&mut self, key: &str, value: impl Into<String>) {
        if self.get(key).is_none() {
            self.0.push((key.to_owned(), value.into()));
        }
    }

    /// Removes a key.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// The wire form (without a final separator, like Java 4.9.2+).
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(self.0.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(PROPERTY_SEPARATOR);
            }
            s.push_str(k);
            s.push(NAME_VALUE_SEPARATOR);
            s.push_str(v);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_edit_encode() {
        for input in [
            "TAGS\u{1}a\u{2}WAIT\u{1}true\u{2}",
            "TAGS\u{1}a\u{2}WAIT\u{1}true",
        ] {
            let mut p = Properties::parse(input);
            assert_eq!(p.get("TAGS"), Some("a"));
            assert_eq!(p.remove("WAIT").as_deref(), Some("true"));
            p.set("CLUSTER", "c");
            p.set_if_absent("CLUSTER", "x");
            assert_eq!(p.encode(), "TAGS\u{1}a\u{2}CLUSTER\u{1}c");
        }
        assert_eq!(Properties::parse("").encode(), "");
        assert_eq!(
            Properties::parse("junk\u{2}\u{1}v\u{2}k\u{1}v").encode(),
            "k\u{1}v"
        );
    }
}
