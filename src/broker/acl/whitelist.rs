//! Remote-address patterns of plain ACL (RocketMQ's `RemoteAddressStrategyFactory`):
//!
//! | pattern | matches |
//! |---|---|
//! | empty | nothing |
//! | `*`, `*.*.*.*` | every address |
//! | `192.168.0.1` | that address (an IPv6 address is matched exactly too) |
//! | `192.168.0.1,192.168.0.2` | any address of the list |
//! | `192.168.1.{1,2,3}` | the listed last octets |
//! | `192.168.*` or `192.168.*.*` | every address under the prefix |
//! | `192.168.1.1-10`, `192.168.1-10.*` | the range at the first non-fixed octet |
//!
//! IPv6 ranges (`2::ac5:*`) are not supported: such a pattern is an error naming it.

use std::net::IpAddr;

/// A parsed whitelist pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressPattern {
    /// Blank: matches nothing.
    Nothing,
    /// `*`: matches everything.
    Everything,
    /// A list of addresses (one or more).
    Listed(Vec<IpAddr>),
    /// Fixed leading octets, then one octet in `lo..=hi`; the octets after it are free.
    Range {
        /// The fixed octets.
        prefix: Vec<u8>,
        /// Lowest value of the ranged octet.
        lo: u8,
        /// Highest value of the ranged octet.
        hi: u8,
    },
}

fn bad(pattern: &str, why: &str) -> String {
    format!("{pattern:?} is not an address pattern: {why}")
}

fn octet(text: &str, pattern: &str) -> Result<u8, String> {
    text.trim()
        .parse::<u8>()
        .map_err(|_| bad(pattern, &format!("{text:?} is not a number 0-255")))
}

impl AddressPattern {
    /// Parses one pattern.
    pub fn parse(pattern: &str) -> Result<AddressPattern, String> {
        let p = pattern.trim();
        if p.is_empty() {
            return Ok(AddressPattern::Nothing);
        }
        if p == "*" || p == "*.*.*.*" || p == "*:*:*:*:*:*:*:*" {
            return Ok(AddressPattern::Everything);
        }
        if let Some(open) = p.find('{') {
            let head = &p[..open];
            let Some(inner) = p[open + 1..].strip_suffix('}') else {
                return Err(bad(pattern, "'{' without a closing '}' at the end"));
            };
            if head.contains(':') || head.split('.').count() != 4 {
                return Err(bad(pattern, "expected a.b.c.{x,y,...}"));
            }
            let addrs = inner
                .split(',')
                .map(|last| one_address(&format!("{head}{}", last.trim()), pattern))
                .collect::<Result<_, _>>()?;
            return Ok(AddressPattern::Listed(addrs));
        }
        if p.contains(',') {
            let addrs = p
                .split(',')
                .map(|a| one_address(a.trim(), pattern))
                .collect::<Result<_, _>>()?;
            return Ok(AddressPattern::Listed(addrs));
        }
        if p.contains('*') || p.contains('-') {
            return range(p, pattern);
        }
        Ok(AddressPattern::Listed(vec![one_address(p, pattern)?]))
    }

    /// True when `addr` is one this pattern lets through.
    pub fn matches(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        match self {
            AddressPattern::Nothing => false,
            AddressPattern::Everything => true,
            AddressPattern::Listed(list) => list.contains(&addr),
            AddressPattern::Range { prefix, lo, hi } => {
                let IpAddr::V4(v4) = addr else { return false };
                let o = v4.octets();
                o[..prefix.len()] == prefix[..] && (*lo..=*hi).contains(&o[prefix.len()])
            }
        }
    }
}

/// An IPv4-mapped IPv6 peer is its IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn one_address(text: &str, pattern: &str) -> Result<IpAddr, String> {
    text.parse::<IpAddr>()
        .map(canonical)
        .map_err(|_| bad(pattern, &format!("{text:?} is not an IP address")))
}

fn range(p: &str, pattern: &str) -> Result<AddressPattern, String> {
    if p.contains(':') {
        return Err(bad(pattern, "IPv6 ranges are not supported"));
    }
    let parts: Vec<&str> = p.split('.').collect();
    if parts.len() > 4 {
        return Err(bad(pattern, "more than 4 octets"));
    }
    let Some(at) = parts
        .iter()
        .position(|s| s.trim() == "*" || s.contains('-'))
    else {
        return Err(bad(pattern, "no '*' or range octet"));
    };
    if at == 0 {
        return Err(bad(
            pattern,
            "the first octet must be fixed (or the whole pattern '*')",
        ));
    }
    let prefix = parts[..at]
        .iter()
        .map(|s| octet(s, pattern))
        .collect::<Result<Vec<u8>, _>>()?;
    let (lo, hi) = match parts[at].trim() {
        "*" => (0, 255),
        r => {
            let (a, b) = r
                .split_once('-')
                .ok_or_else(|| bad(pattern, "expected lo-hi"))?;
            (octet(a, pattern)?, octet(b, pattern)?)
        }
    };
    if lo > hi {
        return Err(bad(pattern, &format!("range {lo}-{hi} is empty")));
    }
    if parts[at + 1..].iter().any(|s| s.trim() != "*") {
        return Err(bad(pattern, "octets after a range must be '*'"));
    }
    Ok(AddressPattern::Range { prefix, lo, hi })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn m(pattern: &str, addr: &str) -> bool {
        AddressPattern::parse(pattern).unwrap().matches(ip(addr))
    }

    #[test]
    fn rocketmq_patterns() {
        assert!(!m("", "127.0.0.1"));
        assert!(m("*", "10.1.2.3") && m("*.*.*.*", "::1"));
        assert!(m("192.168.0.1", "192.168.0.1") && !m("192.168.0.1", "192.168.0.2"));
        assert!(m("192.168.0.*", "192.168.0.77") && !m("192.168.0.*", "192.168.1.77"));
        assert!(m("192.168.*", "192.168.9.9") && m("192.168.*.*", "192.168.9.9"));
        assert!(m("192.168.1.1-10", "192.168.1.10") && !m("192.168.1.1-10", "192.168.1.11"));
        assert!(m("192.168.1-10.*", "192.168.5.200") && !m("192.168.1-10.*", "192.168.11.1"));
        assert!(m("192.168.1.{1,2,3}", "192.168.1.3") && !m("192.168.1.{1,2,3}", "192.168.1.4"));
        assert!(m("192.168.1.1,10.0.0.2", "10.0.0.2") && !m("192.168.1.1,10.0.0.2", "10.0.0.3"));
        assert!(m("127.0.0.1", "::ffff:127.0.0.1"), "IPv4-mapped peers");
        assert!(m("::1", "::1") && !m("127.0.0.*", "::1"));
    }

    #[test]
    fn bad_patterns_are_named() {
        for p in [
            "192.168.1.300",
            "192.168.1.10-1",
            "192.168.1.{1,x}",
            "*.168.1.1",
            "192.168.1-3.4",
            "2::ac5:*",
            "192.168.1.1,2,3",
            "hello",
        ] {
            let e = AddressPattern::parse(p).unwrap_err();
            assert!(e.contains(p), "{p}: {e}");
        }
    }
}
