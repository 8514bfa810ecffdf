//! Retention: RocketMQ's `deleteWhen`, `fileReservedTime` and `diskMaxUsedSpaceRatio`.
//!
//! A commit-log segment whose file was last written more than fileReservedTime hours ago
//! is removed during the deleteWhen hours. When the disk is fuller than
//! diskMaxUsedSpaceRatio, the oldest segments go regardless of age or hour, until enough is
//! freed. The segment being written is never removed, and removal is oldest-first so the
//! log always stays one contiguous range. Each queue's min offset then advances past
//! entries whose records are gone, and index segments wholly below it are removed.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::config::CLEAN_RESOURCE_INTERVAL_MS;

/// Retention settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// deleteWhen: hours of the day (local time) when expired segments are removed.
    pub delete_hours: Vec<u8>,
    /// fileReservedTime: how long a segment is kept after its last write.
    pub reserved: Duration,
    /// diskMaxUsedSpaceRatio, percent.
    pub disk_max_used_ratio: u8,
}

impl RetentionPolicy {
    /// RocketMQ's defaults: "04", 72 h, 75 %.
    pub fn rocketmq_defaults() -> Self {
        RetentionPolicy {
            delete_hours: vec![4],
            reserved: Duration::from_secs(72 * 3600),
            disk_max_used_ratio: 75,
        }
    }

    /// Parses deleteWhen (`04`, `04;16`).
    pub fn parse_delete_when(text: &str) -> Result<Vec<u8>, String> {
        text.split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|h| match h.parse::<u8>() {
                Ok(v) if v < 24 => Ok(v),
                _ => Err(format!("hours 00..23 separated by ';', got {h:?}")),
            })
            .collect::<Result<Vec<u8>, String>>()
            .and_then(|v| {
                if v.is_empty() {
                    Err("at least one hour".into())
                } else {
                    Ok(v)
                }
            })
    }
}

/// One segment as retention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Start offset.
    pub start: u64,
    /// Last write time of the file.
    pub modified: SystemTime,
}

/// Disk usage of the filesystem holding the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    /// Total bytes.
    pub total: u64,
    /// Used bytes.
    pub used: u64,
}

impl DiskUsage {
    /// Reads the usage of the filesystem holding `path`.
    pub fn of(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::other("path with NUL"))?;
        // SAFETY: statvfs writes into the zeroed struct we pass; the path is NUL-terminated.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let frsize = st.f_frsize as u64;
        Ok(DiskUsage {
            total: st.f_blocks as u64 * frsize,
            used: (st.f_blocks as u64 - st.f_bfree as u64) * frsize,
        })
    }

    /// Used share in percent.
    pub fn ratio_percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        self.used as f64 * 100.0 / self.total as f64
    }
}

/// The local hour of day (deleteWhen is in local time, as in RocketMQ).
pub fn local_hour(now: SystemTime) -> u8 {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as libc::time_t;
    // SAFETY: localtime_r fills the zeroed struct from a valid time_t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if ok {
        tm.tm_hour as u8
    } else {
        ((secs / 3600) % 24) as u8
    }
}

/// Which segments to remove, oldest first. `segments` is sorted by start; the last one
/// (the segment being written) is never chosen.
pub fn segments_to_remove(
    segments: &[SegmentInfo],
    segment_bytes: u64,
    policy: &RetentionPolicy,
    now: SystemTime,
    hour: u8,
    disk: DiskUsage,
) -> Vec<u64> {
    let Some((_, removable)) = segments.split_last() else {
        return Vec::new();
    };
    let over = disk.ratio_percent() >= f64::from(policy.disk_max_used_ratio);
    let limit = disk.total as f64 * f64::from(policy.disk_max_used_ratio) / 100.0;
    let mut to_free = if over {
        (disk.used as f64 - limit).max(0.0) as u64
    } else {
        0
    };
    let in_hours = policy.delete_hours.contains(&hour);
    let mut out = Vec::new();
    for s in removable {
        let expired = now
            .duration_since(s.modified)
            .is_ok_and(|age| age >= policy.reserved);
        let forced = to_free > 0;
        if (expired && in_hours) || forced {
            out.push(s.start);
            to_free = to_free.saturating_sub(segment_bytes);
        } else {
            break; // oldest-first: a kept segment keeps every younger one
        }
    }
    out
}

impl super::ShardStore {
    /// Runs the configured retention policy every [`CLEAN_RESOURCE_INTERVAL_MS`] until the
    /// store closes (the owner spawns this on the store's executor).
    pub async fn run_retention(self: std::rc::Rc<Self>) {
        let Some(policy) = self.inner.cfg.retention.clone() else {
            return;
        };
        let dir = self.inner.cfg.commitlog_dir();
        while !self.inner.closing.get() {
            glommio::timer::sleep(Duration::from_millis(CLEAN_RESOURCE_INTERVAL_MS)).await;
            let now = SystemTime::now();
            let disk = match DiskUsage::of(&dir) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(shard = self.inner.cfg.shard, "cannot read disk usage: {e}");
                    continue;
                }
            };
            if let Err(e) = self
                .apply_retention(&policy, now, local_hour(now), disk)
                .await
            {
                tracing::warn!(shard = self.inner.cfg.shard, "retention failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn segs(ages_h: &[u64], now: SystemTime) -> Vec<SegmentInfo> {
        ages_h
            .iter()
            .enumerate()
            .map(|(i, a)| SegmentInfo {
                start: i as u64 * GIB,
                modified: now - Duration::from_secs(a * 3600),
            })
            .collect()
    }

    #[test]
    fn expired_segments_go_only_in_delete_hours_and_never_the_active_one() {
        let now = SystemTime::now();
        let p = RetentionPolicy::rocketmq_defaults();
        let roomy = DiskUsage {
            total: 100 * GIB,
            used: 10 * GIB,
        };
        let s = segs(&[100, 80, 10, 200], now); // last is active even though "old"
        assert_eq!(segments_to_remove(&s, GIB, &p, now, 4, roomy), vec![0, GIB]);
        assert!(segments_to_remove(&s, GIB, &p, now, 5, roomy).is_empty());
        // A young segment blocks older-looking ones behind it (oldest-first).
        let s = segs(&[10, 100, 1], now);
        assert!(segments_to_remove(&s, GIB, &p, now, 4, roomy).is_empty());
    }

    #[test]
    fn a_full_disk_forces_removal_of_just_enough_oldest_segments() {
        let now = SystemTime::now();
        let p = RetentionPolicy::rocketmq_defaults();
        let full = DiskUsage {
            total: 10 * GIB,
            used: 9 * GIB,
        }; // 90 % > 75 %: free 1.5 GiB
        let s = segs(&[1, 1, 1, 1, 1], now);
        assert_eq!(segments_to_remove(&s, GIB, &p, now, 12, full), vec![0, GIB]);
        let s = segs(&[1], now);
        assert!(segments_to_remove(&s, GIB, &p, now, 12, full).is_empty());
    }

    #[test]
    fn delete_when_parses_like_rocketmq() {
        assert_eq!(RetentionPolicy::parse_delete_when("04"), Ok(vec![4]));
        assert_eq!(RetentionPolicy::parse_delete_when("04;16"), Ok(vec![4, 16]));
        assert!(RetentionPolicy::parse_delete_when("25").is_err());
        assert!(RetentionPolicy::parse_delete_when("").is_err());
    }
}
