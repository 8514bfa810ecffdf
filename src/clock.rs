//! Wall-clock time as RocketMQ carries it on the wire and in stores: milliseconds since the
//! Unix epoch (0 if the clock is before it).

/// Now, in ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Now, in µs since the epoch (bench latency stamps that cross processes).
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
