//! The shell's init program: `hardshell shell-init` (or this crate's
//! `shell-init`). Single-threaded by construction — it must fork — and started
//! by the supervisor with these descriptors:
//!
//! | fd | what |
//! |---|---|
//! | 0 | the control pipe: the plan (a 4-byte little-endian length, then JSON), then one `g` once the user map is written |
//! | 1, 2 | the workload's standard output and error |
//! | 3 | the report pipe: JSON lines to the supervisor (`unshared`, `pid1`, `exit`) |
//! | 4 | the exec pipe: a [`ShellError`] if a layer fails; closed by the successful exec |
//! | 5 | the workload's standard input |
//! | 6 | a listening socket for the workload, when the plan passes one ([`plan::Passed`]) |
//! | 7 | the inbound forwarder's unix listener, when the plan has one ([`InitPlan::inbound`]): the reaper's, never the workload's |
//! | 8 | a pooled shell's handover socket ([`InitPlan::pooled`]): the reaper's, until its run arrives ([`Handover`]) |
//!
//! The init process stays in the host's pid namespace and forwards SIGTERM;
//! the reaper is pid 1 of the shell; the workload is the reaper's only child.

use std::ffi::CString;
use std::io;

use hardshell_sandbox_sys as sys;
use serde::{Deserialize, Serialize};

use crate::plan::{self, InitPlan, Kind, Opened, Passed, Rlimit, Syscall};
use crate::{Layer, ShellError, Status, forward};

pub(crate) const REPORT_FD: i32 = 3;
pub(crate) const EXEC_FD: i32 = 4;
pub(crate) const STDIN_FD: i32 = 5;
pub(crate) const LISTENER_FD: i32 = 6;
pub(crate) const INBOUND_FD: i32 = 7;
pub(crate) const HANDOVER_FD: i32 = 8;
const CONTROL_FD: i32 = 0;

/// The most binds a pooled shell's run may have: each is a descriptor in
/// the one message that hands the run over.
pub(crate) const MAX_POOLED_BINDS: usize = 64;
/// Descriptors in a handover beyond the trees: stdin, stdout, stderr.
pub(crate) const HANDED_STDIO: usize = 3;

/// Largest plan accepted.
const MAX_PLAN: usize = 1 << 20;

/// A line on the report pipe.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Report {
    /// The namespaces exist: the supervisor may write the maps.
    Unshared,
    /// The reaper's host pid.
    Pid1(i32),
    /// A pooled shell's reaper is in the new root and waits for its run.
    Ready,
    /// How the workload ended.
    Exit(Status),
}

/// A pooled shell's run, as its reaper receives it on [`HANDOVER_FD`]: a
/// 4-byte little-endian length, then this as JSON. The first part carries
/// the descriptors: the workload's stdin, stdout and stderr, then one mount
/// tree per entry of `trees` (the workspace's, then the binds', in order).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Handover {
    pub(crate) plan: InitPlan,
    pub(crate) trees: Vec<plan::TreeKind>,
}

/// Runs the init program; never returns.
pub fn main() -> ! {
    // No parent-death signal here: it fires when the supervisor's *thread*
    // that spawned this process exits, not the supervisor. The reaper watches
    // the control pipe instead (see `reaper`): it reads end of file when the
    // supervisor is gone, however it went.
    match run() {
        Ok(()) => sys::exit_now(0),
        Err(e) => {
            fail(&e);
            sys::exit_now(125)
        }
    }
}

/// Reports a layer's failure on the exec pipe.
fn fail(error: &ShellError) {
    if let Ok(mut line) = serde_json::to_vec(error) {
        line.push(b'\n');
        let _ = sys::write_inherited(EXEC_FD, &line);
    }
}

fn report(line: &Report) {
    if let Ok(mut bytes) = serde_json::to_vec(line) {
        bytes.push(b'\n');
        let _ = sys::write_inherited(REPORT_FD, &bytes);
    }
}

