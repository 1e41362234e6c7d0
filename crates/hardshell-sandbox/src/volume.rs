//! Workspace volumes: each workspace is a file system of its own, an ext4
//! image file attached to a loop device and mounted (by the edge, in the
//! host's mount namespace) over the workspace directory, which shells then
//! bind as today. A shell's writes stop at the image's size and inode count
//! with `ENOSPC`, and never reach the file system that holds the edge's data.
//!
//! The invariants, and where they are kept:
//! - Images live in a directory only the edge can write, and are opened with
//!   `O_NOFOLLOW`; the loop device is given the open descriptor, so no path a
//!   shell could change is ever resolved on the way to the device.
//! - The mount point is opened with `O_NOFOLLOW | O_DIRECTORY` and the mount
//!   made on that descriptor (`/proc/self/fd/N`): a symlink at it is refused.
//! - New images are refused unless the data disk has room for every image
//!   to grow to its full size and one volume's size more, kept for the
//!   edge's own files: sparse images never promise more than exists.
//! - A volume mounts with `nosuid,nodev` (not `noexec`: building and running
//!   programs in the workspace is what exec shells are for, and a shell's
//!   other layers already hold whatever such a program does).
//! - Nothing here falls back to a plain directory: no loop devices, no
//!   `mkfs.ext4`, no ext4 is an error naming what is missing.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use hardshell_sandbox_sys as sys;

pub use migrate::MigrateError;

mod loop_device;
mod migrate;

/// How large each workspace volume is. An existing image keeps the size it
/// was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeSize {
    pub bytes: u64,
    pub inodes: u64,
}

/// Why a workspace volume could not be made or mounted. Each variant is one
/// step of [`Volumes::mount`], and names the volume and the path it hit.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("workspace volume name {0:?} is not 1 to 128 letters, digits, '-' and '_'")]
    Name(String),
    #[error("workspace volumes: the image directory {path}: {reason}")]
    ImageDirectory { path: PathBuf, reason: String },
    #[error(
        "workspace volumes need loop devices (/dev/loop-control: {0}); load the `loop` module and run the edge as root"
    )]
    LoopControl(io::Error),
    #[error("workspace volume {name}: its mount point {path}: {reason}")]
    MountPoint {
        name: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "workspace volume {name}: {path} holds files while its volume was not mounted; move them aside, start again, and copy them into the mounted {path}"
    )]
    OldWorkspace { name: String, path: PathBuf },
    #[error(
        "workspace volume {name}: copying the plain workspace {path} into its new volume: {reason}; the directory is as it was"
    )]
    Migrate {
        name: String,
        path: PathBuf,
        #[source]
        reason: MigrateError,
    },
    #[error("workspace volume {name}: its image {path}: {reason}")]
    Image {
        name: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "workspace volume {name}: no room for a new volume: the data disk has {free} bytes free; the volumes may still grow by {promised} bytes, and this one's {size} must fit twice (once for it, once kept for the edge's own files)"
    )]
    NoRoom {
        name: String,
        free: u64,
        promised: u64,
        size: u64,
    },
    #[error(
        "workspace volume {name}: making its file system (mkfs.ext4, from e2fsprogs): {reason}"
    )]
    MakeFileSystem { name: String, reason: String },
    #[error("workspace volume {name}: attaching a loop device: {source}")]
    AttachLoop { name: String, source: io::Error },
    #[error("workspace volume {name}: mounting its ext4 file system at {path}: {source}")]
    Mount {
        name: String,
        path: PathBuf,
        source: io::Error,
    },
}

/// The workspace volumes of one edge: their images, and what it mounted.
#[derive(Debug)]
pub struct Volumes {
    images: PathBuf,
    size: VolumeSize,
    /// Who owns a new volume's root: the shells' host id.
    owner: (u32, u32),
    /// Mount points this edge mounted. Held across a whole mount, so two
    /// runs of one session never mount twice, and the room check and the
    /// image it allows are one step.
    mounted: Mutex<Vec<PathBuf>>,
}

