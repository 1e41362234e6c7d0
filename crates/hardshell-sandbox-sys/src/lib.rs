//! The raw system calls hardshell's shell is made of. This is the only crate in
//! the workspace that may use `unsafe`; each wrapper states why its call is
//! sound and returns `std::io::Result`, so callers stay safe code.
//!
//! Hand-written over `libc` rather than `nix`: the shell needs a handful of
//! calls `nix` does not wrap (`pivot_root`, `close_range`, `capset`, the
//! capability-bounding-set and ambient `prctl`s), and one small crate that owns
//! every unsafe block is easier to review than two. [`pages`] gives back the
//! start-up's mappings of the program's own file, the one call here the
//! shell does not use.

pub mod block;
pub mod pages;

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

pub use libc::{
    CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER,
    CLONE_NEWUTS, MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY,
    MS_REC, MS_REMOUNT, RLIMIT_CORE, RLIMIT_FSIZE, RLIMIT_NOFILE, SIGCHLD, SIGHUP, SIGINT, SIGKILL,
    SIGTERM, UMOUNT_NOFOLLOW, pid_t,
};

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// Moves the calling process into new namespaces (`CLONE_NEW*` flags).
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes only an integer and changes kernel state of the
    // calling process; no memory is shared with the kernel.
    check(unsafe { libc::unshare(flags) }).map(drop)
}

/// What `fork` returned in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    Child,
    Parent(pid_t),
}

/// Forks, if and only if the calling process has one thread: in a process
/// with more, the child could inherit locks held by threads that no longer
/// exist. The shell's init process is single-threaded by construction; this
/// checks it instead of trusting it.
pub fn fork() -> io::Result<Forked> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let threads = status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .map(str::trim);
    if threads != Some("1") {
        return Err(io::Error::other(format!(
            "refusing to fork a process with {} threads",
            threads.unwrap_or("?")
        )));
    }
    // SAFETY: the process has exactly one thread (checked above, and nothing in
    // it starts threads concurrently), so the child is a complete copy.
    match check(unsafe { libc::fork() })? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

fn c_path(text: &str) -> io::Result<CString> {
    CString::new(text).map_err(|_| io::Error::other("a path holds a NUL byte"))
}

/// `mount(2)`.
pub fn mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(c_path).transpose()?;
    let target = c_path(target)?;
    let fstype = fstype.map(c_path).transpose()?;
    let data = data.map(c_path).transpose()?;
    let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is either null (allowed for source, fstype and data)
    // or a NUL-terminated string that outlives the call.
    check(unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    })
    .map(drop)
}

/// `MOUNT_ATTR_*` for [`restrict_mount_tree`] (`linux/mount.h`; `libc` has
/// no names for them yet).
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;

/// `struct mount_attr`, version 0 (32 bytes), as `mount_setattr(2)` reads it.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(2)` with `AT_RECURSIVE`: sets `set` (`MOUNT_ATTR_*`) on
/// the mount at `path` and on every mount beneath it, clearing nothing.
pub fn restrict_mount_tree(path: &str, set: u64) -> io::Result<()> {
    let path = c_path(path)?;
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: path is a NUL-terminated string and attr a fully initialised
    // `struct mount_attr` whose size is passed with it; the kernel only reads
    // both during the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(i32::try_from(result).unwrap_or(-1)).map(drop)
}

/// `open_tree(2)` with `OPEN_TREE_CLONE | AT_RECURSIVE`: a detached copy
/// of the mount tree at `path` (following a final symlink), to attach
/// elsewhere with [`attach_tree`], in this mount namespace or another.
pub fn clone_tree(path: &str) -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    let path = c_path(path)?;
    let flags =
        libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_RECURSIVE as libc::c_uint;
    // SAFETY: path is a NUL-terminated string the kernel only reads during
    // the call; the other arguments are integers.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `move_mount(2)` of the detached tree `tree` (from [`clone_tree`]) onto
