//! The share-nothing router: how a core gets work done by the core that owns a queue.
//!
//! Every shard runs one `Router` over a [`MailboxMesh`] (one mailbox per ordered pair of
//! cores; `mailbox` says why not glommio's channel mesh). `call(shard, request)` runs
//! the request on that shard's [`ShardService`] and returns its response: directly when
//! the shard is this one, otherwise as a `Call` message to the owner, whose reply comes
//! back as a `Reply` message matched by id. Nothing is shared between cores but these
//! messages.
//!
//! Batching: messages for a peer go into that peer's outbox, and one flusher task per peer
//! moves the whole outbox into the peer's mailbox as one batch. The flusher first yields behind
//! the tasks already runnable, so a batch carries what this core produced for the peer in a
//! turn: one mailbox entry and at most one wakeup of the peer per batch, not per message
//! (the trade-off: a message waits for the rest of the turn, microseconds). One flusher
//! per peer at a time keeps each peer's messages in order.
//!
//! Deadlock freedom: nothing waits to send (mailboxes are unbounded; what bounds them is
//! the connections' in-flight limits), and each peer has a receive pump that only
//! receives and dispatches (it spawns a task per call and completes local waiters on
//! replies).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;

use futures_lite::FutureExt as _;
use std::panic::AssertUnwindSafe;

use super::mailbox::{Incoming, MailboxMesh, Outgoing, StartLatch};
use crate::remoting::oneshot;

/// What a shard does with requests routed to it.
pub trait ShardService: 'static {
    /// A request (crosses cores: `Send`).
    type Request: Send + 'static;
    /// Its response.
    type Response: Send + 'static;
    /// Serves one request on this shard.
    fn handle(&self, req: Self::Request) -> impl Future<Output = Self::Response>;
    /// The response sent back when serving a request panicked.
    fn failed() -> Self::Response;
}

/// One message on the mesh.
pub enum Envelope<Q, R> {
    /// A request from the sending shard.
    Call {
        /// Id to match the reply.
        id: u64,
        /// The request.
        req: Q,
    },
    /// The response to a `Call` this shard sent.
    Reply {
        /// The call's id.
        id: u64,
        /// The response.
        resp: R,
    },
}

/// What crosses the mesh: the messages one core queued for a peer in one turn.
pub type Batch<Q, R> = Vec<Envelope<Q, R>>;

/// The mesh type for a service.
pub type Mesh<S> = MailboxMesh<Batch<<S as ShardService>::Request, <S as ShardService>::Response>>;

/// A shard's receiving ends, by peer.
type Inboxes<S> = Vec<(
    usize,
    Incoming<Batch<<S as ShardService>::Request, <S as ShardService>::Response>>,
)>;

/// Why a routed call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// The target shard does not exist.
    #[error("no shard {0}")]
    NoShard(usize),
    /// The target shard stopped (its executor ended).
    #[error("shard {0} is gone")]
    ShardGone(usize),
}

/// Serves a request; a panic becomes [`ShardService::failed`] instead of taking the core
/// down with it.
async fn serve_caught<S: ShardService>(service: &S, req: S::Request, from: usize) -> S::Response {
    AssertUnwindSafe(service.handle(req))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!(from, "a routed request panicked");
            S::failed()
        })
}

/// Calls waiting for a reply: id → (target shard, reply slot).
type Pending<R> = HashMap<u64, (usize, oneshot::Sender<R>)>;

/// Messages queued for one peer, and whether its flusher is running.
struct Outbox<Q, R> {
    queued: Batch<Q, R>,
    flushing: bool,
}

/// A shard's router.
pub struct Router<S: ShardService> {
    me: usize,
    shards: usize,
    senders: Outgoing<Batch<S::Request, S::Response>>,
    /// Per peer: messages waiting for the next batch.
    outboxes: Vec<RefCell<Outbox<S::Request, S::Response>>>,
    /// Batches sent to other shards.
    batches: Cell<u64>,
    /// Waiting calls: id → (target shard, reply slot).
    pending: RefCell<Pending<S::Response>>,
    next_id: Cell<u64>,
    service: Rc<S>,
    /// The receiving ends until [`Router::serve`] starts their pumps.
    inboxes: RefCell<Option<Inboxes<S>>>,
    started: StartLatch,
}

