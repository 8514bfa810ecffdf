//! Long polling: a pull that finds nothing new is parked on its queue until a message is
//! appended to it or its suspend time runs out (spec §2.4), instead of letting the consumer
//! spin. Waiters live on the shard that owns the queue, next to the appends that wake them.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use futures_lite::future;

use crate::remoting::oneshot;

/// Pulls parked per shard at most; past it a pull is answered at once (NOT_FOUND).
pub const MAX_PARKED_PULLS_PER_SHARD: usize = 65_536;
/// Longest park, whatever the client asks: clients time out at 30 s.
pub const MAX_SUSPEND_MS: u64 = 20_000;

/// The queue id under which topic-wide waiters park.
const ANY_QUEUE: i32 = -1;

type Waiters = Vec<(u64, oneshot::Sender<()>)>;

/// Parked pulls of one shard.
#[derive(Default)]
pub struct PullWaiters {
    parked: RefCell<HashMap<(String, i32), Waiters>>,
    count: Cell<usize>,
    next_id: Cell<u64>,
}

impl PullWaiters {
    /// Parks until `notify(topic, qid)` or `timeout`; false when the shard is full of
    /// parked pulls (the caller answers at once).
    pub async fn wait(&self, topic: &str, qid: i32, timeout: Duration) -> bool {
        if self.count.get() >= MAX_PARKED_PULLS_PER_SHARD {
            return false;
        }
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (tx, rx) = oneshot::channel();
        let key = (topic.to_owned(), qid);
        self.parked
            .borrow_mut()
            .entry(key.clone())
            .or_default()
            .push((id, tx));
        self.count.set(self.count.get() + 1);
        let timeout = timeout.min(Duration::from_millis(MAX_SUSPEND_MS));
        let woken = future::or(async { rx.await.is_some() }, async {
            glommio::timer::sleep(timeout).await;
            false
        })
        .await;
        if !woken {
            // Timed out: take our entry out (a notify would have removed it).
            let mut parked = self.parked.borrow_mut();
            if let Some(list) = parked.get_mut(&key) {
                if let Some(i) = list.iter().position(|(w, _)| *w == id) {
                    list.swap_remove(i);
                    self.count.set(self.count.get() - 1);
                }
                if list.is_empty() {
                    parked.remove(&key);
                }
            }
        }
        true
    }

    /// Parks until a message is appended to any of the topic's queues on this shard (a
    /// POP receive, which takes from every queue) or `timeout`.
    pub async fn wait_topic(&self, topic: &str, timeout: Duration) -> bool {
        self.wait(topic, ANY_QUEUE, timeout).await
    }

    /// Wakes every pull parked on the queue, and the receives parked on its topic.
    pub fn notify(&self, topic: &str, qid: i32) {
        if self.count.get() == 0 {
            return;
        }
        let list = {
            let mut parked = self.parked.borrow_mut();
            let mut list = parked.remove(&(topic.to_owned(), qid)).unwrap_or_default();
            if let Some(any) = parked.remove(&(topic.to_owned(), ANY_QUEUE)) {
                list.extend(any);
            }
            list
        };
        for (_, tx) in list {
            self.count.set(self.count.get() - 1);
            tx.send(());
        }
    }

    /// Pulls parked right now.
    pub fn parked(&self) -> usize {
        self.count.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::time::Instant;

    #[test]
    fn append_wakes_and_timeout_cleans_up() {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(128 << 10)
            .spawn(|| async {
                let w = Rc::new(PullWaiters::default());
                let w2 = w.clone();
                let t = glommio::spawn_local(async move {
                    w2.wait("T", 1, Duration::from_secs(10)).await;
                });
                glommio::timer::sleep(Duration::from_millis(20)).await;
                assert_eq!(w.parked(), 1);
                w.notify("T", 0); // another queue: nothing
                assert_eq!(w.parked(), 1);
                let start = Instant::now();
                w.notify("T", 1);
                t.await;
                assert!(start.elapsed() < Duration::from_secs(5));
                assert_eq!(w.parked(), 0);
                assert!(w.wait("T", 2, Duration::from_millis(10)).await);
                assert_eq!(w.parked(), 0, "timed-out waiter removed");
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
