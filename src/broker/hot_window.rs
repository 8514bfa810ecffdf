//! RocketMQ's "still in memory" rule, which two answers depend on: a record is *hot* while
//! it lies within `accessMessageInMemoryMaxRatio` % of the host's physical memory from the
//! commit log's end (RocketMQ's page-cache estimate). A pull of colder records suggests the
//! slave (slaveReadEnable); a new group on a queue whose first record is hot starts at 0.
//! coremq keeps no page cache, but clients' behaviour follows these answers, so the rule is
//! kept as RocketMQ states it.

/// Physical memory of this host, bytes (RocketMQ's TOTAL_PHYSICAL_MEMORY_SIZE; its 24 GiB
/// fallback when unknown). Read once.
pub fn total_memory_bytes() -> u64 {
    static TOTAL: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TOTAL.get_or_init(read_total_memory_bytes)
}

fn read_total_memory_bytes() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        pages as u64 * size as u64
    } else {
        24 << 30
    }
}

/// True when a record at physical offset `phys` is hot in a log ending at `log_end`, with
/// `ratio_percent` = accessMessageInMemoryMaxRatio.
pub fn is_hot(log_end: i64, phys: i64, ratio_percent: u8) -> bool {
    let window = total_memory_bytes() / 100 * u64::from(ratio_percent);
    (log_end.saturating_sub(phys).max(0) as u64) <= window
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_a_share_of_memory_from_the_end() {
        let mem = total_memory_bytes();
        assert!(mem > 0);
        assert!(is_hot(1000, 1000, 0), "the last byte is always hot");
        assert!(!is_hot(1000, 999, 0), "ratio 0: only the end");
        assert!(is_hot(i64::MAX, i64::MAX - 1, 40));
        let ten_percent = (mem / 100 * 10) as i64;
        assert!(is_hot(ten_percent + 5, 5, 10));
        assert!(!is_hot(ten_percent + 6, 5, 10));
    }
}
