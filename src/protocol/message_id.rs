//! Offset message ids (spec §4.5): upper-case hex of store address ‖ port ‖ physical offset.
//! coremq's physical offsets carry the shard in bits 52 and up, so an id routes straight to
//! the shard that stored the message.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// The offset message id of a record stored at `phys` by `store_host`.
pub fn offset_msg_id(store_host: SocketAddr, phys: i64) -> String {
    let mut s = String::with_capacity(56);
    match store_host.ip() {
        IpAddr::V4(ip) => ip.octets().iter().for_each(|b| {
            let _ = write!(s, "{b:02X}");
        }),
        IpAddr::V6(ip) => ip.octets().iter().for_each(|b| {
            let _ = write!(s, "{b:02X}");
        }),
    }
    let _ = write!(s, "{:08X}{:016X}", store_host.port() as i32, phys);
    s
}

/// Decodes an offset message id into (store address, physical offset).
pub fn decode(id: &str) -> Option<(SocketAddr, i64)> {
    let bytes: Vec<u8> = (0..id.len())
        .step_by(2)
        .map(|i| {
            id.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<_>>()?;
    let (ip, rest): (IpAddr, &[u8]) = match bytes.len() {
        16 => {
            let o: [u8; 4] = bytes[..4].try_into().ok()?;
            (IpAddr::from(o), &bytes[4..])
        }
        28 => {
            let o: [u8; 16] = bytes[..16].try_into().ok()?;
            (IpAddr::from(o), &bytes[16..])
        }
        _ => return None,
    };
    let port = i32::from_be_bytes(rest[..4].try_into().ok()?);
    let phys = i64::from_be_bytes(rest[4..12].try_into().ok()?);
    Some((SocketAddr::new(ip, u16::try_from(port).ok()?), phys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_spec_example_and_round_trips() {
        let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        let id = offset_msg_id(host, 1234);
        assert_eq!(id, "7F00000100002A9F00000000000004D2");
        assert_eq!(decode(&id), Some((host, 1234)));
        let shard1 = (1i64 << 52) | 77;
        assert_eq!(decode(&offset_msg_id(host, shard1)).unwrap().1, shard1);
        assert_eq!(decode("XYZ"), None);
        assert_eq!(decode("7F000001"), None);
    }
}
