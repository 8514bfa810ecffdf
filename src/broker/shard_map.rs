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
    }
}
