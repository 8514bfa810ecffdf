//! Which client connections move to another shard, and what moves with them.
//!
//! A producer whose sends nearly all target queues of one other shard (an ordered producer
//! with one sharding key, a client writing one queue) would cross cores on every send.
//! The send handler tallies each send's owning shard on the connection
//! ([`Connection::note_core`]); when a window says so, the connection moves there
//! (src/remoting/handover.rs), and this file carries its broker-side state along: the
//! groups it joined and the producer client ids heard on it (where transaction check-backs
//! and request-reply replies find it), and the member entries of the shards keeping those
//! groups. Connections that joined a consumer group stay: their pulls spread over the
//! queues rebalancing gave them, and group notifications address them where they are.
//! Round-robin producers spread sends over every shard and never move.

use std::rc::Rc;

use super::connections::Moved;
use super::handlers::BrokerHandler;
use super::shard::Shard;
use crate::remoting::{Connection, Detached};

impl Shard {
    /// Counts one send on `conn` to a queue of shard `owner`; asks the connection to
    /// move there when its recent sends nearly all went there (`connectionMoveEnable`).
    pub fn note_send_owner(&self, conn: &Connection, owner: usize) {
        if self.shards < 2 {
            return;
        }
        let Some(target) = conn.note_core(owner, self.id) else {
            return;
        };
        if !self.cfg().connection_move_enable || self.local.borrow().joined_consumers(conn.id()) {
            return;
        }
        conn.request_move(target);
    }

    /// Hands a connection that left this core to shard `core`, with its state here. If
    /// `core` cannot take it, the socket closes and the client reconnects.
    pub fn move_connection(self: &Rc<Self>, conn: &Connection, core: usize, detached: Detached) {
        let state = self.local.borrow_mut().take(conn.id());
        let joined = state.joined.clone();
        let (from, conn_id) = (self.id, conn.id());
        let this = self.clone();
        let peer = conn.peer();
        glommio::spawn_local(async move {
            let r = this
                .run_on(core, move |s| async move {
                    s.adopt_connection(detached, state, from)
                })
                .await;
            match r.map_err(|e| e.to_string()).and_then(|r| r) {
                Ok(()) => tracing::debug!(%peer, from, to = core, "connection moved"),
                Err(e) => {
                    tracing::warn!(%peer, "moving a connection to shard {core} failed, it is closed (the client reconnects): {e}");
                    // Its group entries still name this shard: leave as a close would.
                    this.leave_groups(conn_id, joined);
                }
            }
        })
        .detach();
    }

    /// Serves a connection shard `from` moved here, with the state it had there.
    fn adopt_connection(
        self: &Rc<Self>,
        detached: Detached,
        state: Moved,
        from: usize,
    ) -> Result<(), String> {
        let handler = Rc::new(BrokerHandler(self.clone()));
        let conn = Connection::adopt(detached, handler).map_err(|e| e.to_string())?;
        let conn_id = conn.id();
        // Consumer groups too: a heartbeat in flight when the move was asked for may have
        // joined one.
        let joined = &state.joined;
        let groups: Vec<String> = joined
            .consumers
            .iter()
            .chain(&joined.producers)
            .cloned()
            .collect();
        self.local.borrow_mut().adopt(&conn, state);
        // The member entries name the shard holding the connection: the group's keeper must
        // know it moved, or a close here would not find it. Sent from here, before this
        // core serves the connection's first request, so it reaches each keeper before
        // any close of it does.
        let to = self.id;
        for group in groups {
            let owner = self.group_owner(&group);
            let this = self.clone();
            glommio::spawn_local(async move {
                let _ = this
                    .run_on(owner, move |s| async move {
                        s.clients
                            .borrow_mut()
                            .connection_moved(&group, from, conn_id, to);
                    })
                    .await;
            })
            .detach();
        }
        Ok(())
    }
}