/// `target`.
pub fn attach_tree(tree: RawFd, target: &str) -> io::Result<()> {
    let target = c_path(target)?;
    let empty = c"";
    // SAFETY: both paths are NUL-terminated strings the kernel only reads
    // during the call; `tree` is a descriptor number (a closed one fails
    // with EBADF).
    let result = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            empty.as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `umount2(2)`.
pub fn umount2(target: &str, flags: libc::c_int) -> io::Result<()> {
    let target = c_path(target)?;
    // SAFETY: target is a NUL-terminated string that outlives the call.
    check(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

/// `pivot_root(2)` (no libc wrapper exists).
pub fn pivot_root(new_root: &str, put_old: &str) -> io::Result<()> {
    let new_root = c_path(new_root)?;
    let put_old = c_path(put_old)?;
    // SAFETY: both arguments are NUL-terminated strings that outlive the call;
    // the syscall reads them and returns an integer.
    let result =
        unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    check(i32::try_from(result).unwrap_or(-1)).map(drop)
}

/// `sethostname(2)`.
pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, which outlive the call.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// Sets real, effective and saved group ids.
pub fn setresgid(gid: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::setresgid(gid, gid, gid) }).map(drop)
}

/// Sets real, effective and saved user ids.
pub fn setresuid(uid: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::setresuid(uid, uid, uid) }).map(drop)
}

/// Drops every supplementary group.
pub fn clear_groups() -> io::Result<()> {
    // SAFETY: a count of zero with a null list is the documented way to clear.
    check(unsafe { libc::setgroups(0, std::ptr::null()) }).map(drop)
}

fn prctl(option: libc::c_int, arg: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: every option used here takes integer arguments only; unused
    // arguments are zero as the man page requires.
    check(unsafe { libc::prctl(option, arg, 0, 0, 0) })
}

/// The Landlock ABI version this kernel offers: an error when Landlock is
/// not built in or not enabled at boot (`EOPNOTSUPP`), or the call is
/// unknown (`ENOSYS`). For `hardshell doctor`, which reports it; the
/// shell asks the `landlock` crate, which makes the same call.
pub fn landlock_abi() -> io::Result<u32> {
    // SAFETY: with a null attribute, a size of 0 and the flag
    // LANDLOCK_CREATE_RULESET_VERSION (1), the kernel reads no memory and
    // returns the ABI version (landlock_create_ruleset(2)).
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    };
    if version < 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(version).map_err(io::Error::other)
}

/// `PR_SET_NO_NEW_PRIVS`: execve can never grant privileges again.
pub fn set_no_new_privs() -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map(drop)
}

/// Whether `PR_SET_NO_NEW_PRIVS` is set.
pub fn no_new_privs() -> io::Result<bool> {
    prctl(libc::PR_GET_NO_NEW_PRIVS, 0).map(|set| set == 1)
}

/// `PR_SET_PDEATHSIG`: `signal` when the parent (thread) exits.
pub fn set_parent_death_signal(signal: libc::c_int) -> io::Result<()> {
    prctl(
        libc::PR_SET_PDEATHSIG,
        libc::c_ulong::try_from(signal).unwrap_or(0),
    )
    .map(drop)
}

/// Removes `capability` from the bounding set.
pub fn drop_bounding_capability(capability: u32) -> io::Result<()> {
    prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(capability)).map(drop)
}

/// Whether `capability` is in the bounding set.
pub fn in_bounding_set(capability: u32) -> io::Result<bool> {
    prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(capability)).map(|set| set == 1)
}

/// Empties the ambient capability set.
pub fn clear_ambient_capabilities() -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    })
    .map(drop)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Empties the effective, permitted and inheritable capability sets.
pub fn clear_capabilities() -> io::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: header and data are live, correctly laid out (repr(C), version 3
    // takes two data elements) and only read by the kernel.
    let result = unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) };
    check(i32::try_from(result).unwrap_or(-1)).map(drop)
}