impl Volumes {
    /// Volumes whose images are kept in `images` (made mode 0700 if missing;
    /// it must belong to the edge and no one else may write it), `size` each,
    /// owned by the shells' id. Fails now, not at the first run, when this
    /// host has no loop devices.
    pub fn open(images: &Path, size: VolumeSize) -> Result<Self, VolumeError> {
        use std::os::unix::fs::DirBuilderExt;
        let directory = |reason: String| VolumeError::ImageDirectory {
            path: images.to_owned(),
            reason,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(images)
            .map_err(|e| directory(e.to_string()))?;
        let images = images
            .canonicalize()
            .map_err(|e| directory(e.to_string()))?;
        let meta = std::fs::metadata(&images).map_err(|e| directory(e.to_string()))?;
        if meta.uid() != sys::ids().0 || meta.mode() & 0o022 != 0 {
            return Err(directory(
                "it must belong to the edge's user and be writable by no one else".into(),
            ));
        }
        File::open("/dev/loop-control").map_err(VolumeError::LoopControl)?;
        Ok(Self {
            images,
            size,
            owner: crate::host_ids(),
            mounted: Mutex::new(Vec::new()),
        })
    }

    /// Mounts volume `name` at `at` (an empty directory, made if missing),
    /// making its image on first use. A volume already mounted there by this
    /// edge is left as it is. Blocking: runs `mkfs.ext4` for a new volume.
    pub fn mount(&self, name: &str, at: &Path) -> Result<(), VolumeError> {
        self.mount_sized(name, at, self.size)
    }

    /// [`Volumes::mount`] with a size of its own for a new image (a
    /// workload's state volume is not a workspace). Its image lives with the
    /// others, so the room check counts every volume the edge promised,
    /// whatever its size, and one unmount at shutdown takes them all.
    pub fn mount_sized(&self, name: &str, at: &Path, size: VolumeSize) -> Result<(), VolumeError> {
        check_name(name)?;
        let mut mounted = self.mounted.lock().unwrap_or_else(PoisonError::into_inner);
        if mounted.iter().any(|path| path == at) {
            return Ok(());
        }
        let image_path = self.image_path(name);
        let new_image = matches!(
            std::fs::symlink_metadata(&image_path),
            Err(e) if e.kind() == io::ErrorKind::NotFound
        );
        let mut point = open_mount_point(name, at)?;
        // A plain directory from before volumes: its files move into the
        // new volume once. Into an existing volume nothing is merged.
        let older = match (is_empty(name, at, &point)?, new_image) {
            (true, _) => None,
            (false, true) => {
                let aside = migrate::move_aside(name, at)?;
                point = open_mount_point(name, at)?;
                Some(aside)
            }
            (false, false) => {
                return Err(VolumeError::OldWorkspace {
                    name: name.to_owned(),
                    path: at.to_owned(),
                });
            }
        };
        let result = match (self.mount_on(name, at, &point, new_image, size), &older) {
            (Ok(()), Some(aside)) => migrate::copy_tree(aside, at, self.owner).map_err(|reason| {
                let _ = unmount(at);
                VolumeError::Migrate {
                    name: name.to_owned(),
                    path: at.to_owned(),
                    reason,
                }
            }),
            (result, _) => result,
        };
        if let Some(aside) = &older {
            if result.is_err() {
                // Back as it was: the plain directory in place, no volume.
                let _ = std::fs::remove_file(&image_path);
                let _ = std::fs::remove_dir(at);
                let _ = std::fs::rename(aside, at);
            } else {
                tracing::info!(
                    volume = name,
                    from = %aside.display(),
                    "copied a plain workspace into its new volume; the old directory is kept for its owner to remove"
                );
            }
        }
        result?;
        mounted.push(at.to_owned());
        Ok(())
    }

    /// The volume's image (made first if new) on a loop device, mounted on
    /// the opened mount point `point`.
    fn mount_on(
        &self,
        name: &str,
        at: &Path,
        point: &File,
        new_image: bool,
        size: VolumeSize,
    ) -> Result<(), VolumeError> {
        let image = self.open_image(name, size)?;
        loop_device::refuse_if_attached(name, &self.image_path(name))?;
        // Held until mounted: an autoclear device detaches at its last close.
        let (device, _held) = loop_device::attach(name, &image)?;
        let target = format!("/proc/self/fd/{}", point.as_raw_fd());
        sys::mount(
            Some(&device),
            &target,
            Some("ext4"),
            sys::MS_NOSUID | sys::MS_NODEV,
            Some("errors=remount-ro"),
        )
        .map_err(|source| VolumeError::Mount {
            name: name.to_owned(),
            path: at.to_owned(),
            source,
        })?;
        if new_image {
            // mkfs's empty lost+found is of no use to a workspace (e2fsck makes
            // it again when it needs one); left, every `ls` would show it.
            let _ = std::fs::remove_dir(at.join("lost+found"));
        }
        Ok(())
    }

    /// Unmounts every volume this edge mounted (their loop devices then
    /// detach themselves); for shutdown. Returns how many.
    pub fn unmount_all(&self) -> usize {
        let mut mounted = self.mounted.lock().unwrap_or_else(PoisonError::into_inner);
        let mut count = 0;
        for at in mounted.drain(..) {
            match unmount(&at) {
                Ok(()) => count += 1,
                Err(e) => {
                    tracing::warn!(path = %at.display(), error = %e, "unmounting a workspace volume")
                }
            }
        }
        count
    }

    fn image_path(&self, name: &str) -> PathBuf {
        self.images.join(format!("{name}.img"))
    }

    /// The volume's image, opened without following a symlink; made first if
    /// there is none.
    fn open_image(&self, name: &str, size: VolumeSize) -> Result<File, VolumeError> {
        let path = self.image_path(name);
        let image = |reason: String| VolumeError::Image {
            name: name.to_owned(),
            path: path.clone(),
            reason,
        };
        let file = match open_nofollow(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.make_image(name, &path, size)?;
                open_nofollow(&path).map_err(|e| image(e.to_string()))?
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(image("it is a symlink; refusing to follow it".into()));
            }
            Err(e) => return Err(image(e.to_string())),
        };
        let meta = file.metadata().map_err(|e| image(e.to_string()))?;
        if !meta.file_type().is_file() || meta.uid() != sys::ids().0 || meta.nlink() != 1 {
            return Err(image(
                "it must be a regular file of the edge's user with one link".into(),
            ));
        }
        Ok(file)
    }

