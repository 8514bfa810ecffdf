//! A small ext4 filesystem on a loop device, for the disk-fault tests. Needs root, losetup,
//! mkfs.ext4 and mount; a test that cannot have one says why and checks nothing, unless
//! COREMQ_REQUIRE_LOOP=1 (then it fails).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted loop filesystem, unmounted and detached when dropped (also on panic).
pub struct LoopFs {
    /// Where it is mounted.
    pub mnt: PathBuf,
    /// The loop device, `/dev/loopN`.
    pub device: String,
    _image: tempfile::TempDir,
}

fn run_cmd(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl LoopFs {
    /// Makes a `bytes`-sized ext4 image in a temp dir, attaches it to a free loop device
    /// and mounts it on `mnt` (created if missing).
    pub fn mount(mnt: &Path, bytes: u64) -> Result<LoopFs, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root".into());
        }
        let image_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let image = image_dir.path().join("fs.img");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(bytes))
            .map_err(|e| format!("image {}: {e}", image.display()))?;
        // -m 0: no blocks reserved for root, so root sees the disk fill up too.
        run_cmd(
            Command::new("mkfs.ext4")
                .args(["-q", "-F", "-m", "0"])
                .arg(&image),
        )?;
        let device = run_cmd(Command::new("losetup").args(["-f", "--show"]).arg(&image))?;
        let mounted = std::fs::create_dir_all(mnt)
            .map_err(|e| format!("{}: {e}", mnt.display()))
            .and_then(|()| run_cmd(Command::new("mount").arg(&device).arg(mnt)));
        if let Err(e) = mounted {
            let _ = Command::new("losetup").args(["-d", &device]).status();
            return Err(e);
        }
        Ok(LoopFs {
            mnt: mnt.to_owned(),
            device,
            _image: image_dir,
        })
    }

    /// The device's `major:minor`, as cgroup block-I/O files name it.
    pub fn dev_numbers(&self) -> Result<String, String> {
        let name = Path::new(&self.device)
            .file_name()
            .ok_or_else(|| format!("no device name in {}", self.device))?;
        let path = Path::new("/sys/block").join(name).join("dev");
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_owned())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Bytes free on the filesystem.
    pub fn free_bytes(&self) -> u64 {
        let usage = coremq::store::DiskUsage::of(&self.mnt).unwrap();
        usage.total - usage.used
    }

    /// Allocates a filler file taking all free space but about `leave_bytes`; returns its
    /// path.
    pub fn fill_leaving(&self, leave_bytes: u64) -> PathBuf {
        use std::os::fd::AsRawFd;
        let filler = self.mnt.join("filler");
        let f = std::fs::File::create(&filler).unwrap();
        let mut len = self.free_bytes().saturating_sub(leave_bytes) as libc::off_t;
        // The filler's own extent blocks come out of the free space too: ask for a little
        // less until it fits.
        for _ in 0..64 {
            // SAFETY: fallocate on a file we own; failure is checked.
            if unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, len) } == 0 {
                return filler;
            }
            let e = std::io::Error::last_os_error();
            assert_eq!(
                e.raw_os_error(),
                Some(libc::ENOSPC),
                "fallocate filler: {e}"
            );
            len -= 64 << 10;
        }
        panic!("fallocate filler: no length fits");
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds it: detach now, the kernel finishes when it lets go.
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
        let _ = Command::new("losetup").args(["-d", &self.device]).status();
    }
}

/// A test that cannot set up its device: prints why and returns, or fails when
/// COREMQ_REQUIRE_LOOP=1 (CI runs as root, where it must run).
pub fn skip_or_fail(test: &str, why: &str) {
    if std::env::var("COREMQ_REQUIRE_LOOP").is_ok_and(|v| v == "1") {
        panic!("{test}: cannot run and COREMQ_REQUIRE_LOOP=1: {why}");
    }
    println!("{test} SKIPPED: {why}");
}
