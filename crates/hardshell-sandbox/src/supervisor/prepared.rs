//! Shells prepared ahead of their run: everything a start waits for the
//! kernel for (the init process, the namespaces, the cgroups and the move
//! into them, the root, `/proc`, loopback) is done before the command is
//! known; the run hands over the command, the workspace, the binds and the
//! standard streams, and the shell goes on from there exactly as a cold one
//! does (the same forwarders, the same workload layers: ids, capabilities,
//! Landlock, seccomp). Each prepared shell runs one command and ends with it.
//!
//! The workspace and the binds come as detached mount trees
//! (`open_tree(OPEN_TREE_CLONE)`, made here, in the supervisor's mount
//! namespace), passed to the shell's reaper over a unix socket with
//! `SCM_RIGHTS` and attached there (`move_mount`): the session's volume may
//! have been mounted on the host after the shell's mount namespace was made,
//! and nothing of the host is reachable from inside by then.

use std::io::{IoSlice, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use hardshell_sandbox_sys as sys;
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
use tracing::Instrument;

use super::{
    Handed, Launched, Mode, failure, give_writable, host_ids, removed, start, started_within,
    supervisor,
};
use crate::cgroup::Cgroup;
use crate::init::{HANDED_STDIO, Handover, MAX_POOLED_BINDS};
use crate::plan::{InitPlan, Passed, TreeKind, check_policy};
use crate::{Io, Launcher, Layer, Root, Running, ShellError, ShellPolicy, Stdio};

/// The cgroups of the shells this process prepared that wait for their run,
/// by name: what [`crate::running_shells`] marks `ready`.
static WAITING: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn waiting_list() -> std::sync::MutexGuard<'static, Vec<String>> {
    // A list of names, each pushed or removed whole.
    WAITING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the cgroup `name` is a prepared shell's that waits for its run.
pub(crate) fn waiting(name: &str) -> bool {
    waiting_list().iter().any(|waiting| waiting == name)
}

/// `name` no longer waits (run, discarded or dropped).
fn not_waiting(name: &str) {
    waiting_list().retain(|waiting| waiting != name);
}

/// A shell started ahead of its command; see the module's documentation.
/// Dropped without [`Prepared::run`], it is killed and its cgroups removed
/// (in the background, when a runtime is there to do it).
#[derive(Debug)]
pub struct Prepared {
    inner: Option<Inner>,
}

#[derive(Debug)]
struct Inner {
    launched: Launched,
    /// Where the run is handed to the shell's reaper.
    handover: UnixStream,
    cgroup: Arc<Cgroup>,
    /// The policy the shell was prepared under; a run's must fit it.
    template: ShellPolicy,
    span: tracing::Span,
}

impl std::fmt::Debug for Launched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launched").field("pid", &self.pid).finish()
    }
}

/// Starts a shell for runs whose policy fits `template` (see
/// [`Prepared::fits`]); returns once it waits for one. Its root must be the
/// host's system, and it has no inbound port.
pub async fn prepare(launcher: &Launcher, template: &ShellPolicy) -> Result<Prepared, ShellError> {
    check_policy(template)?;
    if !matches!(template.root, Root::Host(_)) || template.inbound.is_some() {
        return Err(ShellError::new(
            Layer::Policy,
            "only a shell over the host's system, with no inbound port, can be prepared ahead",
        ));
    }
    let span = tracing::info_span!("shell", name = %template.name, pooled = true);
    let inner = prepare_in_span(launcher, template, span.clone())
        .instrument(span)
        .await?;
    Ok(Prepared { inner: Some(inner) })
}

