//! Loop devices and file system space: what a workspace volume (a file system
//! image of its own, so a shell's writes stop at its size) is attached with.
//!
//! `libc` has none of the loop `ioctl`s or structures, so they are declared
//! here from `<linux/loop.h>`. `LOOP_CONFIGURE` (Linux 5.8) attaches the image
//! and sets its flags in one call, so no half-configured device is ever visible.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::{c_path, check};

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
/// The device detaches itself when its last user (the mount) goes.
const LO_FLAGS_AUTOCLEAR: u32 = 4;
const LO_NAME_SIZE: usize = 64;
const LO_KEY_SIZE: usize = 32;

/// `struct loop_info64`.
#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; LO_NAME_SIZE],
    lo_crypt_name: [u8; LO_NAME_SIZE],
    lo_encrypt_key: [u8; LO_KEY_SIZE],
    lo_init: [u64; 2],
}

/// `struct loop_config`.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

// The kernel's sizes: a mismatch would make the ioctl read past the value.
const _: () = assert!(std::mem::size_of::<LoopInfo64>() == 232);
const _: () = assert!(std::mem::size_of::<LoopConfig>() == 304);

/// The number of a free loop device, from `/dev/loop-control`
/// (`LOOP_CTL_GET_FREE`, which makes one if none is free).
pub fn free_loop_device(control: &File) -> io::Result<u32> {
    // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns an integer; the
    // descriptor is live for the call.
    let number = check(unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE) })?;
    u32::try_from(number).map_err(io::Error::other)
}

/// Attaches `backing` to the loop device `device` (`LOOP_CONFIGURE`), with
/// autoclear: the device is released when the last user closes it or its
/// file system is unmounted. `EBUSY` means another process took the device
/// first; ask for another.
pub fn attach_loop_device(device: &File, backing: BorrowedFd<'_>) -> io::Result<()> {
    let fd = u32::try_from(backing.as_raw_fd()).map_err(io::Error::other)?;
    let config = LoopConfig {
        fd,
        block_size: 0,
        info: LoopInfo64 {
            lo_device: 0,
            lo_inode: 0,
            lo_rdevice: 0,
            lo_offset: 0,
            lo_sizelimit: 0,
            lo_number: 0,
            lo_encrypt_type: 0,
            lo_encrypt_key_size: 0,
            lo_flags: LO_FLAGS_AUTOCLEAR,
            lo_file_name: [0; LO_NAME_SIZE],
            lo_crypt_name: [0; LO_NAME_SIZE],
            lo_encrypt_key: [0; LO_KEY_SIZE],
            lo_init: [0; 2],
        },
        reserved: [0; 8],
    };
    // SAFETY: `config` is a fully initialised `struct loop_config` (layout
    // checked above) that outlives the call; the kernel only reads it. Both
    // descriptors are live for the call.
    check(unsafe {
        libc::ioctl(
            device.as_raw_fd(),
            LOOP_CONFIGURE,
            std::ptr::from_ref(&config),
        )
    })
    .map(drop)
}

/// Makes the block device node `path` (major 7: loop) for loop device
/// `number`, mode 0600: hosts without udev (containers) have only the first
/// few nodes.
pub fn make_loop_node(path: &str, number: u32) -> io::Result<()> {
    let path = c_path(path)?;
    let device = libc::makedev(7, number);
    // SAFETY: path is a NUL-terminated string that outlives the call; the
    // other arguments are integers.
    check(unsafe { libc::mknod(path.as_ptr(), libc::S_IFBLK | 0o600, device) }).map(drop)
}

/// Room left on the file system holding `path` for an unprivileged writer:
/// `(bytes, inodes)`.
pub fn free_space(path: &str) -> io::Result<(u64, u64)> {
    let path = c_path(path)?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: path is NUL-terminated; stat points to writable memory of the
    // right type, which the kernel fills when the call succeeds.
    check(unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) })?;
    // SAFETY: the call succeeded, so the structure was written.
    let stat = unsafe { stat.assume_init() };
    Ok((stat.f_bavail.saturating_mul(stat.f_frsize), stat.f_favail))
}
