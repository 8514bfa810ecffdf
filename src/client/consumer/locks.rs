//! Broker locks of an orderly consumer: LOCK_BATCH_MQ before a queue is consumed,
//! UNLOCK_BATCH_MQ when it is given up, and renewal at every rebalance, so two members of
//! a group never consume one queue's order at once.

use super::*;

impl Consumer {
    /// LOCK_BATCH_MQ / UNLOCK_BATCH_MQ for `mqs` of one broker.
    pub(super) fn lock_request(
        &self,
        code: RequestCode,
        mqs: Vec<MessageQueue>,
    ) -> RemotingCommand {
        let body = LockBatchRequestBody {
            consumer_group: self.cfg.group.clone(),
            client_id: self.cfg.client_id.clone(),
            mq_set: mqs.into_iter().collect(),
            only_this_broker: false,
        };
        RemotingCommand::request(code.code(), ExtFields::new()).with_body(to_json(&body))
    }

    /// Locks `queues` on their brokers for this client; returns those locked.
    pub(super) async fn lock(&self, queues: &[QueueAt]) -> BTreeSet<QueueAt> {
        let mut locked = BTreeSet::new();
        for (addr, mqs) in by_broker(queues) {
            let req = self.lock_request(RequestCode::LOCK_BATCH_MQ, mqs);
            let r = match self.links().call(addr, req).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("lock on {addr} failed: {e}");
                    continue;
                }
            };
            if let Ok(ok) = from_json_lenient::<LockBatchResponseBody>(&r.body) {
                locked.extend(ok.lock_ok_mq_set.into_iter().map(|mq| QueueAt { mq, addr }));
            }
        }
        locked
    }

    pub(super) async fn unlock(&self, queues: &[QueueAt]) {
        for (addr, mqs) in by_broker(queues) {
            let req = self.lock_request(RequestCode::UNLOCK_BATCH_MQ, mqs);
            if let Err(e) = self.links().call(addr, req).await {
                tracing::warn!("unlock on {addr} failed: {e}");
            }
        }
    }

    /// Orderly: renews the locks of the queues owned now (every rebalance, 20 s, within
    /// the 30 s a lock is trusted); a queue whose lock is refused is given up. Runs even
    /// when the route cannot be refreshed.
    pub(super) async fn renew_locks(&self) {
        let owned: Vec<QueueAt> = self.owned.borrow().keys().cloned().collect();
        if owned.is_empty() {
            return;
        }
        let taken = Instant::now();
        let locked = self.lock(&owned).await;
        for (q, o) in self.owned.borrow().iter() {
            if locked.contains(q) {
                o.run
                    .locked_until
                    .set(taken + Duration::from_millis(LOCK_VALID_MS));
            }
        }
        let lost: Vec<QueueAt> = owned.into_iter().filter(|q| !locked.contains(q)).collect();
        self.release(lost).await;
    }
}
