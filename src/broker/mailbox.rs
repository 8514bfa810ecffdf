//! Cross-core mailboxes: what the router's batches travel in, one per ordered pair of
//! shards, woken only by the side that has something for the other.
//!
//! glommio's shared channels have the receiver, on every successful receive, notify the
//! sender's executor "there is room", whether or not anything there waits for room: an
//! eventfd write whenever that executor sleeps. So a shard that called its peer and went
//! to sleep could be woken when the peer merely took the call, sleep again (glommio's
//! sleep issues a process-wide `membarrier`, an IPI to the other busy vCPU), and be woken
//! once more by the reply. Here the sender pushes onto a lock-free queue and wakes the
//! receiving pump only if the pump registered a waker (it found the queue empty); the
//! receiver never wakes the sender.
//!
//! The trade-off: a mailbox is unbounded, so a sender never waits for room and nothing
//! needs the "room" wakeup. What fills it is calls, each awaited by its caller, and their
//! replies: client requests (at most `MAX_INFLIGHT_REQUESTS` per connection) and the
//! broker's own periodic work. The old bounded channel did not bound memory either: what
//! did not fit waited in the router's outboxes.
//!
//! Start-up: a shard may call a peer that has not started; the call waits in the peer's
//! mailbox. [`MailboxMesh::serving`] counts shards that serve, so that start-up can wait
//! for all of them before taking clients (glommio's mesh made `join` that barrier).
//!
//! Closing: dropping a shard's [`Outgoing`] marks its mailboxes closed and wakes their
//! pumps, which end once they have drained what was sent; dropping an [`Incoming`]
//! refuses later sends, so the sender learns the peer is gone. (A send racing that drop
//! can still be queued and never read; both only happen as a shard's executor ends.)

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use atomic_waker::AtomicWaker;
use crossbeam_queue::SegQueue;

/// One direction between two shards.
struct Mailbox<T> {
    queue: SegQueue<T>,
    /// The receiving pump, when it found the queue empty.
    pump: AtomicWaker,
    sender_closed: AtomicBool,
    receiver_closed: AtomicBool,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox {
            queue: SegQueue::new(),
            pump: AtomicWaker::new(),
            sender_closed: AtomicBool::new(false),
            receiver_closed: AtomicBool::new(false),
        }
    }
}

/// Every shard's mailboxes, built before the shards start; each shard takes its own
/// ends with [`MailboxMesh::join`].
pub struct MailboxMesh<T> {
    shards: usize,
    /// `from * shards + to`.
    boxes: Vec<Arc<Mailbox<T>>>,
    serving: Arc<AtomicUsize>,
}

impl<T> Clone for MailboxMesh<T> {
    fn clone(&self) -> Self {
        MailboxMesh {
            shards: self.shards,
            boxes: self.boxes.clone(),
            serving: self.serving.clone(),
        }
    }
}