    /// Makes `path`: a sparse file of the volume's size with an ext4 file
    /// system, made under another name and renamed into place, so a crash
    /// never leaves a half-made image under the real name.
    fn make_image(&self, name: &str, path: &Path, size: VolumeSize) -> Result<(), VolumeError> {
        let image = |reason: String| VolumeError::Image {
            name: name.to_owned(),
            path: path.to_owned(),
            reason,
        };
        self.check_room(name, size.bytes)?;
        let fresh = path.with_extension("img.new");
        match std::fs::remove_file(&fresh) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(image(format!("removing a half-made image: {e}"))),
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&fresh)
            .map_err(|e| image(e.to_string()))?;
        file.set_len(size.bytes).map_err(|e| image(e.to_string()))?;
        let (uid, gid) = self.owner;
        let made = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0", "-O", "^has_journal", "-N"])
            .arg(size.inodes.to_string())
            .arg("-E")
            .arg(format!("root_owner={uid}:{gid},nodiscard"))
            .arg(&fresh)
            .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
            .output();
        let failed = |reason: String| VolumeError::MakeFileSystem {
            name: name.to_owned(),
            reason,
        };
        match made {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                let _ = std::fs::remove_file(&fresh);
                return Err(failed(format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&fresh);
                return Err(failed(e.to_string()));
            }
        }
        file.sync_all().map_err(|e| image(e.to_string()))?;
        std::fs::rename(&fresh, path).map_err(|e| image(e.to_string()))?;
        File::open(&self.images)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| image(e.to_string()))
    }

    /// Refuses a new image unless the data disk can hold it and every other
    /// image at full size: the room not yet used by the images is promised.
    fn check_room(&self, name: &str, size: u64) -> Result<(), VolumeError> {
        let directory = |reason: String| VolumeError::ImageDirectory {
            path: self.images.clone(),
            reason,
        };
        let mut promised: u64 = 0;
        for entry in std::fs::read_dir(&self.images).map_err(|e| directory(e.to_string()))? {
            let entry = entry.map_err(|e| directory(e.to_string()))?;
            let meta = entry.metadata().map_err(|e| directory(e.to_string()))?;
            if meta.file_type().is_file() {
                let used = meta.blocks().saturating_mul(512);
                promised = promised.saturating_add(meta.size().saturating_sub(used));
            }
        }
        let text = self.images.to_string_lossy();
        let (free, _) = sys::block::free_space(&text).map_err(|e| directory(e.to_string()))?;
        // One more volume's size stays free for the edge's own files: the
        // audit log and the stores must not be the ones to run out.
        if free < promised.saturating_add(size.saturating_mul(2)) {
            return Err(VolumeError::NoRoom {
                name: name.to_owned(),
                free,
                promised,
                size,
            });
        }
        Ok(())
    }
}

