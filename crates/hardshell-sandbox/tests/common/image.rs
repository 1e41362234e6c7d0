//! A hand-made image root for the workload shell's tests: what the image
//! crate unpacks, in miniature. A directory holding the host's static busybox
//! (Debian's `busybox-static`, see `scripts/install.sh`) at `/bin/busybox`,
//! every applet linked to it, and the files a test asks for; owned by the
//! shell's host id, as an unpacked image is.

use std::path::{Path, PathBuf};

/// An image root in a temporary directory.
pub struct Image {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

const BUSYBOX: &str = "/bin/busybox";

impl Image {
    /// Busybox and `files` (`(path inside, contents)`).
    pub fn busybox(files: &[(&str, &str)]) -> Self {
        let meta = std::fs::metadata(BUSYBOX).unwrap_or_else(|e| {
            panic!("{BUSYBOX} (Debian busybox-static; scripts/install.sh): {e}")
        });
        assert!(meta.is_file());
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(BUSYBOX, bin.join("busybox")).unwrap();
        let applets = std::process::Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .unwrap();
        for applet in String::from_utf8(applets.stdout).unwrap().lines() {
            if applet != "busybox" && !applet.contains('/') && !applet.is_empty() {
                std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
            }
        }
        for (inside, contents) in files {
            let path = root.join(inside.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        let (uid, gid) = hardshell_sandbox::host_ids();
        give(&root, uid, gid);
        Self { _dir: dir, root }
    }

    /// Adds the host's file `host` at `inside` (and its parents), as the
    /// world-readable root-owned file it is: hard-linked when it can be (a
    /// big binary is not copied per test), else copied.
    pub fn add_host_file(&self, host: &Path, inside: &str) {
        let path = self.root.join(inside.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if std::fs::hard_link(host, &path).is_err() {
            std::fs::copy(host, &path).unwrap();
        }
    }

    /// Every path under the root with its kind, size, mode and change time:
    /// equal before and after a shell ran iff the shell changed nothing.
    pub fn listing(&self) -> Vec<String> {
        let mut found = Vec::new();
        list(&self.root, &self.root, &mut found);
        found.sort();
        found
    }
}

fn give(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    let meta = std::fs::symlink_metadata(path).unwrap();
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            give(&entry.unwrap().path(), uid, gid);
        }
    }
}

fn list(root: &Path, path: &Path, found: &mut Vec<String>) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).unwrap();
    found.push(format!(
        "{} {:o} {} {}.{}",
        path.strip_prefix(root).unwrap().display(),
        meta.mode(),
        meta.len(),
        meta.ctime(),
        meta.ctime_nsec()
    ));
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            list(root, &entry.unwrap().path(), found);
        }
    }
}
