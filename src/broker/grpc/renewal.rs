//! Lease renewal for push consumers (RocketMQ 5's proxy auto-renew): a PushConsumer
//! receives with `auto_renew`, keeps messages in its local cache and hands them to
//! handlers that may run far longer than a lease. While the client is alive, the core
//! that served its receive moves each lease forward shortly before it runs out
//! (`renewAheadTimeMillis`), for at most `renewMaxTimeMillis`; when the client ends
//! (NotifyClientTermination, or silent past [`super::clients::GRPC_CLIENT_EXPIRY_MS`]),
//! what it still holds is cut to `invisibleTimeMillisWhenClear` so it comes back soon.
//!
//! Unlike the proxy, a renewal keeps the lease's id: the receipt handle the client holds
//! stays the one that acks, so there is no map from first to latest handle. The lease
//! book on the owner shard stays the only truth; this table is a to-do list of what to
//! renew. Losing it (a restart) loses nothing: the leases run out and the messages come
//! back, as every un-acked message does after a restart.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use crate::broker::pop::handle::ReceiptHandle;
use crate::broker::pop::owner;
use crate::broker::shard::Shard;

/// A delivery: group, topic, queue, offset.
pub type HeldKey = (String, String, i32, u64);

/// A delivery a live push consumer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// `x-mq-client-id` of the holder.
    pub client_id: String,
    /// The lease number its handle names.
    pub lease: u64,
    /// When it was received, ms since the epoch (bounds renewal by renewMaxTimeMillis).
    pub since_ms: i64,
    /// When its lease runs out now, ms since the epoch.
    pub visible_at_ms: i64,
}

/// What one scan found to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Leases to move forward (still listed; [`Renewals::renewed`] records the new time).
    pub renew: Vec<(HeldKey, u64)>,
    /// Leases of clients that are gone, to cut short (no longer listed).
    pub clear: Vec<(HeldKey, u64)>,
    /// Renewed for renewMaxTimeMillis already: left to run out (no longer listed).
    pub given_up: usize,
}

/// This core's deliveries held by live push consumers.
#[derive(Debug, Default)]
pub struct Renewals {
    held: HashMap<HeldKey, Held>,
}

impl Renewals {
    /// Lists a delivery for renewal.
    pub fn hold(&mut self, key: HeldKey, held: Held) {
        self.held.insert(key, held);
    }

    /// Stops renewing a delivery (acked, changed by the client, or forwarded to the
    /// DLQ) when `lease` is the one listed: a stale handle leaves a later holder's alone.
    pub fn release(&mut self, key: &HeldKey, lease: u64) {
        if self.held.get(key).is_some_and(|h| h.lease == lease) {
            self.held.remove(key);
        }
    }

    /// Records a renewal's new time; forgets the delivery when the owner said its lease
    /// is no longer the holder's (`None`).
    pub fn renewed(&mut self, key: &HeldKey, lease: u64, visible_at_ms: Option<i64>) {
        match visible_at_ms {
            Some(at) => {
                if let Some(h) = self.held.get_mut(key).filter(|h| h.lease == lease) {
                    h.visible_at_ms = at;
                }
            }
            None => {
                if self.held.get(key).is_some_and(|h| h.lease == lease) {
                    self.held.remove(key);
                }
            }
        }
    }

    /// Takes every delivery `client_id` holds (the client ended).
    pub fn take_client(&mut self, client_id: &str) -> Vec<(HeldKey, u64)> {
        let keys: Vec<HeldKey> = self
            .held
            .iter()
            .filter(|(_, h)| h.client_id == client_id)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| self.held.remove(&k).map(|h| (k, h.lease)))
            .collect()
    }

    /// What is due at `now_ms`: leases within `ahead_ms` of running out are renewed
    /// while their holder is `alive` and `max_ms` has not passed since the receive.
    pub fn scan(
        &mut self,
        now_ms: i64,
        ahead_ms: i64,
        max_ms: i64,
        alive: impl Fn(&str) -> bool,
    ) -> Scan {
        let mut out = Scan::default();
        self.held.retain(|k, h| {
            if !alive(&h.client_id) {
                out.clear.push((k.clone(), h.lease));
                return false;
            }
            if h.visible_at_ms - now_ms > ahead_ms {
                return true;
            }
            if now_ms - h.since_ms >= max_ms {
                out.given_up += 1;
                return false;
            }
            out.renew.push((k.clone(), h.lease));
            true
        });
        out
    }

    /// Deliveries listed.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// True when nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// Moves each lease to `invisible_ms` from now on its owner shard, one router call per
