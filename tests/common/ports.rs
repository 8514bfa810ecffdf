//! Loopback ports for the processes tests start, chosen below the ephemeral range.
//!
//! `bind(0)` hands out ports from the ephemeral range, where every outgoing connection's
//! local port also comes from: between the check and the child's own bind, some other
//! test's client can take the port, and the child then cannot listen (a broker gives up
//! after a few seconds, which looked like a boot stall). Below the range only listeners
//! take ports. Shared by tests/common and tests/compat (included by path).

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Lowest port handed out (well above the registered ports of common services).
const LOWEST_PORT: u16 = 10_000;
/// Linux's default start of the ephemeral range, when /proc does not say.
const DEFAULT_EPHEMERAL_LOW: u16 = 32_768;

/// Ports this process handed out already (a test may not have bound its port yet).
static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
/// xorshift state; seeded on first use.
static RNG: AtomicU64 = AtomicU64::new(0);

/// The first port of the ephemeral range.
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|&p| p > LOWEST_PORT + 1_000)
        .unwrap_or(DEFAULT_EPHEMERAL_LOW)
}

/// A pseudo-random number, different per process and per call.
fn next_random() -> u64 {
    let mut x = RNG.load(Ordering::Relaxed);
    if x == 0 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        x = nanos ^ ((std::process::id() as u64) << 32) | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    RNG.store(x, Ordering::Relaxed);
    x
}

/// A port `p` such that `p - below ..= p + above` are all free on every address and were
/// not handed out before by this process; reserves them.
fn pick(below: u16, above: u16) -> u16 {
    let high = ephemeral_low() - above - 1;
    let low = LOWEST_PORT + below;
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let p = low + (next_random() % u64::from(high - low)) as u16;
        let range = p - below..=p + above;
        if range.clone().any(|q| handed.contains(&q)) {
            continue;
        }
        if range
            .clone()
            .all(|q| TcpListener::bind(("0.0.0.0", q)).is_ok())
        {
            handed.extend(range);
            return p;
        }
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    pick(0, 0)
}

/// Free ports `p`, `p - 2` and `p + 1` (a broker also listens on listenPort - 2, and a
/// master on listenPort + 1).
pub fn free_broker_port() -> u16 {
    pick(2, 1)
}