/// The effective, permitted and inheritable sets, as 64-bit masks.
pub fn capabilities() -> io::Result<(u64, u64, u64)> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header is valid; data has room for the two elements version 3
    // writes.
    let result = unsafe { libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) };
    check(i32::try_from(result).unwrap_or(-1))?;
    let join = |low: u32, high: u32| u64::from(low) | (u64::from(high) << 32);
    Ok((
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
        join(data[0].inheritable, data[1].inheritable),
    ))
}

/// Closes every descriptor from `first` on.
pub fn close_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range takes integers; closing descriptors the process
    // owns is its own business (no Rust object holds them past this point in
    // the shell's init, which calls this just before exec).
    let result = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    check(i32::try_from(result).unwrap_or(-1)).map(drop)
}

/// Sets both limits of `resource`.
pub fn setrlimit(resource: libc::__rlimit_resource_t, value: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: limit is a valid rlimit the kernel only reads.
    check(unsafe { libc::setrlimit(resource, &limit) }).map(drop)
}

/// Starts a new session (and process group) led by the caller.
pub fn setsid() -> io::Result<()> {
    // SAFETY: no arguments.
    check(unsafe { libc::setsid() }).map(drop)
}

/// Brings the loopback interface of the current network namespace up.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: socket takes integers; the descriptor is closed below.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    let result = (|| {
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        // SAFETY: request is a valid ifreq naming "lo"; the kernel fills its flags.
        check(unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &raw mut request) })?;
        // SAFETY: the flags member of the union was just written by the kernel.
        unsafe {
            request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        }
        // SAFETY: as above; the kernel reads the name and flags.
        check(unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &raw const request) }).map(drop)
    })();
    // SAFETY: fd was opened above and is closed once.
    unsafe { libc::close(fd) };
    result
}

/// Replaces the process image; returns only on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    // SAFETY: path and every array element are NUL-terminated strings that
    // outlive the call; both arrays end with a null pointer.
    unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
    io::Error::last_os_error()
}

/// How a waited-for child ended (or that it did not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    Exited(pid_t, i32),
    Signaled(pid_t, i32),
    /// `WNOHANG` and nothing has ended.
    Nothing,
}

/// `waitpid(pid, WNOHANG?)`, retried on EINTR.
pub fn wait(pid: pid_t, block: bool) -> io::Result<Waited> {
    let mut status = 0;
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: status is a valid int the kernel writes.
        let result = unsafe { libc::waitpid(pid, &raw mut status, flags) };
        match result {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            -1 => return Err(io::Error::last_os_error()),
            0 => return Ok(Waited::Nothing),
            pid if libc::WIFEXITED(status) => {
                return Ok(Waited::Exited(pid, libc::WEXITSTATUS(status)));
            }
            pid if libc::WIFSIGNALED(status) => {
                return Ok(Waited::Signaled(pid, libc::WTERMSIG(status)));
            }
            _ => {}
        }
    }
}

/// `kill(2)`.
pub fn kill(pid: pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// Makes `new` a copy of `old` (clearing close-on-exec on `new`).
pub fn dup2(old: BorrowedFd<'_>, new: RawFd) -> io::Result<()> {
    // SAFETY: old is a live descriptor; replacing `new` is what the caller asks.
    check(unsafe { libc::dup2(old.as_raw_fd(), new) }).map(drop)
}

/// Sets or clears close-on-exec.
pub fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    // SAFETY: fcntl with F_GETFD/F_SETFD on a live descriptor.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) })?;
    let flags = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags) }).map(drop)
}

/// Ends the process at once, without running destructors or atexit handlers
/// (the forked halves of the init process must not flush the other's buffers).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no memory of the process.
    unsafe { libc::_exit(code) }
}

/// A signal mask, for blocking and waiting on signals.
#[derive(Clone, Copy)]
pub struct SignalSet(libc::sigset_t);

impl std::fmt::Debug for SignalSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignalSet")
    }
}

impl SignalSet {
    pub fn of(signals: &[libc::c_int]) -> io::Result<Self> {
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
        // SAFETY: set points to a sigset_t that sigemptyset initialises.
        check(unsafe { libc::sigemptyset(set.as_mut_ptr()) })?;
        for signal in signals {
            // SAFETY: set was initialised by sigemptyset.
            check(unsafe { libc::sigaddset(set.as_mut_ptr(), *signal) })?;
        }
        // SAFETY: initialised above.
        Ok(Self(unsafe { set.assume_init() }))
    }