impl<S: ShardService> Router<S> {
    /// Takes shard `me`'s ends of the mesh. Calls from peers wait in the mailboxes until
    /// [`Router::serve`].
    pub fn join(mesh: &Mesh<S>, me: usize, service: Rc<S>) -> Rc<Self> {
        let shards = mesh.shards();
        let (senders, receivers) = mesh.join(me);
        Rc::new(Router {
            me,
            shards,
            senders,
            outboxes: (0..shards)
                .map(|_| {
                    RefCell::new(Outbox {
                        queued: Vec::new(),
                        flushing: false,
                    })
                })
                .collect(),
            batches: Cell::new(0),
            pending: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
            service,
            inboxes: RefCell::new(Some(receivers)),
            started: mesh.serving(),
        })
    }

    /// Starts serving peers' calls. Separate from [`Router::join`] because a peer may have
    /// sent before this shard joined, and glommio runs a spawned task at once: a pump
    /// started before the service is ready would hand it those calls.
    pub fn serve(self: &Rc<Self>) {
        let inboxes = self.inboxes.borrow_mut().take();
        if let Some(inboxes) = inboxes {
            Self::start_pumps(self, inboxes);
            self.started.arrive();
        }
    }

    /// Returns once every shard has called [`Router::serve`].
    pub async fn all_serving(&self) {
        self.started.all_arrived().await
    }

    /// This shard's id.
    pub fn shard_id(&self) -> usize {
        self.me
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Requests this shard has sent to other shards, and how many await an answer now.
    pub fn stats(&self) -> (u64, usize) {
        (self.next_id.get(), self.pending.borrow().len())
    }

    /// Batches this shard has sent to other shards (requests and replies).
    pub fn batches_sent(&self) -> u64 {
        self.batches.get()
    }

    /// Queues a message for `peer`; starts the peer's flusher unless it is running.
    fn post(self: &Rc<Self>, peer: usize, env: Envelope<S::Request, S::Response>) {
        let start = {
            let mut out = self.outboxes[peer].borrow_mut();
            out.queued.push(env);
            !std::mem::replace(&mut out.flushing, true)
        };
        if start {
            glommio::spawn_local(Self::flush(self.clone(), peer)).detach();
        }
    }

    /// Sends `peer`'s outbox as one batch.
    async fn flush(self: Rc<Self>, peer: usize) {
        // glommio runs a spawned task at once: step behind the tasks already runnable, so
        // what they queue for the peer goes in this batch.
        futures_lite::future::yield_now().await;
        let batch = {
            let mut out = self.outboxes[peer].borrow_mut();
            out.flushing = false;
            std::mem::take(&mut out.queued)
        };
        if !batch.is_empty() {
            self.batches.set(self.batches.get() + 1);
            if self.senders.send(peer, batch).is_err() {
                // The peer is gone: every call waiting on it fails now, and what is still
                // queued for it has no one to read it.
                self.outboxes[peer].borrow_mut().queued.clear();
                self.pending
                    .borrow_mut()
                    .retain(|_, (target, _)| *target != peer);
            }
        }
    }

    /// Runs `req` on shard `shard` and returns its response.
    pub async fn call(
        self: &Rc<Self>,
        shard: usize,
        req: S::Request,
    ) -> Result<S::Response, RouterError> {
        if shard >= self.shards {
            return Err(RouterError::NoShard(shard));
        }
        if shard == self.me {
            return Ok(serve_caught(&*self.service, req, self.me).await);
        }
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, (shard, tx));
        self.post(shard, Envelope::Call { id, req });
        rx.await.ok_or(RouterError::ShardGone(shard))
    }

