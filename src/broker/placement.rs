//! Where the shards run: how many, on which CPUs, and the address the broker registers.

use std::net::{IpAddr, Ipv4Addr};

use crate::store::commitlog::MAX_SHARDS;

/// Parses a CPU list: `0-3`, `2,4,6`, `0-1,4`.
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("bad CPU list item {part:?}: expected N or N-M");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if a > b {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(out)
}

/// Shard count and the CPU of each shard (`None`: not pinned, when the host's CPUs are
/// unknown).
pub fn plan(shard_count: u32, shard_cpus: &str) -> Result<Vec<Option<usize>>, String> {
    // The CPUs this process may run on now: the default placement. An explicit
    // `shardCpus` is checked against the host's online CPUs instead, because CPUs
    // reserved with `isolcpus=` are outside the default mask yet exactly where an operator
    // wants the shards (pinning to them is allowed).
    let online: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let listed = parse_cpu_list(shard_cpus).map_err(|e| format!("shardCpus: {e}"))?;
    let n = match (shard_count, listed.len()) {
        (0, 0) => online.len().max(1),
        (0, l) => l,
        (c, _) => c as usize,
    };
    if n as u32 > MAX_SHARDS {
        return Err(format!("shardCount={n}: at most {MAX_SHARDS} shards"));
    }
    if !listed.is_empty() {
        if listed.len() < n {
            return Err(format!(
                "shardCpus lists {} CPUs for shardCount={n}: give one CPU per shard",
                listed.len()
            ));
        }
        let host = host_online_cpus().unwrap_or_else(|| online.clone());
        if let Some(c) = listed.iter().find(|c| !host.contains(c)) {
            return Err(format!("shardCpus: CPU {c} is not online on this host"));
        }
        return Ok(listed.into_iter().take(n).map(Some).collect());
    }
    if online.is_empty() {
        return Ok(vec![None; n]);
    }
    // More shards than CPUs (small hosts, tests): wrap around.
    Ok((0..n).map(|i| Some(online[i % online.len()])).collect())
}

/// The host's online CPUs (`/sys/devices/system/cpu/online`), isolated ones included.
fn host_online_cpus() -> Option<Vec<usize>> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    parse_cpu_list(text.trim()).ok()
}

/// The first non-loopback IPv4 address that is up (RocketMQ's default brokerIP1), else
/// 127.0.0.1.
pub fn local_ipv4() -> IpAddr {
    let mut found = None;
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we free with freeifaddrs below; we only read it.
    unsafe {
        if libc::getifaddrs(&mut ifap) == 0 {
            let mut p = ifap;
            while !p.is_null() {
                let ifa = &*p;
                let up = ifa.ifa_flags & libc::IFF_UP as u32 != 0;
                let lo = ifa.ifa_flags & libc::IFF_LOOPBACK as u32 != 0;
                if up
                    && !lo
                    && !ifa.ifa_addr.is_null()
                    && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
                {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
                    break;
                }
                p = ifa.ifa_next;
            }
            libc::freeifaddrs(ifap);
        }
    }
    IpAddr::V4(found.unwrap_or(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_and_plans() {
        assert_eq!(parse_cpu_list("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<usize>::new());
        assert!(parse_cpu_list("3-1").unwrap_err().contains("3-1"));
        assert!(parse_cpu_list("a").is_err());
        let p = plan(3, "").unwrap();
        assert_eq!(p.len(), 3);
        assert!(plan(2, "0").unwrap_err().contains("one CPU per shard"));
        assert!(plan(1, "9999").unwrap_err().contains("9999"));
        assert!(!local_ipv4().is_unspecified());
    }
}
