//! The nameserver address list: `-n "a:9876;b:9876"`, key `namesrvAddr`, env `NAMESRV_ADDR`.

use std::net::{SocketAddr, ToSocketAddrs};

use super::ConfigError;

/// The list from `-n` when given, else NAMESRV_ADDR, parsed (what every client command
/// takes); the error names both ways of giving it.
pub fn from_flag_or_env(flag: Option<&str>) -> Result<Vec<SocketAddr>, String> {
    let list = flag
        .map(str::to_owned)
        .or_else(|| std::env::var("NAMESRV_ADDR").ok())
        .ok_or("no nameserver address: give -n ADDRS or set NAMESRV_ADDR")?;
    parse(&list).map_err(|e| e.to_string())
}

/// Parses a `;`-separated `host:port` list, refusing it whole with RocketMQ's message when
/// any entry is malformed.
pub fn parse(list: &str) -> Result<Vec<SocketAddr>, ConfigError> {
    let illegal = || {
        ConfigError::Invalid(format!(
            "The Name Server Address[{list}] illegal, please set it as follows, \"127.0.0.1:9876;192.168.0.1:9876\""
        ))
    };
    let mut out = Vec::new();
    for item in list.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (host, port) = item.rsplit_once(':').ok_or_else(illegal)?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(illegal());
        }
        let addr = item
            .to_socket_addrs()
            .map_err(|_| illegal())?
            .find(SocketAddr::is_ipv4)
            .ok_or_else(illegal)?;
        out.push(addr);
    }
    if out.is_empty() {
        return Err(illegal());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lists_and_names_bad_ones() {
        let a = parse("127.0.0.1:9876; 127.0.0.1:9877").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].port(), 9877);
        for bad in ["", "127.0.0.1", "127.0.0.1:x", ":9876", "a:1;127.0.0.1"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("illegal"), "{bad}: {e}");
        }
    }
}