    /// Blocks these signals; returns the mask before.
    pub fn block(&self) -> io::Result<SignalSet> {
        let mut old = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
        // SAFETY: both pointers are valid sigset_t storage.
        check(unsafe { libc::sigprocmask(libc::SIG_BLOCK, &self.0, old.as_mut_ptr()) })?;
        // SAFETY: written by the successful call.
        Ok(SignalSet(unsafe { old.assume_init() }))
    }

    /// Makes this the whole mask.
    pub fn set_mask(&self) -> io::Result<()> {
        // SAFETY: a valid set; the old mask is not asked for.
        check(unsafe { libc::sigprocmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) })
            .map(drop)
    }

    /// Waits for one of these (blocked) signals.
    pub fn wait(&self) -> io::Result<libc::c_int> {
        let mut signal = 0;
        loop {
            // SAFETY: a valid set and a valid int to write.
            match unsafe { libc::sigwait(&self.0, &raw mut signal) } {
                0 => return Ok(signal),
                libc::EINTR => {}
                error => return Err(io::Error::from_raw_os_error(error)),
            }
        }
    }
}

/// Puts every signal's disposition back to the default (a forked child
/// inherits handlers set by its parent, and ignored signals survive exec).
pub fn reset_signal_dispositions() {
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is always a valid disposition; invalid signal
        // numbers just return EINVAL, which is ignored.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
}

/// Passes descriptors to a command at fixed numbers: `(source, target)`.
/// Sources stay open in the parent; in the child each is duplicated onto its
/// target (without close-on-exec) before exec.
pub fn pass_fds(command: &mut std::process::Command, fds: Vec<(RawFd, RawFd)>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and calls only
    // dup2 and fcntl, which are async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            for (source, target) in &fds {
                if source == target {
                    let flags = check(libc::fcntl(*source, libc::F_GETFD))?;
                    check(libc::fcntl(
                        *source,
                        libc::F_SETFD,
                        flags & !libc::FD_CLOEXEC,
                    ))?;
                } else {
                    check(libc::dup2(*source, *target))?;
                }
            }
            Ok(())
        });
    }
}

/// The highest capability number this kernel knows.
pub fn last_capability() -> io::Result<u32> {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")?
        .trim()
        .parse()
        .map_err(io::Error::other)
}

/// `getuid`/`getgid`.
pub fn ids() -> (u32, u32) {
    // SAFETY: no arguments; cannot fail.
    unsafe { (libc::getuid(), libc::getgid()) }
}

/// A close-on-exec duplicate of `fd` numbered `min` or higher.
pub fn dup_above(fd: BorrowedFd<'_>, min: RawFd) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_DUPFD_CLOEXEC on a live descriptor returns a new descriptor
    // (or -1), which nothing else owns.
    let new = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: `new` was just created by fcntl and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(new) })
}

/// Writes all of `bytes` to the descriptor numbered `fd`, which the process
/// inherited at that number (the init program's report pipes).
pub fn write_inherited(fd: RawFd, bytes: &[u8]) -> io::Result<()> {
    let mut written = 0;
    while written < bytes.len() {
        let rest = &bytes[written..];
        // SAFETY: the pointer and length describe `rest`, valid for the call.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        match n {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            -1 => return Err(io::Error::last_os_error()),
            n => written += usize::try_from(n).unwrap_or(0),
        }
    }
    Ok(())
}

/// Reads into `buffer` from the inherited descriptor `fd`; 0 at end of file.
pub fn read_inherited(fd: RawFd, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: the pointer and length describe `buffer`, writable for the call.
        let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
        match n {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            -1 => return Err(io::Error::last_os_error()),
            n => return Ok(usize::try_from(n).unwrap_or(0)),
        }
    }
}

