//! Where plain_acl.yml lives and how it is read and written.
//!
//! Location: `<directory of the broker's -c file>/plain_acl.yml`; without a -c file,
//! `$ROCKETMQ_HOME/conf/plain_acl.yml` when ROCKETMQ_HOME is set (RocketMQ's own place),
//! else `<storePathRootDir>/config/plain_acl.yml` beside the broker's other metadata.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use super::rules::AclRules;

/// The file's name.
pub const ACL_FILE_NAME: &str = "plain_acl.yml";

/// How often the file is looked at for changes, ms.
pub const ACL_RELOAD_POLL_MS: u64 = 2_000;

/// Largest plain_acl.yml read, bytes (a bigger file is refused, not parsed).
pub const MAX_ACL_FILE_BYTES: u64 = 4 << 20;

/// The file's path for a broker, absolute (clusterAclConfigVersion shows it and
/// updateGlobalWhiteAddr's -p is compared with it).
pub fn locate(config_file: Option<&Path>, store_root: &Path) -> PathBuf {
    let path = match config_file {
        Some(f) => f.with_file_name(ACL_FILE_NAME),
        None => match std::env::var_os("ROCKETMQ_HOME").filter(|h| !h.is_empty()) {
            Some(home) => Path::new(&home).join("conf").join(ACL_FILE_NAME),
            None => store_root.join("config").join(ACL_FILE_NAME),
        },
    };
    std::path::absolute(&path).unwrap_or(path)
}

/// What identifies one version of the file on disk (mtime, size, inode): a change in any
/// means "read it again".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp(i64, i64, u64, u64);

/// The file's stamp now; `None` when it does not exist.
pub fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp(m.mtime(), m.mtime_nsec(), m.size(), m.ino()))
}

/// The file's text; a missing file reads as empty (no accounts: nothing passes but
/// whitelisted addresses, which an empty file has none of).
pub fn read_text(path: &Path) -> Result<String, String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        Ok(m) if m.len() > MAX_ACL_FILE_BYTES => {
            return Err(format!(
                "{} is {} bytes, more than the {MAX_ACL_FILE_BYTES} a plain_acl.yml may have",
                path.display(),
                m.len()
            ))
        }
        Ok(_) => {}
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Reads and parses the file; errors name the file and the key.
pub fn load(path: &Path) -> Result<AclRules, String> {
    let text = read_text(path)?;
    AclRules::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beside_the_config_file_else_the_store() {
        let store = Path::new("/data/store");
        assert_eq!(
            locate(Some(Path::new("/etc/coremq/broker-a.properties")), store),
            Path::new("/etc/coremq/plain_acl.yml")
        );
        assert_eq!(
            locate(Some(Path::new("broker.properties")), store),
            std::env::current_dir().unwrap().join("plain_acl.yml")
        );
        if std::env::var_os("ROCKETMQ_HOME").is_none() {
            assert_eq!(
                locate(None, store),
                Path::new("/data/store/config/plain_acl.yml")
            );
        }
    }

    #[test]
    fn missing_reads_empty_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(ACL_FILE_NAME);
        assert_eq!(load(&p).unwrap(), AclRules::default());
        assert!(stamp(&p).is_none());
        std::fs::write(&p, "accounts:\n  - accessKey: short\n").unwrap();
        let e = load(&p).unwrap_err();
        assert!(e.contains("plain_acl.yml: accounts[0].accessKey"), "{e}");
        assert!(stamp(&p).is_some());
    }
}
