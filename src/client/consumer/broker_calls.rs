//! Requests a broker sends a consumer on mqadmin's behalf: GET_CONSUMER_RUNNING_INFO,
//! RESET_CONSUMER_CLIENT_OFFSET and CONSUME_MESSAGE_DIRECTLY, answered from the consumer's
//! own state.

use super::*;

impl Consumer {
    /// GET_CONSUMER_RUNNING_INFO (307), relayed by a broker for mqadmin: this consumer's
    /// settings, subscriptions and the state of every queue it owns.
    pub(super) fn running_info(&self, req: &RemotingCommand) -> RemotingCommand {
        let mut info = ConsumerRunningInfo::default();
        let namesrv: Vec<String> = self.pull.namesrv().iter().map(|a| a.to_string()).collect();
        for (k, v) in [
            ("PROP_NAMESERVER_ADDR", namesrv.join(";")),
            ("PROP_CONSUME_TYPE", "CONSUME_PASSIVELY".to_owned()),
            ("PROP_CONSUMEORDERLY", self.cfg.orderly.to_string()),
            ("PROP_THREADPOOL_CORE_SIZE", "1".to_owned()),
            ("PROP_CONSUMER_START_TIMESTAMP", self.started_ms.to_string()),
            (
                "PROP_CLIENT_VERSION",
                crate::protocol::version_name(crate::protocol::SERVER_VERSION),
            ),
            ("consumerGroup", self.cfg.group.clone()),
            ("messageModel", "CLUSTERING".to_owned()),
            ("consumeFromWhere", self.consume_from_where().to_owned()),
            (
                "pullThresholdForQueue",
                self.cfg.pull_threshold_for_queue.to_string(),
            ),
            ("pullBatchSize", self.cfg.pull_batch_size.to_string()),
            ("maxReconsumeTimes", self.cfg.max_reconsume().to_string()),
        ] {
            info.properties.insert(k.to_owned(), v);
        }
        info.subscription_set = self.subs.to_vec();
        let (now, now_wall) = (Instant::now(), crate::clock::now_ms());
        for (q, owned) in self.owned.borrow().iter() {
            let run = &owned.run;
            let cached = run.cached.get().max(0);
            let locked = self.cfg.orderly && now < run.locked_until.get();
            let lock_taken = run.locked_until.get() - Duration::from_millis(LOCK_VALID_MS);
            info.mq_table.insert(
                q.mq.clone(),
                ProcessQueueInfo {
                    commit_offset: run.consumed.get(),
                    // As Java's ProcessQueue: 0 and 0 when nothing is cached.
                    cached_msg_min_offset: if cached > 0 { run.consumed.get() } else { 0 },
                    cached_msg_max_offset: if cached > 0 { run.cached_max.get() } else { 0 },
                    cached_msg_count: cached,
                    locked,
                    last_lock_timestamp: if self.cfg.orderly {
                        now_wall - now.saturating_duration_since(lock_taken).as_millis() as i64
                    } else {
                        0
                    },
                    droped: !run.alive.get(),
                    last_pull_timestamp: run.last_pull_ms.get(),
                    last_consume_timestamp: run.last_consume_ms.get(),
                    ..Default::default()
                },
            );
        }
        req.success().with_body(info.to_json())
    }

    /// RESET_CONSUMER_CLIENT_OFFSET (220), from a broker running `resetOffsetByTime`: the
    /// queues of the table this consumer holds are dropped at once (their tasks stop and
    /// nothing more is committed from them), the new offsets are committed, and the next
    /// rebalance, run now, takes the queues again from there.
    pub(super) fn reset_offsets(self: &Rc<Self>, req: &RemotingCommand) -> RemotingCommand {
        let table: Vec<(MessageQueue, i64)> =
            match from_json_lenient::<serde_json::Value>(&req.body) {
                Ok(v) => object_keyed_entries::<MessageQueue, i64>(&v["offsetTable"])
                    .filter_map(Result::ok)
                    .collect(),
                Err(e) => {
                    tracing::warn!("reset-offset notice with a bad body: {e}");
                    return req.error(ResponseCode::SYSTEM_ERROR, format!("bad body: {e}"));
                }
            };
        let mut dropped = Vec::new();
        {
            let mut owned = self.owned.borrow_mut();
            for (mq, offset) in table {
                let held = owned.keys().find(|q| q.mq == mq).cloned();
                if let Some(q) = held {
                    if let Some(o) = owned.remove(&q) {
                        o.run.alive.set(false);
                        dropped.push((q, offset));
                    }
                }
            }
        }
        tracing::info!(
            group = %self.cfg.group,
            queues = dropped.len(),
            "offsets reset by the broker"
        );
        let me = self.clone();
        self.resets_in_flight.set(self.resets_in_flight.get() + 1);
        glommio::spawn_local(async move {
            for (q, offset) in dropped {
                if let Err(e) = me.pull.commit(&q, offset).await {
                    tracing::warn!("committing the reset offset failed: {e}");
                }
            }
            me.resets_in_flight.set(me.resets_in_flight.get() - 1);
            me.rebalance_now.set(true);
        })
        .detach();
        req.success()
    }

    /// CONSUME_MESSAGE_DIRECTLY (309), relayed by a broker for `queryMsgById -g -d`: hands
    /// the stored message in the body to the listener once, outside any queue (no offset
    /// moves, a failure is not sent back) and reports how it went.
    pub(super) fn consume_directly(&self, req: &RemotingCommand) -> RemotingCommand {
        let Some(listener) = self.listener.borrow().clone() else {
            return req.error(ResponseCode::SYSTEM_ERROR, "the consumer is not running");
        };
        let (mut msgs, _) = crate::client::message::decode_pull_body(&req.body);
        let Some(mut m) = msgs.pop().filter(|_| msgs.is_empty()) else {
            return req.error(
                ResponseCode::SYSTEM_ERROR,
                "the body is not exactly one stored message",
            );
        };
        m.restore_retry_topic();
        let started = Instant::now();
        let status = listener(&m);
        let result = ConsumeMessageDirectlyResult {
            order: self.cfg.orderly,
            auto_commit: true,
            consume_result: match status {
                // A diagnostic call does not stop the consumer, whatever the listener says.
                ConsumeStatus::Success | ConsumeStatus::Stop => ConsumeDirectlyOutcome::Success,
                ConsumeStatus::Later => ConsumeDirectlyOutcome::Later,
            },
            remark: None,
            spent_time_mills: started.elapsed().as_millis() as i64,
        };
        req.success().with_body(to_json(&result))
    }
}
