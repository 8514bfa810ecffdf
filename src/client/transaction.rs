//! Transactional sends (RocketMQ's TransactionMQProducer): a half message, the local
//! transaction, then END_TRANSACTION with its outcome; and answers to the broker's
//! check-backs (CHECK_TRANSACTION_STATE) for half messages whose outcome never arrived.
//!
//! Check-backs arrive on the producer's broker connections as requests; the connection's
//! handler only queues them (it must not block the connection), and one task per
//! producer asks the check listener and sends the answer back to the asking broker.

use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::Duration;

use glommio::channels::local_channel::{self, LocalReceiver};

use super::message::{decode_pull_body, Received};
use super::producer::{Message, Producer, SendResult, SendStatus};
use super::rpc::OnRequest;
use super::ClientError;
use crate::protocol::header::broker::{
    CheckTransactionStateRequestHeader, EndTransactionRequestHeader,
};
use crate::protocol::message_id;
use crate::protocol::properties::keys;
use crate::protocol::sys_flag::{
    TRANSACTION_COMMIT_TYPE, TRANSACTION_NOT_TYPE, TRANSACTION_ROLLBACK_TYPE,
};
use crate::protocol::{CommandHeader, RemotingCommand, RequestCode};

/// Check-backs queued for the listener at most; more are dropped (the broker asks again).
pub const MAX_QUEUED_CHECKS: usize = 2_000;

/// A local transaction's outcome (RocketMQ's LocalTransactionState).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    /// Deliver the message.
    Commit,
    /// Discard it.
    Rollback,
    /// Not known yet: the broker will check back.
    Unknown,
}

impl TxState {
    fn end_code(self) -> i32 {
        match self {
            TxState::Commit => TRANSACTION_COMMIT_TYPE,
            TxState::Rollback => TRANSACTION_ROLLBACK_TYPE,
            TxState::Unknown => TRANSACTION_NOT_TYPE,
        }
    }
}

/// Answers a check-back: what became of the transaction of this half message?
pub type CheckListener = Rc<dyn Fn(&Received) -> TxState>;

/// One check-back from a broker.
struct Check {
    broker: SocketAddr,
    header: CheckTransactionStateRequestHeader,
    message: Received,
}

/// A producer of transactional messages.
pub struct TransactionProducer {
    producer: Rc<Producer>,
}

impl TransactionProducer {
    /// A transactional producer in `group`; `check` answers the broker's check-backs.
    pub fn new(
        group: &str,
        namesrv: Vec<SocketAddr>,
        timeout: Duration,
        check: CheckListener,
    ) -> Result<Self, ClientError> {
        let (tx, rx) = local_channel::new_bounded::<Check>(MAX_QUEUED_CHECKS);
        let on_request: OnRequest = Rc::new(move |broker, req: &RemotingCommand| {
            if req.code != RequestCode::CHECK_TRANSACTION_STATE.code() {
                return None;
            }
            match parse_check(broker, req) {
                Ok(c) => {
                    if tx.try_send(c).is_err() {
                        tracing::warn!(
                            "transaction check-back dropped: {MAX_QUEUED_CHECKS} are queued"
                        );
                    }
                }
                Err(e) => tracing::warn!(%broker, "bad transaction check-back: {e}"),
            }
            Some(req.success())
        });
        let producer = Rc::new(Producer::serving(group, namesrv, timeout, on_request)?);
        glommio::spawn_local(answer_checks(Rc::downgrade(&producer), rx, check)).detach();
        Ok(TransactionProducer { producer })
    }

    /// The underlying producer (plain sends work as usual).
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Sends `msg` as a half message, runs `local` (the local transaction) once it is
    /// stored, and tells the broker the outcome. A half message the broker stored without
    /// confirming durability (or a slave) is rolled back, as RocketMQ's producers do.
    pub async fn send(
        &self,
        msg: &Message,
        local: impl FnOnce(&Message, &SendResult) -> TxState,
    ) -> Result<(SendResult, TxState), ClientError> {
        let mut half = msg.clone();
        half.properties.retain(|(k, _)| k != keys::DELAY);
        half.properties.push((keys::TRAN_MSG.into(), "true".into()));
        half.properties.push((
            keys::PRODUCER_GROUP.into(),
            self.producer.group().to_owned(),
        ));
        let sent = self.producer.send(&half).await?;
        let state = match sent.status {
            SendStatus::SendOk => local(&half, &sent),
            _ => TxState::Rollback,
        };
        let broker = self.producer.broker_addr_of(&sent.queue).await?;
        let (_, phys) =
            message_id::decode(&sent.offset_msg_id).ok_or_else(|| ClientError::BadResponse {
                addr: broker.to_string(),
                reason: format!("undecodable offset msgId {}", sent.offset_msg_id),
            })?;
        let header = EndTransactionRequestHeader {
            producer_group: self.producer.group().to_owned(),
            tran_state_table_offset: sent.queue_offset,
            commit_log_offset: phys,
            commit_or_rollback: state.end_code(),
            from_transaction_check: Some(false),
            msg_id: sent.msg_id.clone(),
            transaction_id: Some(sent.msg_id.clone()),
        };
        end(&self.producer, broker, &header).await?;
        Ok((sent, state))
    }
}

/// Reads a CHECK_TRANSACTION_STATE request.
fn parse_check(broker: SocketAddr, req: &RemotingCommand) -> Result<Check, String> {
    let header =
        CheckTransactionStateRequestHeader::from_ext(&req.ext).map_err(|e| e.to_string())?;
    let (mut msgs, _) = decode_pull_body(&req.body);
    let message = msgs.pop().ok_or("the check-back carries no message")?;
    Ok(Check {
        broker,
        header,
        message,
    })
}

/// Asks the listener about each check-back and answers the broker that asked.
async fn answer_checks(producer: Weak<Producer>, rx: LocalReceiver<Check>, check: CheckListener) {
    while let Some(c) = rx.recv().await {
        let Some(p) = producer.upgrade() else {
            return;
        };
        let state = check(&c.message);
        let header = EndTransactionRequestHeader {
            producer_group: p.group().to_owned(),
            tran_state_table_offset: c.header.tran_state_table_offset,
            commit_log_offset: c.header.commit_log_offset,
            commit_or_rollback: state.end_code(),
            from_transaction_check: Some(true),
            msg_id: c
                .header
                .msg_id
                .clone()
                .unwrap_or_else(|| c.message.msg_id.clone()),
            transaction_id: c.header.transaction_id.clone(),
        };
        if let Err(e) = end(&p, c.broker, &header).await {
            tracing::warn!(broker = %c.broker, "answering a transaction check-back failed: {e}");
        }
    }
}

/// Sends END_TRANSACTION (oneway, as RocketMQ's producers).
async fn end(
    p: &Producer,
    broker: SocketAddr,
    header: &EndTransactionRequestHeader,
) -> Result<(), ClientError> {
    let req = RemotingCommand::request_with(RequestCode::END_TRANSACTION.code(), header).oneway();
    p.oneway_to(broker, req).await
}
