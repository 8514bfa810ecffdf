//! Which shard (core) owns a queue: `(crc32c(topic) + queueId) % shards` (DESIGN.md).
//!
//! A pure, stable function: it must give the same answer in every process and version,
//! because the store's directories are laid out by it and a store refuses to open with a
//! different shard count. CRC32C (not Rust's randomized hasher) makes it stable; adding
//! the queue id spreads one topic's queues over consecutive shards.

/// The shard owning `(topic, queue_id)` among `shards`.
pub fn shard_for(topic: &str, queue_id: i32, shards: u32) -> u32 {
    assert!(shards > 0, "no shards");
    let h = u64::from(crc32c::crc32c(topic.as_bytes()));
    // Negative queue ids mean "broker picks" and are resolved before routing.
    let q = u64::from(queue_id.max(0) as u32);
    ((h + q) % u64::from(shards)) as u32
}

/// The queue of `topic` that `shard` owns among `shards` (for system topics with one
/// queue per shard, such as the transactional half and op topics).
pub fn queue_on(topic: &str, shard: u32, shards: u32) -> i32 {
    assert!(shard < shards, "shard {shard} of {shards}");
    let h = u64::from(crc32c::crc32c(topic.as_bytes())) % u64::from(shards);
    ((u64::from(shard) + u64::from(shards) - h) % u64::from(shards)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_spread() {
        // Fixed values: a change here would orphan every existing store.
        assert_eq!(crc32c::crc32c(b"TopicTest"), 0xccd8_ad37);
        assert_eq!(shard_for("TopicTest", 0, 4), (0xccd8_ad37u64 % 4) as u32);
        assert_eq!(
            shard_for("TopicTest", 1, 4),
            ((0xccd8_ad37u64 + 1) % 4) as u32
        );
        // A topic's 8 queues cover all 4 shards twice.
        let mut count = [0; 4];
        for q in 0..8 {
            count[shard_for("BenchmarkTest", q, 4) as usize] += 1;
        }
        assert_eq!(count, [2, 2, 2, 2]);
        assert_eq!(shard_for("any", 3, 1), 0);
        assert_eq!(shard_for("T", -1, 3), shard_for("T", 0, 3));
        for shards in 1..9 {
            for shard in 0..shards {
                let q = queue_on("RMQ_SYS_TRANS_HALF_TOPIC", shard, shards);
                assert!(q >= 0 && (q as u32) < shards);
                assert_eq!(shard_for("RMQ_SYS_TRANS_HALF_TOPIC", q, shards), shard);
            }
        }
    }
}