impl<T: Send> MailboxMesh<T> {
    /// Mailboxes for `shards` shards, one per ordered pair.
    pub fn new(shards: usize) -> Self {
        MailboxMesh {
            shards,
            boxes: (0..shards * shards)
                .map(|_| Arc::new(Mailbox::default()))
                .collect(),
            serving: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The count of shards serving their mailboxes (see [`StartLatch`]).
    pub fn serving(&self) -> StartLatch {
        StartLatch {
            serving: self.serving.clone(),
            shards: self.shards,
        }
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Shard `me`'s ends: what it sends to each peer, and what each peer sends to it.
    pub fn join(&self, me: usize) -> (Outgoing<T>, Vec<(usize, Incoming<T>)>) {
        assert!(me < self.shards, "shard {me} of {}", self.shards);
        let at = |from: usize, to: usize| self.boxes[from * self.shards + to].clone();
        let outgoing = Outgoing {
            to: (0..self.shards).map(|to| at(me, to)).collect(),
        };
        let incoming = (0..self.shards)
            .filter(|&from| from != me)
            .map(|from| {
                (
                    from,
                    Incoming {
                        mailbox: at(from, me),
                    },
                )
            })
            .collect();
        (outgoing, incoming)
    }
}

/// Counts the shards that serve their mailboxes; start-up waits for all.
pub struct StartLatch {
    serving: Arc<AtomicUsize>,
    shards: usize,
}

/// How often a starting shard looks whether every shard serves (start-up only).
const START_POLL_MS: u64 = 1;

impl StartLatch {
    /// This shard serves now (once per shard).
    pub fn arrive(&self) {
        self.serving.fetch_add(1, Ordering::AcqRel);
    }

    /// Returns once every shard serves.
    pub async fn all_arrived(&self) {
        while self.serving.load(Ordering::Acquire) < self.shards {
            glommio::timer::sleep(std::time::Duration::from_millis(START_POLL_MS)).await;
        }
    }
}

/// A shard's sending ends, one per peer (its own slot is never used).
pub struct Outgoing<T> {
    to: Vec<Arc<Mailbox<T>>>,
}

impl<T> Outgoing<T> {
    /// Puts `item` in `peer`'s mailbox and wakes its pump if it waits; gives the item back
    /// if the peer is gone.
    pub fn send(&self, peer: usize, item: T) -> Result<(), T> {
        let mailbox = &self.to[peer];
        if mailbox.receiver_closed.load(Ordering::Acquire) {
            return Err(item);
        }
        mailbox.queue.push(item);
        mailbox.pump.wake();
        Ok(())
    }
}

impl<T> Drop for Outgoing<T> {
    fn drop(&mut self) {
        for mailbox in &self.to {
            mailbox.sender_closed.store(true, Ordering::Release);
            mailbox.pump.wake();
        }
    }
}

/// A shard's receiving end from one peer.
pub struct Incoming<T> {
    mailbox: Arc<Mailbox<T>>,
}

impl<T> Incoming<T> {
    /// The next item; `None` once the peer has closed and everything it sent was taken.
    pub async fn recv(&self) -> Option<T> {
        let mailbox = &*self.mailbox;
        poll_fn(|cx| {
            if let Some(item) = mailbox.queue.pop() {
                return Poll::Ready(Some(item));
            }
            // Registered before the second look: a send after the first look either is
            // seen by it or finds the waker and wakes us.
            mailbox.pump.register(cx.waker());
            if let Some(item) = mailbox.queue.pop() {
                // Not waiting after all: senders need not wake us.
                drop(mailbox.pump.take());
                return Poll::Ready(Some(item));
            }
            if mailbox.sender_closed.load(Ordering::Acquire) {
                // Items pushed before the close are visible after seeing it.
                return Poll::Ready(mailbox.queue.pop());
            }
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Incoming<T> {
    fn drop(&mut self) {
        self.mailbox.receiver_closed.store(true, Ordering::Release);
        // The pump's waker is dropped here, on its own core, not later by a sender.
        drop(self.mailbox.pump.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::{LocalExecutorBuilder, Placement};

    #[test]
    fn items_cross_cores_in_order_and_close_ends_the_pump() {
        const ITEMS: u64 = 20_000;
        let mesh = MailboxMesh::<u64>::new(2);
        let (tx_mesh, rx_mesh) = (mesh.clone(), mesh);
        let receiver = LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(128 << 10)
            .spawn(move || async move {
                let (_out, mut incoming) = rx_mesh.join(1);
                let (from, inbox) = incoming.remove(0);
                assert_eq!(from, 0);
                let mut expect = 0;
                // A lost wakeup shows as a stall, not as a hung test (the deadline is
                // polled first, so an item found late cannot hide it).
                let stalled = || async {
                    glommio::timer::sleep(std::time::Duration::from_secs(10)).await;
                    panic!("no item for 10 s: a send did not wake the pump")
                };
                while let Some(v) = futures_lite::future::or(stalled(), inbox.recv()).await {
                    assert_eq!(v, expect, "out of order");
                    expect += 1;
                }
                expect
            })
            .unwrap();
        let sender = LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(128 << 10)
            .spawn(move || async move {
                let (out, _incoming) = tx_mesh.join(0);
                for v in 0..ITEMS {
                    out.send(1, v).unwrap();
                    if v % 1000 == 0 {
                        // Let the receiver drain and sleep, so later sends must wake it.
                        glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
                    }
                }
                // Dropping `out` closes: the receiver ends after taking everything.
            })
            .unwrap();
        sender.join().unwrap();
        assert_eq!(receiver.join().unwrap(), ITEMS);
    }

    #[test]
    fn a_send_to_a_gone_peer_gives_the_item_back() {
        let mesh = MailboxMesh::<u64>::new(2);
        let (out, _) = mesh.join(0);
        let (_, incoming) = mesh.join(1);
        assert_eq!(out.send(1, 7), Ok(()));
        drop(incoming);
        assert_eq!(out.send(1, 8), Err(8));
    }

    #[test]
    fn start_waits_for_every_shard_to_serve() {
        let mesh = MailboxMesh::<u64>::new(2);
        let late = mesh.clone();
        let arrived_late = std::sync::Arc::new(AtomicBool::new(false));
        let flag = arrived_late.clone();
        let early = LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(128 << 10)
            .spawn(move || async move {
                let latch = mesh.serving();
                latch.arrive();
                latch.all_arrived().await;
                // Only the late shard's arrival can have let us through.
                assert!(
                    flag.load(Ordering::SeqCst),
                    "went on before the late shard served"
                );
            })
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        arrived_late.store(true, Ordering::SeqCst);
        late.serving().arrive();
        early.join().unwrap();
    }
}
