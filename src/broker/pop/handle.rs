//! Receipt handles: what a POP receive gives the client to ack or change a delivery.
//!
//! Format `1.<queue>.<offset>.<lease>.<visible-at ms>` in lowercase hex. Clients treat it
//! as opaque (both SDKs pass it back verbatim); the lease number makes every delivery's
//! handle distinct, so a handle from before a ChangeInvisibleDuration cannot ack after it.

/// A decoded receipt handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptHandle {
    /// Queue id within the topic.
    pub queue_id: i32,
    /// Offset in the queue.
    pub offset: u64,
    /// Lease number on the owning shard.
    pub lease: u64,
    /// When the message becomes visible again, ms since the epoch.
    pub visible_at_ms: i64,
}

const VERSION: &str = "1";

impl ReceiptHandle {
    /// The text form sent to clients.
    pub fn encode(&self) -> String {
        format!(
            "{VERSION}.{:x}.{:x}.{:x}.{:x}",
            self.queue_id, self.offset, self.lease, self.visible_at_ms
        )
    }

    /// Parses a handle; the error names what is wrong.
    pub fn decode(text: &str) -> Result<Self, String> {
        let bad = || format!("receipt handle {text:?} was not issued by this broker");
        let mut parts = text.split('.');
        if parts.next() != Some(VERSION) {
            return Err(bad());
        }
        let mut next = || -> Result<u64, String> {
            let p = parts.next().ok_or_else(bad)?;
            u64::from_str_radix(p, 16).map_err(|_| bad())
        };
        let queue_id = i32::try_from(next()?).map_err(|_| bad())?;
        let offset = next()?;
        let lease = next()?;
        let visible_at_ms = i64::try_from(next()?).map_err(|_| bad())?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self {
            queue_id,
            offset,
            lease,
            visible_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn handles_round_trip(q in 0i32..100_000, o in any::<u64>(), l in any::<u64>(), v in 0i64..i64::MAX) {
            let h = ReceiptHandle { queue_id: q, offset: o, lease: l, visible_at_ms: v };
            prop_assert_eq!(ReceiptHandle::decode(&h.encode()), Ok(h));
        }
    }

    #[test]
    fn foreign_handles_are_refused_by_name() {
        for bad in [
            "",
            "1.2.3",
            "2.0.0.0.0",
            "1.0.0.0.0.0",
            "1.z.0.0.0",
            "0 1 2 3",
        ] {
            let e = ReceiptHandle::decode(bad).unwrap_err();
            assert!(e.contains("receipt handle"), "{e}");
        }
    }
}
