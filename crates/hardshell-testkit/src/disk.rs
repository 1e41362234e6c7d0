//! A small tmpfs, for what must happen when the disk is full.

use std::path::PathBuf;

/// A tmpfs of a few MiB, mounted for one test (root only, as the shell tests
/// are): a disk that can be filled without filling the machine's. Unmounted
/// (lazily) when dropped.
pub struct SmallDisk {
    /// Where it is mounted.
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size_mb` MiB; fails the test without root.
    pub fn new(size_mb: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let mounted = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_mb}m,mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .status()
            .unwrap();
        assert!(mounted.success(), "mounting a tmpfs needs root");
        Self { path, _dir: dir }
    }

    /// Writes a filler file until the disk refuses more.
    pub fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.path.join("filler")).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match filler.write_all(&chunk) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
    }

    /// Removes the filler: the disk has room again.
    pub fn free(&self) {
        std::fs::remove_file(self.path.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}