fn run() -> Result<(), ShellError> {
    let plan = read_plan()
        .map_err(|e| ShellError::new(Layer::Supervisor, format!("reading the plan: {e}")))?;
    plan::enter(&mut Real::default(), &plan)?;
    // Every process of the shell is forked from here on: only once init is in
    // the shell's cgroups (the supervisor moved it meanwhile), and then in a
    // cgroup namespace rooted there.
    let mut placed = [0u8; 1];
    if read_exact(CONTROL_FD, &mut placed).is_err() || placed != *b"c" {
        return Err(ShellError::new(
            Layer::Limits,
            "the supervisor did not place the shell in its cgroups",
        ));
    }
    sys::unshare(libc::CLONE_NEWCGROUP)
        .map_err(|e| ShellError::new(Layer::Namespaces, format!("cgroup namespace: {e}")))?;
    // Blocked before the fork, so no signal is lost between it and the wait;
    // the workload gets the original mask back.
    let signals = [sys::SIGCHLD, sys::SIGTERM, sys::SIGINT, sys::SIGHUP];
    let watched = sys::SignalSet::of(&signals).map_err(supervisor)?;
    let original = watched.block().map_err(supervisor)?;
    match sys::fork().map_err(|e| ShellError::new(Layer::Namespaces, format!("fork: {e}")))? {
        sys::Forked::Child => reaper(&plan, watched, original),
        sys::Forked::Parent(pid1) => {
            report(&Report::Pid1(pid1));
            // The exec pipe and the listener now belong to the reaper and
            // the workload.
            let _ = sys::close_inherited(EXEC_FD);
            if plan.passed == Passed::Listener {
                let _ = sys::close_inherited(LISTENER_FD);
            }
            if plan.inbound {
                let _ = sys::close_inherited(INBOUND_FD);
            }
            if plan.pooled {
                let _ = sys::close_inherited(HANDOVER_FD);
            }
            loop {
                match watched.wait().map_err(supervisor)? {
                    sys::SIGCHLD => {
                        if !matches!(sys::wait(pid1, false), Ok(sys::Waited::Nothing)) {
                            return Ok(());
                        }
                    }
                    signal => {
                        let _ = sys::kill(pid1, signal);
                    }
                }
            }
        }
    }
}

fn supervisor(e: io::Error) -> ShellError {
    ShellError::new(Layer::Supervisor, e)
}

/// Pid 1 of the shell: pivots into the root, starts the workload, forwards
/// signals to it, reaps every orphan, and reports how the workload ended.
fn reaper(prepared: &InitPlan, watched: sys::SignalSet, original: sys::SignalSet) -> ! {
    if let Err(e) = plan::pivot(&mut Real::default(), prepared) {
        fail(&e);
        sys::exit_now(125);
    }
    let handed;
    let plan = if prepared.pooled {
        report(&Report::Ready);
        handed = match take_run(prepared) {
            Ok(plan) => plan,
            Err(e) => {
                fail(&e);
                sys::exit_now(125);
            }
        };
        &handed
    } else {
        prepared
    };
    // The forwarders' ports are taken before the workload exists, so nothing
    // in the shell can take one first.
    let mut forwarders = Vec::with_capacity(plan.policy.forward.len());
    for forward in &plan.policy.forward {
        match std::net::TcpListener::bind(("127.0.0.1", forward.port)) {
            Ok(listener) => forwarders.push((listener, forward.to.clone())),
            Err(e) => {
                fail(&ShellError::new(
                    Layer::Network,
                    format!("the forwarder's port {}: {e}", forward.port),
                ));
                sys::exit_now(125);
            }
        }
    }
    // Taken (and made close-on-exec) before the fork; the workload closes
    // every inherited descriptor past its standard streams anyway.
    let inbound = match (plan.inbound, plan.policy.inbound) {
        (true, Some(inbound)) => match sys::take_inherited_listener(INBOUND_FD) {
            Ok(listener) => Some((listener, inbound.port)),
            Err(e) => {
                fail(&ShellError::new(
                    Layer::Network,
                    format!("the inbound forwarder's listener: {e}"),
                ));
                sys::exit_now(125);
            }
        },
        _ => None,
    };
    let workload = match sys::fork() {
        Ok(sys::Forked::Child) => {
            let _ = original.set_mask();
            sys::reset_signal_dispositions();
            let error = plan::contain(&mut Real::default(), plan);
            fail(&error);
            sys::exit_now(126);
        }
        Ok(sys::Forked::Parent(pid)) => pid,
        Err(e) => {
            fail(&ShellError::new(Layer::Namespaces, format!("fork: {e}")));
            sys::exit_now(125);
        }
    };
    let _ = sys::close_inherited(EXEC_FD);
    // The listener is the workload's alone. (Only when passed: otherwise
    // the number may be the forwarder's socket by now.)
    if plan.passed == Passed::Listener {
        let _ = sys::close_inherited(LISTENER_FD);
    }
    // The reaper needs no privilege from here on.
    let _ = Real::default().drop_bounding_set();
    let _ = Real::default().clear_capabilities();
    let _ = sys::set_no_new_privs();
    // After the fork (which needs one thread) and the drop (which the thread
    // inherits).
    for (listener, to) in forwarders {
        if forward::spawn_relay(move || forward::outbound(&listener, &to)).is_err() {
            // Only the workload runs in the shell yet, so its limits leave no
            // room at all: end it visibly (its exit is reported) rather than
            // run it without its way out.
            let _ = sys::kill(workload, sys::SIGKILL);
        }
    }
    if let Some((listener, port)) = inbound
        && forward::spawn_relay(move || forward::inbound(&listener, port)).is_err()
    {
        // The same: a workload nobody can reach is ended, not left running.
        let _ = sys::kill(workload, sys::SIGKILL);
    }
    // The shell lives as long as the supervisor: when its end of the control
    // pipe closes (it died, however it died), everything here is killed.
    // (A thread here, not in init: after unshare(CLONE_NEWPID) init cannot
    // create threads; the reaper, inside the new namespace, can.)
    std::thread::spawn(|| {
        let mut byte = [0u8; 1];
        while matches!(sys::read_inherited(CONTROL_FD, &mut byte), Ok(1..)) {}
        let _ = sys::kill(-1, sys::SIGKILL);
        sys::exit_now(125);
    });
    loop {
        let Ok(signal) = watched.wait() else {
            sys::exit_now(125);
        };
        if signal != sys::SIGCHLD {
            let _ = sys::kill(workload, signal);
            continue;
        }
        loop {
            match sys::wait(-1, false) {
                Ok(sys::Waited::Exited(pid, code)) if pid == workload => {
                    finish(Status::Exited(code));
                }
                Ok(sys::Waited::Signaled(pid, signal)) if pid == workload => {
                    finish(Status::Signaled(signal));
                }
                Ok(sys::Waited::Exited(..) | sys::Waited::Signaled(..)) => {}
                Ok(sys::Waited::Nothing) | Err(_) => break,
            }
        }
    }
}

