//! Transactional messages (RocketMQ 4.x's two-phase send, spec §2.10).
//!
//! A send with `TRAN_MSG=true` is stored as a *half* message on `RMQ_SYS_TRANS_HALF_TOPIC`
//! with its real topic and queue in properties, so no consumer sees it. The producer then
//! decides with END_TRANSACTION: commit stores the message on its real queue, rollback
//! does not; either way an op record (`RMQ_SYS_TRANS_OP_HALF_TOPIC`, body = the half's
//! queue offset) marks the half message decided. Undecided ones are checked back with the
//! producer group (CHECK_TRANSACTION_STATE) and dropped after `transactionCheckMax` tries.
//!
//! Ownership, as for any queue: the half and op topics have one queue per shard, and a
//! half message goes to the half queue of the shard that owns its real queue. So the shard
//! holding a half message also owns its real queue and its op queue, and a commit is one
//! append of two records (the message, then its op record) on one core, with no cross-core
//! step between them. A crash keeps either both or, at worst, the message without its op
//! record (the producer is then asked again and may commit twice; RocketMQ has the same
//! window). The shard's [`book::TxBook`] is rebuilt at start from the op records after the
//! saved offsets.
//!
//! Unlike RocketMQ, a check-back does not re-append the half message to persist its count:
//! counts live in memory (a restart starts them again), so a half message has exactly one
//! copy and a decision can never apply to a stale one.

pub mod book;
mod check;
mod decide;

pub use check::start;
pub use decide::{end_on_owner, EndOutcome, EndRequest};

use super::shard_map::{queue_on, shard_for};
use crate::protocol::properties::{keys, Properties};
use crate::protocol::sys_flag::{with_transaction_type, TRANSACTION_NOT_TYPE};
use crate::protocol::topics::{TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC};
use crate::store::NewMessage;

/// The half queue owned by `shard`.
pub fn half_queue(shard: usize, shards: usize) -> i32 {
    queue_on(TRANS_HALF_TOPIC, shard as u32, shards as u32)
}

/// The op queue owned by `shard`.
pub fn op_queue(shard: usize, shards: usize) -> i32 {
    queue_on(TRANS_OP_HALF_TOPIC, shard as u32, shards as u32)
}

/// True when `props` mark a transactional (half) send.
pub fn is_half(props: &Properties) -> bool {
    props
        .get(keys::TRAN_MSG)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Rewrites a send into its half message, on the half queue of the shard owning the real
/// queue. Transaction bits are cleared: the half record is not itself a decision.
pub fn prepare(m: &mut NewMessage, props: &mut Properties, shards: usize) {
    props.set(keys::REAL_TOPIC, m.topic.clone());
    props.set(keys::REAL_QID, m.queue_id.to_string());
    // Half messages are not delayed (RocketMQ's clients refuse the combination).
    props.remove(keys::DELAY);
    let owner = shard_for(&m.topic, m.queue_id, shards as u32) as usize;
    m.topic = TRANS_HALF_TOPIC.to_owned();
    m.queue_id = half_queue(owner, shards);
    m.sys_flag = with_transaction_type(m.sys_flag, TRANSACTION_NOT_TYPE);
}

/// The real queue of a half message about to be stored (the send's answer names it).
pub fn real_queue(m: &NewMessage) -> Option<i32> {
    if m.topic != TRANS_HALF_TOPIC {
        return None;
    }
    Properties::parse(&m.properties)
        .get(keys::REAL_QID)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_message_lands_on_the_shard_of_its_real_queue() {
        let host = "127.0.0.1:1".parse().unwrap();
        for shards in 1..5 {
            for qid in 0..8 {
                let mut m = NewMessage::new("Orders", qid, b"x".to_vec(), host);
                m.sys_flag = 0x4 | 0x1;
                let mut p = Properties::parse("TRAN_MSG\u{1}true\u{2}DELAY\u{1}3");
                prepare(&mut m, &mut p, shards);
                m.properties = p.encode();
                assert_eq!(m.topic, TRANS_HALF_TOPIC);
                assert_eq!(
                    shard_for(TRANS_HALF_TOPIC, m.queue_id, shards as u32),
                    shard_for("Orders", qid, shards as u32)
                );
                assert_eq!(m.sys_flag, 0x1);
                assert_eq!(real_queue(&m), Some(qid));
                assert_eq!(p.get(keys::REAL_TOPIC), Some("Orders"));
                assert_eq!(p.get(keys::DELAY), None);
            }
        }
    }
}
