//! The transaction bits of a record's sysFlag (RocketMQ's `MessageSysFlag`, bits 2–3):
//! what a producer asks for on a send and in END_TRANSACTION's `commitOrRollback`.

/// Not transactional, or "state unknown" in END_TRANSACTION.
pub const TRANSACTION_NOT_TYPE: i32 = 0;
/// A half message: stored but not visible until committed.
pub const TRANSACTION_PREPARED_TYPE: i32 = 0x1 << 2;
/// Committed (on the delivered message, and END_TRANSACTION's "commit").
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x2 << 2;
/// END_TRANSACTION's "roll back".
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0x3 << 2;

const TRANSACTION_MASK: i32 = 0x3 << 2;

/// The transaction bits of `sys_flag`.
pub fn transaction_type(sys_flag: i32) -> i32 {
    sys_flag & TRANSACTION_MASK
}

/// `sys_flag` with its transaction bits replaced by `kind`.
pub fn with_transaction_type(sys_flag: i32, kind: i32) -> i32 {
    (sys_flag & !TRANSACTION_MASK) | (kind & TRANSACTION_MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_replace_without_touching_the_others() {
        // 0x1 compressed, 0x10 born-host v6: both survive.
        let f = 0x11 | TRANSACTION_PREPARED_TYPE;
        assert_eq!(transaction_type(f), TRANSACTION_PREPARED_TYPE);
        let c = with_transaction_type(f, TRANSACTION_COMMIT_TYPE);
        assert_eq!(
            (c & 0x11, transaction_type(c)),
            (0x11, TRANSACTION_COMMIT_TYPE)
        );
        assert_eq!(with_transaction_type(c, TRANSACTION_NOT_TYPE), 0x11);
        assert_eq!(TRANSACTION_ROLLBACK_TYPE, 12);
    }
}