async fn prepare_in_span(
    launcher: &Launcher,
    template: &ShellPolicy,
    span: tracing::Span,
) -> Result<Inner, ShellError> {
    let (host_uid, host_gid) = host_ids();
    let cgroup = Arc::new(Cgroup::create(&template.name, &template.limits)?);
    let (handover, theirs) = UnixStream::pair().map_err(supervisor("socket pair"))?;
    let plan = InitPlan {
        policy: template.clone(),
        argv: Vec::new(),
        host_gid,
        passed: Passed::Nothing,
        inbound: false,
        pooled: true,
    };
    let mode = Mode::Pooled(theirs.as_fd());
    let ids = (host_uid, host_gid);
    let started = start(
        launcher,
        &plan,
        Io::null(),
        Handed::default(),
        mode,
        &cgroup,
        ids,
    )
    .await;
    drop(theirs);
    match started {
        Ok(launched) => {
            tracing::debug!(pid = launched.pid, "shell prepared");
            waiting_list().push(cgroup.name());
            Ok(Inner {
                launched,
                handover,
                cgroup,
                template: template.clone(),
                span,
            })
        }
        Err(e) => {
            removed(cgroup).await;
            Err(e)
        }
    }
}

impl Prepared {
    /// Whether a run under `policy` can use this shell: the same name, root,
    /// `/tmp` size and CPU share, and no inbound port (what was set up
    /// ahead). The workspace, protected paths, binds, forwarders,
    /// environment, working directory and the other limits are the run's.
    pub fn fits(&self, policy: &ShellPolicy) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|inner| fits(&inner.template, policy))
    }

    /// The host pid of the shell's init process.
    pub fn pid(&self) -> u32 {
        self.inner.as_ref().map_or(0, |inner| inner.launched.pid)
    }

    /// Runs `argv` under `policy` in this shell, as [`crate::spawn`] would in a
    /// new one: returns once the workload's exec succeeded, or with the layer
    /// that failed. A policy that does not [fit](Prepared::fits) is refused,
    /// and the shell discarded.
    pub async fn run(
        mut self,
        policy: &ShellPolicy,
        argv: &[String],
        io: Io,
    ) -> Result<Running, ShellError> {
        let Some(inner) = self.inner.take() else {
            return Err(ShellError::new(Layer::Supervisor, "the shell was used"));
        };
        let span = inner.span.clone();
        inner.run(policy, argv, io).instrument(span).await
    }

    /// Ends the shell unused, and returns once nothing of it is left.
    pub async fn discard(mut self) {
        if let Some(inner) = self.inner.take() {
            inner.discard().await;
        }
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(inner.discard());
        }
        // Without a runtime, the init process is killed as its handle
        // drops, the reaper with it (its parent-death signal), and the
        // cgroups are left to `remove_stale_cgroups`.
    }
}

fn fits(template: &ShellPolicy, policy: &ShellPolicy) -> bool {
    policy.name == template.name
        && policy.root == template.root
        && policy.inbound.is_none()
        && policy.limits.tmp_bytes == template.limits.tmp_bytes
        && policy.limits.cpu_percent == template.limits.cpu_percent
}

impl Inner {
    async fn discard(mut self) {
        not_waiting(&self.cgroup.name());
        let _ = self.launched.child.start_kill();
        let _ = self.launched.child.wait().await;
        removed(self.cgroup).await;
    }

    async fn run(
        self,
        policy: &ShellPolicy,
        argv: &[String],
        io: Io,
    ) -> Result<Running, ShellError> {
        match self.hand_over(policy, argv, io).await {
            Ok(running) => Ok(running),
            Err((inner, e)) => {
                inner.discard().await;
                Err(e)
            }
        }
    }