/// Closes the inherited descriptor `fd` (no Rust object owns it).
pub fn close_inherited(fd: RawFd) -> io::Result<()> {
    // SAFETY: the caller names a descriptor it inherited and no object owns.
    check(unsafe { libc::close(fd) }).map(drop)
}

/// Sets or clears close-on-exec on an inherited descriptor.
pub fn set_cloexec_inherited(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: the descriptor is live for the duration of the call (the
    // caller inherited it); borrowing it does not take ownership.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    set_cloexec(borrowed, on)
}

/// Makes the inherited descriptor `from` also descriptor `to`.
pub fn dup2_inherited(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: integer arguments; replacing `to` is the caller's intent.
    check(unsafe { libc::dup2(from, to) }).map(drop)
}

/// Whether [`take_inherited_stream`] has handed out its descriptor.
static STREAM_TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Whether [`take_inherited_listener`] has handed out its descriptor.
static LISTENER_TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Takes ownership of the connected unix stream socket this process
/// inherited at `fd` (a pooled shell's reaper, its handover socket). Fails
/// unless `fd` is open and is exactly that kind of socket, and on any call
/// after the first that succeeded.
pub fn take_inherited_stream(fd: RawFd) -> io::Result<std::os::unix::net::UnixStream> {
    take_inherited_socket(fd, false, &STREAM_TAKEN).map(std::os::unix::net::UnixStream::from)
}

/// Takes ownership of the listening unix stream socket this process
/// inherited at `fd` (a shell's workload gets it at 3, with `LISTEN_FDS=1`).
/// Fails unless `fd` is open and is exactly that kind of socket, and on any
/// call after the first that succeeded: one descriptor has one owner.
pub fn take_inherited_listener(fd: RawFd) -> io::Result<std::os::unix::net::UnixListener> {
    take_inherited_socket(fd, true, &LISTENER_TAKEN).map(std::os::unix::net::UnixListener::from)
}

/// The unix stream socket inherited at `fd`, listening or connected as
/// `listening` says, given an owner once (`taken` says whether it was),
/// close-on-exec: what this process starts does not get it.
fn take_inherited_socket(
    fd: RawFd,
    listening: bool,
    taken: &std::sync::atomic::AtomicBool,
) -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    use std::sync::atomic::Ordering;
    let what = if listening { "listening" } else { "connected" };
    if socket_kind(fd)?
        != (
            libc::AF_UNIX,
            libc::SOCK_STREAM,
            libc::c_int::from(listening),
        )
    {
        return Err(io::Error::other(format!(
            "descriptor {fd} is not a {what} unix stream socket"
        )));
    }
    if taken.swap(true, Ordering::SeqCst) {
        return Err(io::Error::other(format!(
            "the inherited {what} socket was already taken"
        )));
    }
    // SAFETY: `fd` is open (getsockopt succeeded on it) and was inherited,
    // not opened by any Rust object of this process; the flag above makes
    // this the only call that gives it an owner.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    set_cloexec(std::os::fd::AsFd::as_fd(&socket), true)?;
    Ok(socket)
}

/// The domain, type and whether it listens of the socket at `fd`.
fn socket_kind(fd: RawFd) -> io::Result<(libc::c_int, libc::c_int, libc::c_int)> {
    let option = |level, name| -> io::Result<libc::c_int> {
        let mut value: libc::c_int = 0;
        let mut length = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
            .map_err(io::Error::other)?;
        // SAFETY: `value` and `length` are valid for writes of their sizes for
        // the call; getsockopt on a descriptor that is not a socket (or not
        // open) fails with ENOTSOCK or EBADF and writes nothing.
        check(unsafe {
            libc::getsockopt(fd, level, name, (&raw mut value).cast(), &raw mut length)
        })?;
        Ok(value)
    };
    Ok((
        option(libc::SOL_SOCKET, libc::SO_DOMAIN)?,
        option(libc::SOL_SOCKET, libc::SO_TYPE)?,
        option(libc::SOL_SOCKET, libc::SO_ACCEPTCONN)?,
    ))
}