    fn start_pumps(router: &Rc<Self>, receivers: Inboxes<S>) {
        for (peer, stream) in receivers {
            let r = router.clone();
            glommio::spawn_local(async move {
                while let Some(batch) = stream.recv().await {
                    for env in batch {
                        match env {
                            Envelope::Call { id, req } => {
                                let r = r.clone();
                                glommio::spawn_local(async move {
                                    let resp = serve_caught(&*r.service, req, peer).await;
                                    r.post(peer, Envelope::Reply { id, resp });
                                })
                                .detach();
                            }
                            Envelope::Reply { id, resp } => {
                                let waiter = r.pending.borrow_mut().remove(&id);
                                if let Some((_, tx)) = waiter {
                                    tx.send(resp);
                                }
                            }
                        }
                    }
                }
                // The peer closed its side: fail the calls waiting on it (only those).
                r.pending
                    .borrow_mut()
                    .retain(|_, (target, _)| *target != peer);
            })
            .detach();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::{LocalExecutorBuilder, Placement};

    /// Answers with its shard id and the request doubled.
    struct Echo(usize);

    impl ShardService for Echo {
        type Request = u64;
        type Response = (usize, u64);
        async fn handle(&self, req: u64) -> (usize, u64) {
            // Yield once so replies interleave with new calls.
            glommio::yield_if_needed().await;
            (self.0, req * 2)
        }
        fn failed() -> (usize, u64) {
            (usize::MAX, 0)
        }
    }

    #[test]
    fn calls_reach_the_owner_and_replies_match() {
        const SHARDS: usize = 2;
        const CALLS: u64 = 5000;
        let mesh = Mesh::<Echo>::new(SHARDS);
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let handles: Vec<_> = (0..SHARDS)
            .map(|i| {
                let mesh = mesh.clone();
                let done = done.clone();
                LocalExecutorBuilder::new(Placement::Unbound)
                    .io_memory(128 << 10)
                    .spawn(move || async move {
                        let router = Router::join(&mesh, i, Rc::new(Echo(i)));
                        router.serve();
                        let me = router.shard_id();
                        assert_eq!(me, i);
                        // Many concurrent calls to every shard, this one included.
                        let tasks: Vec<_> = (0..CALLS)
                            .map(|n| {
                                let r = router.clone();
                                glommio::spawn_local(async move {
                                    let target = (n as usize) % SHARDS;
                                    let (who, v) = r.call(target, n).await.unwrap();
                                    assert_eq!((who, v), (target, n * 2));
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await;
                        }
                        // Calls queued in one turn travel together (as do their replies).
                        let batches = router.batches_sent();
                        assert!(
                            batches > 0 && batches < CALLS / 10,
                            "{batches} batches for {CALLS} calls"
                        );
                        // One call at a time, each after the peer went idle: a lone message
                        // is flushed and wakes its peer.
                        for n in 0..20u64 {
                            glommio::timer::sleep(std::time::Duration::from_millis(2)).await;
                            let r = router.call((me + 1) % SHARDS, n).await.unwrap();
                            assert_eq!(r, ((me + 1) % SHARDS, n * 2));
                        }
                        assert_eq!(
                            router.call(SHARDS, 1).await,
                            Err(RouterError::NoShard(SHARDS))
                        );
                        // Stay alive (serving) until every shard is done calling.
                        done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let deadline =
                            std::time::Instant::now() + std::time::Duration::from_secs(30);
                        while done.load(std::sync::atomic::Ordering::SeqCst) < SHARDS {
                            assert!(std::time::Instant::now() < deadline, "peer never finished");
                            glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
                        }
                    })
                    .unwrap()
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }

    /// Answers only once it has been told its shard id (set between join and serve).
    #[derive(Default)]
    struct Late(std::cell::OnceCell<usize>);

    impl ShardService for Late {
        type Request = u64;
        type Response = (usize, u64);
        async fn handle(&self, req: u64) -> (usize, u64) {
            match self.0.get() {
                Some(&me) => (me, req * 2),
                None => Self::failed(),
            }
        }
        fn failed() -> (usize, u64) {
            (usize::MAX, 0)
        }
    }

    #[test]
    fn a_call_sent_before_the_peer_joined_is_served_once_it_is_ready() {
        let mesh = Mesh::<Late>::new(2);
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (mesh1, sent1) = (mesh.clone(), sent.clone());
        let caller = LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(128 << 10)
            .spawn(move || async move {
                let svc = Rc::new(Late::default());
                let _ = svc.0.set(0);
                let router = Router::join(&mesh, 0, svc);
                router.serve();
                let call = glommio::spawn_local({
                    let r = router.clone();
                    let hung = async {
                        glommio::timer::sleep(std::time::Duration::from_secs(30)).await;
                        panic!("no reply in 30 s")
                    };
                    async move { futures_lite::future::or(hung, r.call(1, 21)).await }
                });
                // The call's batch leaves on the next turn; then the peer may join.
                glommio::timer::sleep(std::time::Duration::from_millis(20)).await;
                sent.store(true, std::sync::atomic::Ordering::SeqCst);
                call.await
            })
            .unwrap();
        let callee = LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(128 << 10)
            .spawn(move || async move {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                while !sent1.load(std::sync::atomic::Ordering::SeqCst) {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the caller never sent"
                    );
                    glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
                }
                let svc = Rc::new(Late::default());
                let router = Router::join(&mesh1, 1, svc.clone());
                let _ = svc.0.set(1);
                router.serve();
                // Serve until the caller has its answer.
                glommio::timer::sleep(std::time::Duration::from_millis(200)).await;
            })
            .unwrap();
        assert_eq!(caller.join().unwrap(), Ok((1, 42)));
        callee.join().unwrap();
    }
}
