//! Permissions of plain ACL (RocketMQ's `Permission`): DENY, PUB, SUB, PUB|SUB, and the
//! check a needed permission passes against an owned one.

/// A permission bit set (RocketMQ's byte values, so logs read the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perm(u8);

impl Perm {
    /// Nothing allowed; wins over any other bit.
    pub const DENY: Perm = Perm(1);
    /// Needed when either PUB or SUB will do.
    pub const ANY: Perm = Perm(1 << 1);
    /// Send.
    pub const PUB: Perm = Perm(1 << 2);
    /// Pull, subscribe, commit offsets.
    pub const SUB: Perm = Perm(1 << 3);
    /// Send and subscribe.
    pub const PUB_SUB: Perm = Perm((1 << 2) | (1 << 3));

    /// Parses `DENY`, `PUB`, `SUB`, `PUB|SUB` or `SUB|PUB` (surrounding spaces allowed).
    pub fn parse(text: &str) -> Result<Perm, String> {
        match text.trim() {
            "DENY" => Ok(Perm::DENY),
            "PUB" => Ok(Perm::PUB),
            "SUB" => Ok(Perm::SUB),
            "PUB|SUB" | "SUB|PUB" => Ok(Perm::PUB_SUB),
            other => Err(format!(
                "{other:?} is not a permission: expected DENY, PUB, SUB or PUB|SUB"
            )),
        }
    }

    /// The name as written in plain_acl.yml.
    pub fn name(self) -> &'static str {
        match self {
            Perm::DENY => "DENY",
            Perm::ANY => "ANY",
            Perm::PUB => "PUB",
            Perm::SUB => "SUB",
            Perm::PUB_SUB => "PUB|SUB",
            _ => "?",
        }
    }

    /// True when holding `self` grants `needed` (DENY grants nothing; ANY needs PUB or SUB).
    pub fn grants(self, needed: Perm) -> bool {
        if self.0 & Perm::DENY.0 != 0 {
            return false;
        }
        if needed.0 & Perm::ANY.0 != 0 {
            return self.0 & Perm::PUB_SUB.0 != 0;
        }
        needed.0 & self.0 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_follow_rocketmq() {
        assert!(Perm::PUB.grants(Perm::PUB));
        assert!(!Perm::PUB.grants(Perm::SUB));
        assert!(Perm::PUB_SUB.grants(Perm::SUB));
        assert!(!Perm::DENY.grants(Perm::PUB));
        assert!(Perm::SUB.grants(Perm::ANY));
        assert!(!Perm::DENY.grants(Perm::ANY));
        for p in ["DENY", "PUB", " SUB ", "PUB|SUB", "SUB|PUB"] {
            Perm::parse(p).unwrap();
        }
        assert_eq!(Perm::parse("SUB|PUB").unwrap(), Perm::PUB_SUB);
        assert!(Perm::parse("READ").unwrap_err().contains("READ"));
    }
}