/// The workload is gone: report it, and end everything it left behind.
fn finish(status: Status) -> ! {
    report(&Report::Exit(status));
    // From pid 1, -1 is every other process of the namespace.
    let _ = sys::kill(-1, sys::SIGKILL);
    sys::exit_now(0)
}

/// A pooled shell's run: waits for it on [`HANDOVER_FD`], gives the workload
/// the standard streams it carries, and attaches its mount trees. Ends the
/// shell quietly when the supervisor closes the socket instead (it discarded
/// the shell).
fn take_run(prepared: &InitPlan) -> Result<InitPlan, ShellError> {
    use std::io::{IoSliceMut, Read};
    use std::mem::MaybeUninit;
    use std::os::fd::{AsRawFd, OwnedFd};

    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};

    let handover = |e: io::Error| ShellError::new(Layer::Supervisor, format!("the run: {e}"));
    let mut stream = sys::take_inherited_stream(HANDOVER_FD).map_err(handover)?;
    let mut space = [MaybeUninit::<u8>::uninit();
        rustix::cmsg_space!(ScmRights(MAX_POOLED_BINDS + 1 + HANDED_STDIO))];
    let mut ancillary = RecvAncillaryBuffer::new(&mut space);
    let mut length = [0u8; 4];
    let received = recvmsg(
        &stream,
        &mut [IoSliceMut::new(&mut length)],
        &mut ancillary,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| handover(e.into()))?;
    if received.bytes == 0 {
        // Discarded before any run: nothing to report.
        sys::exit_now(0);
    }
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in ancillary.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = message {
            fds.extend(rights);
        }
    }
    if received.flags.contains(rustix::net::ReturnFlags::CTRUNC) {
        return Err(handover(io::Error::other("too many descriptors")));
    }
    stream
        .read_exact(&mut length[received.bytes..])
        .map_err(handover)?;
    let length = u32::from_le_bytes(length) as usize;
    if length > MAX_PLAN {
        return Err(handover(io::Error::other("the plan is too large")));
    }
    let mut bytes = vec![0u8; length];
    stream.read_exact(&mut bytes).map_err(handover)?;
    drop(stream);
    let run: Handover =
        serde_json::from_slice(&bytes).map_err(|e| handover(io::Error::other(e)))?;
    let plan = run.plan;
    if !plan.pooled
        || plan.passed != Passed::Nothing
        || plan.inbound
        || plan.policy.root != prepared.policy.root
        || plan.policy.limits.tmp_bytes != prepared.policy.limits.tmp_bytes
    {
        return Err(handover(io::Error::other(
            "a run that does not fit the shell prepared for it",
        )));
    }
    if fds.len() != HANDED_STDIO + run.trees.len() {
        return Err(handover(io::Error::other(format!(
            "{} descriptors for {} mount trees",
            fds.len(),
            run.trees.len()
        ))));
    }
    let trees = fds.split_off(HANDED_STDIO);
    for (fd, target) in fds.iter().zip([STDIN_FD, 1, 2]) {
        sys::dup2_inherited(fd.as_raw_fd(), target).map_err(handover)?;
    }
    let trees: Vec<(i32, plan::TreeKind)> = trees
        .iter()
        .map(AsRawFd::as_raw_fd)
        .zip(run.trees)
        .collect();
    plan::attach(&mut Real::default(), &plan.policy, &trees)?;
    Ok(plan)
}