/// owner; each delivery's new time, `None` where the lease is no longer the holder's.
/// A delivery whose owner could not be reached is left out (tried again next scan).
pub async fn extend_all(
    shard: &Rc<Shard>,
    leases: Vec<(HeldKey, u64)>,
    invisible_ms: i64,
) -> Vec<(HeldKey, u64, Option<i64>)> {
    let mut by_owner: HashMap<usize, Vec<(HeldKey, u64)>> = HashMap::new();
    for (k, lease) in leases {
        by_owner
            .entry(shard.queue_owner(&k.1, k.2))
            .or_default()
            .push((k, lease));
    }
    let mut out = Vec::new();
    for (o, batch) in by_owner {
        let done = shard
            .run_on(o, move |s| async move {
                batch
                    .into_iter()
                    .map(|(k, lease)| {
                        let h = ReceiptHandle {
                            queue_id: k.2,
                            offset: k.3,
                            lease,
                            visible_at_ms: 0,
                        };
                        let l = owner::extend(&s, &k.0, &k.1, h, invisible_ms);
                        (k, lease, l.map(|l| l.visible_at_ms))
                    })
                    .collect::<Vec<_>>()
            })
            .await;
        match done {
            Ok(r) => out.extend(r),
            Err(e) => tracing::warn!(owner = o, "lease renewal: {e}"),
        }
    }
    out
}

/// Cuts what `client_id` holds to invisibleTimeMillisWhenClear (the client ended).
pub async fn clear_client(shard: &Rc<Shard>, client_id: &str) {
    let leases = shard.grpc_renewals.borrow_mut().take_client(client_id);
    if leases.is_empty() {
        return;
    }
    let n = leases.len();
    let ms = shard.cfg().invisible_time_millis_when_clear as i64;
    extend_all(shard, leases, ms).await;
    tracing::info!(
        client_id,
        n,
        "client ended: its held messages come back in {ms} ms"
    );
}

/// Renews held leases every renewSchedulePeriodMillis, for as long as the shard runs.
pub async fn run(shard: Rc<Shard>) {
    let cfg = shard.cfg().clone();
    let period = Duration::from_millis(cfg.renew_schedule_period_millis);
    let (lease_ms, clear_ms) = (
        cfg.default_invisible_time_mills as i64,
        cfg.invisible_time_millis_when_clear as i64,
    );
    loop {
        glommio::timer::sleep(period).await;
        if shard.grpc_renewals.borrow().is_empty() {
            continue;
        }
        let scan = {
            let clients = shard.grpc_clients.borrow();
            shard.grpc_renewals.borrow_mut().scan(
                crate::clock::now_ms(),
                cfg.renew_ahead_time_millis as i64,
                cfg.renew_max_time_millis as i64,
                |id| clients.knows(id),
            )
        };
        if scan.given_up > 0 {
            tracing::info!(
                n = scan.given_up,
                "renewMaxTimeMillis passed: leases left to run out"
            );
        }
        if !scan.clear.is_empty() {
            tracing::info!(
                n = scan.clear.len(),
                "push consumers gone: their held messages come back in {clear_ms} ms"
            );
            extend_all(&shard, scan.clear, clear_ms).await;
        }
        for (k, lease, at) in extend_all(&shard, scan.renew, lease_ms).await {
            shard.grpc_renewals.borrow_mut().renewed(&k, lease, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(offset: u64) -> HeldKey {
        ("G".into(), "T".into(), 0, offset)
    }

    fn held(client: &str, lease: u64, visible_at_ms: i64) -> Held {
        Held {
            client_id: client.into(),
            lease,
            since_ms: 0,
            visible_at_ms,
        }
    }

    #[test]
    fn only_leases_near_their_end_are_renewed_and_a_gone_client_is_cleared() {
        let mut r = Renewals::default();
        r.hold(key(1), held("a", 11, 1_000));
        r.hold(key(2), held("a", 12, 5_000));
        r.hold(key(3), held("b", 13, 1_000));
        let s = r.scan(500, 600, 10_000, |c| c == "a");
        assert_eq!(s.renew, vec![(key(1), 11)], "within 600 ms of its end");
        assert_eq!(s.clear, vec![(key(3), 13)], "b is gone");
        assert_eq!(r.len(), 2);
        r.renewed(&key(1), 11, Some(4_000));
        let s = r.scan(600, 600, 10_000, |_| true);
        assert!(s.renew.is_empty(), "renewed: not due again yet");
        // The owner says lease 11 is not current any more (acked elsewhere, changed).
        r.renewed(&key(1), 11, None);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn renewal_stops_after_the_maximum_and_a_release_or_an_end_takes_it_out() {
        let mut r = Renewals::default();
        r.hold(key(1), held("a", 11, 1_000));
        let s = r.scan(900, 600, 900, |_| true);
        assert_eq!((s.renew.len(), s.given_up), (0, 1));
        assert!(r.is_empty());

        r.hold(key(1), held("a", 11, 1_000));
        r.hold(key(2), held("a", 12, 1_000));
        r.hold(key(3), held("b", 13, 1_000));
        r.release(&key(2), 99);
        assert_eq!(r.len(), 3, "another lease's handle releases nothing");
        r.release(&key(2), 12);
        let mut mine = r.take_client("a");
        assert!(r.take_client("a").is_empty());
        mine.sort();
        assert_eq!(mine, vec![(key(1), 11)]);
        assert_eq!(r.len(), 1, "b's stays");
        // A stale answer for a lease that was replaced leaves the new one listed.
        r.hold(key(3), held("b", 14, 1_000));
        r.renewed(&key(3), 13, None);
        assert_eq!(r.len(), 1);
    }
}
