//! Attaching a workspace image to a loop device, and refusing an image a
//! device already holds.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use hardshell_sandbox_sys as sys;

use super::VolumeError;

/// A free loop device with `image` attached: its node's path, and the
/// device open. It detaches itself when unmounted, or, if never mounted,
/// when that descriptor is closed.
pub(super) fn attach(name: &str, image: &File) -> Result<(String, File), VolumeError> {
    let failed = |source: io::Error| VolumeError::AttachLoop {
        name: name.to_owned(),
        source,
    };
    let control = File::open("/dev/loop-control").map_err(VolumeError::LoopControl)?;
    // Another process may take the free device between asking and attaching.
    let mut last = io::Error::other("no free loop device");
    for _ in 0..16 {
        let number = sys::block::free_loop_device(&control).map_err(failed)?;
        let node = format!("/dev/loop{number}");
        let device = match open_device(&node) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                sys::block::make_loop_node(&node, number).map_err(failed)?;
                open_device(&node)
            }
            other => other,
        }
        .map_err(failed)?;
        match sys::block::attach_loop_device(&device, image.as_fd()) {
            Ok(()) => return Ok((node, device)),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => last = e,
            Err(e) => return Err(failed(e)),
        }
    }
    Err(failed(last))
}

/// Refuses an image some loop device still holds after a wait: a shell whose
/// workspace the volume is keeps it bound until it ends, and a busy unmount
/// is lazy. After an edge
/// was killed (`kill -9`, a crash, then a restart by its service manager)
/// its shells' namespaces are torn down by the kernel, which takes seconds on
/// a loaded machine. Past the wait, another edge uses the same images. Two
/// ext4 mounts of one image would each overwrite the other's metadata.
pub(super) fn refuse_if_attached(name: &str, path: &Path) -> Result<(), VolumeError> {
    const WAIT: std::time::Duration = std::time::Duration::from_secs(30);
    const POLL: std::time::Duration = std::time::Duration::from_millis(50);
    let started = std::time::Instant::now();
    let mut said = false;
    while let Some(device) = attached_to(path) {
        if started.elapsed() >= WAIT {
            return Err(VolumeError::Image {
                name: name.to_owned(),
                path: path.to_owned(),
                reason: format!(
                    "it is still attached to /dev/{device} after {}s (a shell of an earlier mount still runs, or another edge uses these images){}",
                    WAIT.as_secs(),
                    holders(&device)
                ),
            });
        }
        if !said && started.elapsed() >= std::time::Duration::from_secs(1) {
            tracing::info!(volume = name, device = %device, "waiting for an earlier shell to let go of the volume");
            said = true;
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}

/// The loop device `path` is attached to, if any.
fn attached_to(path: &Path) -> Option<String> {
    let image = path.to_string_lossy();
    for entry in std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
    {
        let device = entry.file_name().to_string_lossy().into_owned();
        if !device.starts_with("loop") {
            continue;
        }
        // Only an attached device has the file.
        let Ok(backing) = std::fs::read_to_string(entry.path().join("loop/backing_file")) else {
            continue;
        };
        if backing.trim_end() == image {
            return Some(device);
        }
    }
    None
}

/// The processes of other mount namespaces that have `device` mounted, one
/// for each namespace and at most four, as `; mounted where pid 12 (name)
/// runs`: what the operator stops for the image to be free. Empty when none
/// is found (a lazy unmount waiting for a file to close shows in no
/// namespace).
fn holders(device: &str) -> String {
    const SHOWN: usize = 4;
    let Ok(numbers) = std::fs::read_to_string(format!("/sys/block/{device}/dev")) else {
        return String::new();
    };
    // mountinfo's third field is the mounted device's major:minor.
    let numbers = numbers.trim_end();
    let own = std::fs::read_link("/proc/self/ns/mnt").ok();
    let mut namespaces = Vec::new();
    let mut shown = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(namespace) = std::fs::read_link(entry.path().join("ns/mnt")) else {
            continue;
        };
        if Some(&namespace) == own.as_ref() || namespaces.contains(&namespace) {
            continue;
        }
        let Ok(mounts) = std::fs::read_to_string(entry.path().join("mountinfo")) else {
            continue;
        };
        if !mounts
            .lines()
            .any(|line| line.split(' ').nth(2) == Some(numbers))
        {
            continue;
        }
        namespaces.push(namespace);
        // A process's name is its own choice: only its letters and digits
        // are shown.
        let comm: String = std::fs::read_to_string(entry.path().join("comm"))
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(16)
            .collect();
        shown.push(format!("pid {pid} ({comm})"));
        if shown.len() == SHOWN {
            break;
        }
    }
    if shown.is_empty() {
        String::new()
    } else {
        format!("; mounted where {} runs", shown.join(", "))
    }
}

fn open_device(node: &str) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(node)
}