fn read_plan() -> io::Result<InitPlan> {
    let mut length = [0u8; 4];
    read_exact(CONTROL_FD, &mut length)?;
    let length = u32::from_le_bytes(length) as usize;
    if length > MAX_PLAN {
        return Err(io::Error::other("the plan is too large"));
    }
    let mut bytes = vec![0u8; length];
    read_exact(CONTROL_FD, &mut bytes)?;
    serde_json::from_slice(&bytes).map_err(io::Error::other)
}

fn read_exact(fd: i32, buffer: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buffer.len() {
        match sys::read_inherited(fd, &mut buffer[filled..])? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => filled += n,
        }
    }
    Ok(())
}

/// The real system calls; holds the descriptors opened for binding.
#[derive(Default)]
struct Real {
    opened: Vec<std::os::fd::OwnedFd>,
}

impl Syscall for Real {
    fn clear_groups(&mut self) -> io::Result<()> {
        sys::clear_groups()
    }

    fn set_gid(&mut self, gid: u32) -> io::Result<()> {
        sys::setresgid(gid)
    }

    fn set_uid(&mut self, uid: u32) -> io::Result<()> {
        sys::setresuid(uid)
    }

    fn unshare(&mut self, flags: i32) -> io::Result<()> {
        sys::unshare(flags)
    }

    fn await_user_map(&mut self) -> io::Result<()> {
        report(&Report::Unshared);
        let mut go = [0u8; 1];
        read_exact(CONTROL_FD, &mut go)?;
        if go != *b"g" {
            return Err(io::Error::other(
                "the supervisor did not write the user map",
            ));
        }
        Ok(())
    }

    fn set_hostname(&mut self, name: &str) -> io::Result<()> {
        sys::sethostname(name)
    }

    fn mount(
        &mut self,
        source: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: u64,
        data: Option<&str>,
    ) -> io::Result<()> {
        sys::mount(source, target, fstype, flags, data)
    }

    fn attach(&mut self, tree: i32, target: &str) -> io::Result<()> {
        sys::attach_tree(tree, target)
    }

    fn restrict_tree(&mut self, path: &str, set: u64) -> io::Result<()> {
        sys::restrict_mount_tree(path, set)
    }