/// What an edge mounted and did not unmount goes with it: an `up` that fails
/// after mounting (a refused state lease, a port in use) leaves no volume on
/// the host. Left there, the image stays attached until the next start
/// finds it, and every shell any edge starts meanwhile copies the mount into
/// its own mount namespace while it builds its root.
impl Drop for Volumes {
    fn drop(&mut self) {
        self.unmount_all();
    }
}

/// Detaches a volume left mounted at `at` by an edge that was killed;
/// `true` if there was one. Anything that is not a directory, or not a
/// mount point, is left alone. Call at start, before any shell runs.
pub fn unmount_stale(at: &Path) -> io::Result<bool> {
    let Some(parent) = at.parent() else {
        return Ok(false);
    };
    let meta = match std::fs::symlink_metadata(at) {
        Ok(meta) if meta.file_type().is_dir() => meta,
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if meta.dev() == std::fs::metadata(parent)?.dev() {
        return Ok(false);
    }
    unmount(at)?;
    Ok(true)
}

/// [`unmount_stale`] for every entry of `parent`; returns how many.
pub fn unmount_stale_under(parent: &Path) -> io::Result<usize> {
    let mut count = 0;
    for entry in std::fs::read_dir(parent)? {
        if unmount_stale(&entry?.path())? {
            count += 1;
        }
    }
    Ok(count)
}

fn unmount(at: &Path) -> io::Result<()> {
    let path = at.to_string_lossy();
    // A plain unmount first: it returns once the file system is written
    // back and released, so a mount of the same image right after never
    // meets the old one still in flight.
    match sys::umount2(&path, sys::UMOUNT_NOFOLLOW) {
        // Busy (a file still open in a shell being killed): detached, and it
        // goes when the last one closes; until then the image stays attached
        // and `attach` refuses to attach it twice.
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            sys::umount2(&path, sys::MNT_DETACH | sys::UMOUNT_NOFOLLOW)
        }
        other => other,
    }
}

fn check_name(name: &str) -> Result<(), VolumeError> {
    let fits = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if fits {
        Ok(())
    } else {
        Err(VolumeError::Name(name.to_owned()))
    }
}

fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// The mount point, made if missing and opened without following a symlink:
/// a directory on the same file system as its parent (not already a mount
/// point).
fn open_mount_point(name: &str, at: &Path) -> Result<File, VolumeError> {
    use std::os::unix::fs::DirBuilderExt;
    let refused = |reason: String| VolumeError::MountPoint {
        name: name.to_owned(),
        path: at.to_owned(),
        reason,
    };
    match std::fs::DirBuilder::new().mode(0o700).create(at) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(refused(e.to_string())),
    }
    let point = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(at)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP | libc::ENOTDIR) => {
                refused("it is not a directory (a symlink?); refusing to follow it".into())
            }
            _ => refused(e.to_string()),
        })?;
    let parent = at
        .parent()
        .ok_or_else(|| refused("it has no parent".into()))?;
    let parent_dev = std::fs::metadata(parent)
        .map_err(|e| refused(e.to_string()))?
        .dev();
    let meta = point.metadata().map_err(|e| refused(e.to_string()))?;
    if meta.dev() != parent_dev {
        return Err(refused(
            "something is already mounted there that this edge did not mount".into(),
        ));
    }
    Ok(point)
}

/// Whether the opened mount point holds nothing.
fn is_empty(name: &str, at: &Path, point: &File) -> Result<bool, VolumeError> {
    let mut listed =
        std::fs::read_dir(format!("/proc/self/fd/{}", point.as_raw_fd())).map_err(|e| {
            VolumeError::MountPoint {
                name: name.to_owned(),
                path: at.to_owned(),
                reason: e.to_string(),
            }
        })?;
    Ok(listed.next().is_none())
}