    async fn hand_over(
        mut self,
        policy: &ShellPolicy,
        argv: &[String],
        io: Io,
    ) -> Result<Running, (Self, ShellError)> {
        not_waiting(&self.cgroup.name());
        let checked = check_policy(policy).and_then(|()| {
            if !fits(&self.template, policy) {
                return Err(ShellError::new(
                    Layer::Policy,
                    "the run's policy does not fit the shell prepared for it",
                ));
            }
            if policy.binds.len() > MAX_POOLED_BINDS {
                return Err(ShellError::new(
                    Layer::Policy,
                    format!("more than {MAX_POOLED_BINDS} binds in a pooled shell"),
                ));
            }
            give_writable(policy)?;
            self.cgroup.relimit(&self.template.limits, &policy.limits)
        });
        if let Err(e) = checked {
            return Err((self, e));
        }
        let message = match message(policy, argv, io) {
            Ok(message) => message,
            Err(e) => return Err((self, e)),
        };
        let Some(mut exec) = self.launched.exec.take() else {
            return Err((
                self,
                ShellError::new(Layer::Supervisor, "the shell has no exec pipe"),
            ));
        };
        let handover = match self.handover.try_clone() {
            Ok(handover) => handover,
            Err(e) => return Err((self, supervisor("socket")(e))),
        };
        let step = tokio::task::spawn_blocking(move || {
            // A failed send means the shell is gone; why is on the exec pipe.
            let sent = message.send(&handover);
            drop(handover);
            if let Some(failure) = failure(&mut exec) {
                return Err(failure);
            }
            sent.map_err(supervisor("handing the run over"))
        });
        match started_within(step).await {
            Ok(()) => {
                let Inner {
                    launched, cgroup, ..
                } = self;
                tracing::debug!(pid = launched.pid, "shell started");
                Ok(launched.running(&cgroup, policy.limits.wall_clock))
            }
            Err(e) => Err((self, e)),
        }
    }
}

/// A run, ready to hand over: the plan, and the descriptors it carries.
struct Message {
    plan: Vec<u8>,
    /// Standard input, output and error, then the mount trees.
    fds: Vec<OwnedFd>,
}

fn message(policy: &ShellPolicy, argv: &[String], io: Io) -> Result<Message, ShellError> {
    let null = |write: bool| -> Result<OwnedFd, ShellError> {
        std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .open("/dev/null")
            .map(OwnedFd::from)
            .map_err(supervisor("/dev/null"))
    };
    let stream = |stdio: Stdio, write: bool| match stdio {
        Stdio::Fd(fd) => Ok(fd),
        Stdio::Null => null(write),
    };
    let mut fds = vec![
        stream(io.stdin, false)?,
        stream(io.stdout, true)?,
        stream(io.stderr, true)?,
    ];
    let mut trees = Vec::new();
    for host in std::iter::once(&policy.workspace).chain(policy.binds.iter().map(|b| &b.host)) {
        let fail =
            |e: std::io::Error| ShellError::new(Layer::Mounts, format!("{}: {e}", host.display()));
        let tree = sys::clone_tree(&host.to_string_lossy()).map_err(fail)?;
        let file = std::fs::File::from(tree);
        let kind = if file.metadata().map_err(fail)?.is_dir() {
            TreeKind::Dir
        } else {
            TreeKind::File
        };
        trees.push(kind);
        fds.push(OwnedFd::from(file));
    }
    debug_assert_eq!(fds.len(), HANDED_STDIO + trees.len());
    let plan = serde_json::to_vec(&Handover {
        plan: InitPlan {
            policy: policy.clone(),
            argv: argv.to_vec(),
            host_gid: host_ids().1,
            passed: Passed::Nothing,
            inbound: false,
            pooled: true,
        },
        trees,
    })
    .map_err(|e| ShellError::new(Layer::Supervisor, e))?;
    Ok(Message { plan, fds })
}

impl Message {
    /// The length with the descriptors, then the plan.
    fn send(self, mut to: &UnixStream) -> std::io::Result<()> {
        let length = u32::try_from(self.plan.len())
            .map_err(std::io::Error::other)?
            .to_le_bytes();
        let fds: Vec<BorrowedFd<'_>> = self.fds.iter().map(AsFd::as_fd).collect();
        let mut space = [MaybeUninit::<u8>::uninit();
            rustix::cmsg_space!(ScmRights(MAX_POOLED_BINDS + 1 + HANDED_STDIO))];
        let mut ancillary = SendAncillaryBuffer::new(&mut space);
        if !ancillary.push(SendAncillaryMessage::ScmRights(&fds)) {
            return Err(std::io::Error::other("too many descriptors"));
        }
        let mut sent = sendmsg(
            to,
            &[IoSlice::new(&length)],
            &mut ancillary,
            SendFlags::NOSIGNAL,
        )?;
        // The descriptors went with the first byte; the rest is plain.
        while sent < length.len() {
            sent += to.write(&length[sent..])?;
        }
        to.write_all(&self.plan)
    }
}