    fn open(&mut self, path: &str, follow: bool) -> io::Result<Opened> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let mut flags = libc::O_PATH | libc::O_CLOEXEC;
        if !follow {
            flags |= libc::O_NOFOLLOW;
        }
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Opened::Missing),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        if meta.file_type().is_symlink() {
            return Ok(Opened::Symlink(std::fs::read_link(path)?));
        }
        let fd = file.as_raw_fd();
        self.opened.push(file.into());
        Ok(if meta.is_dir() {
            Opened::Dir(fd)
        } else {
            Opened::File(fd)
        })
    }

    fn kind(&mut self, path: &str) -> io::Result<Kind> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                Ok(Kind::Symlink(std::fs::read_link(path)?))
            }
            Ok(meta) if meta.is_dir() => Ok(Kind::Dir),
            Ok(_) => Ok(Kind::File),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Kind::Missing),
            Err(e) => Err(e),
        }
    }

    fn make_dir(&mut self, path: &str) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn make_file(&mut self, path: &str) -> io::Result<()> {
        // A file already there (a protected file over itself) is its own
        // mount point; opening it for writing could fail, and is not needed.
        if std::fs::symlink_metadata(path).is_ok() {
            return Ok(());
        }
        if let Some(parent) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map(drop)
    }

    fn symlink(&mut self, points_to: &str, at: &str) -> io::Result<()> {
        if let Some(parent) = std::path::Path::new(at).parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::os::unix::fs::symlink(points_to, at)
    }

    fn pivot_root(&mut self, new_root: &str, put_old: &str) -> io::Result<()> {
        sys::pivot_root(new_root, put_old)
    }

    fn detach(&mut self, target: &str) -> io::Result<()> {
        sys::umount2(target, sys::MNT_DETACH)
    }

    fn chdir(&mut self, path: &str) -> io::Result<()> {
        std::env::set_current_dir(path)
    }

    fn loopback_up(&mut self) -> io::Result<()> {
        sys::loopback_up()
    }

    fn descriptors(&mut self, passed: Passed) -> io::Result<()> {
        sys::dup2_inherited(STDIN_FD, 0)?;
        match passed {
            // Over the report pipe, which the workload must not have; dup2
            // leaves the copy open across exec.
            Passed::Listener => sys::dup2_inherited(LISTENER_FD, crate::LISTEN_FD)?,
            Passed::Nothing => sys::close_inherited(REPORT_FD)?,
        }
        sys::close_from(5)?;
        sys::set_cloexec_inherited(EXEC_FD, true)
    }

    fn new_session(&mut self) -> io::Result<()> {
        sys::setsid()
    }

    fn rlimit(&mut self, resource: Rlimit, value: u64) -> io::Result<()> {
        let resource = match resource {
            Rlimit::Core => sys::RLIMIT_CORE,
            Rlimit::OpenFiles => sys::RLIMIT_NOFILE,
            Rlimit::FileSize => sys::RLIMIT_FSIZE,
        };
        sys::setrlimit(resource, value)
    }

    fn parent_death_signal(&mut self) -> io::Result<()> {
        sys::set_parent_death_signal(sys::SIGKILL)
    }

    fn drop_bounding_set(&mut self) -> io::Result<()> {
        for capability in 0..=sys::last_capability()? {
            sys::drop_bounding_capability(capability)?;
        }
        Ok(())
    }

    fn clear_capabilities(&mut self) -> io::Result<()> {
        sys::clear_ambient_capabilities()?;
        sys::clear_capabilities()
    }

    fn verify_no_capabilities(&mut self) -> io::Result<()> {
        let (effective, permitted, inheritable) = sys::capabilities()?;
        if (effective, permitted, inheritable) != (0, 0, 0) {
            return Err(io::Error::other(format!(
                "capabilities remain: effective {effective:#x}, permitted {permitted:#x}, inheritable {inheritable:#x}"
            )));
        }
        for capability in 0..=sys::last_capability()? {
            if sys::in_bounding_set(capability)? {
                return Err(io::Error::other(format!(
                    "capability {capability} remains in the bounding set"
                )));
            }
        }
        Ok(())
    }

    fn no_new_privs(&mut self) -> io::Result<()> {
        sys::set_no_new_privs()?;
        if sys::no_new_privs()? {
            Ok(())
        } else {
            Err(io::Error::other("no_new_privs did not stick"))
        }
    }

    fn landlock(&mut self, rules: &crate::landlock::FsRules) -> io::Result<()> {
        crate::landlock::enforce(rules)
    }

    fn seccomp(&mut self) -> io::Result<()> {
        crate::seccomp::apply()
    }

    fn exec(&mut self, program: &str, argv: &[String], env: &[(String, String)]) -> io::Error {
        let strings = || -> Result<(CString, Vec<CString>, Vec<CString>), io::Error> {
            let nul = |_| io::Error::other("an argument or variable holds a NUL byte");
            let program = CString::new(program).map_err(nul)?;
            let argv = argv
                .iter()
                .map(|a| CString::new(a.as_str()).map_err(nul))
                .collect::<Result<_, _>>()?;
            let env = env
                .iter()
                .map(|(name, value)| CString::new(format!("{name}={value}")).map_err(nul))
                .collect::<Result<_, _>>()?;
            Ok((program, argv, env))
        };
        match strings() {
            Ok((program, argv, env)) => sys::execve(&program, &argv, &env),
            Err(e) => e,
        }
    }
}
