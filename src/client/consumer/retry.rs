//! What a concurrent consumer does with a message its listener failed: CONSUMER_SEND_MSG_BACK
//! to the broker, or, when that fails, a copy sent to `%RETRY%<group>` as RocketMQ's client
//! does.

use super::*;

impl Consumer {
    /// CONSUMER_SEND_MSG_BACK (36): the broker redelivers `m` later, or moves it to the
    /// DLQ (`delay_level` -1, or out of retries).
    pub(super) async fn send_back(&self, q: &QueueAt, m: &Received, delay_level: i32) -> bool {
        let (offset, level) = (m.commit_log_offset.to_string(), delay_level.to_string());
        let max = self.cfg.max_reconsume().to_string();
        let req = request(
            RequestCode::CONSUMER_SEND_MSG_BACK,
            &[
                ("offset", &offset),
                ("group", &self.cfg.group),
                ("delayLevel", &level),
                ("originMsgId", &m.msg_id),
                ("originTopic", &m.topic),
                ("unitMode", "false"),
                ("maxReconsumeTimes", &max),
            ],
        );
        match self.links().call(q.addr, req).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!("send-back of {} failed: {e}", m.msg_id);
                false
            }
        }
    }

    /// RocketMQ's fallback when send-back fails: send a copy to `%RETRY%<group>` with the
    /// next reconsume count and its delay; the broker dead-letters it past the maximum.
    pub(super) async fn resend_to_retry(&self, m: &Received) -> bool {
        let producer = {
            let mut slot = self.fallback.borrow_mut();
            match &*slot {
                Some(p) => p.clone(),
                None => match crate::client::producer::Producer::new(
                    &format!("CLIENT_INNER_PRODUCER_{}", self.cfg.group),
                    self.pull.namesrv().to_vec(),
                    Duration::from_millis(CONTROL_TIMEOUT_MS),
                ) {
                    Ok(p) => slot.insert(Rc::new(p)).clone(),
                    Err(_) => return false,
                },
            }
        };
        let times = m.reconsume_times.saturating_add(1);
        let mut properties: Vec<(String, String)> = m
            .properties
            .iter()
            .filter(|(k, _)| ![keys::UNIQ_KEY, keys::TAGS, keys::KEYS, keys::WAIT].contains(k))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let mut set = |k: &str, v: String| {
            properties.retain(|(x, _)| x != k);
            properties.push((k.to_owned(), v));
        };
        set(keys::RETRY_TOPIC, m.topic.clone());
        set(keys::ORIGIN_MESSAGE_ID, m.msg_id.clone());
        set(keys::RECONSUME_TIME, times.to_string());
        set(
            keys::MAX_RECONSUME_TIMES,
            self.cfg.max_reconsume().to_string(),
        );
        set(keys::DELAY, (3 + times).to_string());
        let copy = crate::client::producer::Message {
            topic: retry_topic(&self.cfg.group),
            properties,
            flag: 0,
            ..crate::client::producer::Message::copy_of(m)
        };
        match producer.send(&copy).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!("resending {} to the retry topic failed: {e}", m.msg_id);
                false
            }
        }
    }
}
