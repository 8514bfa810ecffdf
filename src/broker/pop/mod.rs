//! POP consumption (RocketMQ 5's ReceiveMessage / AckMessage / ChangeInvisibleDuration):
//! the broker, not the client, decides which messages a consumer gets, and a message
//! handed out stays invisible to the group until it is acked or its lease runs out.
//!
//! State lives on the shard owning the queue, next to the queue's consumer offset
//! ([`book`]). Redelivery is in place (RocketMQ's RIP-73 "option B"): an expired lease
//! keeps its offset and is handed out again with the attempt count + 1, instead of a copy
//! appended to a retry topic; past the group's max attempts the message is copied to
//! `%DLQ%<group>`. The group's committed offset is the lowest offset still leased (or the
//! cursor when nothing is), so `consumerProgress` shows POP groups like any other and a
//! restarted broker hands out again everything that was not acked ([`journal`] keeps
//! the acks above that offset so nothing acked comes back).
//!
//! Receipt handles ([`handle`]) carry the queue, offset and lease number: a handle made
//! stale by ChangeInvisibleDuration names a lease that no longer exists and acks nothing.

pub mod book;
pub mod handle;
pub mod journal;
pub mod owner;
