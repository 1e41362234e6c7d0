//! The shell's layers, in the order they are applied: three functions, one per
//! process of the init program, that read top to bottom.
//!
//! - [`enter`] (init, still in the host's pid namespace): leave the host's
//!   groups, enter new namespaces, wait for the user map, build the new root
//!   under a scratch tmpfs.
//! - [`pivot`] (the reaper, pid 1 of the new pid namespace): mount its
//!   `/proc`, pivot into the new root and drop the old one, make the root
//!   read-only, bring loopback up.
//! - [`contain`] (the workload): descriptors, limits, ids, capabilities,
//!   `no_new_privs`, Landlock, seccomp — last — and exec.
//!
//! Every privileged call goes through [`Syscall`], so the order is unit-tested
//! with a recording fake; the real calls are tested for real.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{INSIDE_ID, Layer, Root, ShellError, ShellPolicy};

/// What the init program is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitPlan {
    pub policy: ShellPolicy,
    pub argv: Vec<String>,
    /// The gid the shell has on the host (mapped to [`INSIDE_ID`]).
    pub host_gid: u32,
    /// What the workload inherits beyond its standard streams.
    #[serde(default)]
    pub passed: Passed,
    /// The reaper has the inbound forwarder's unix listener (see
    /// [`crate::Inbound`]); the workload never does.
    #[serde(default)]
    pub inbound: bool,
    /// A shell prepared ahead ([`crate::prepare`]): the workspace and the
    /// binds are not opened by init but handed to the reaper with the run
    /// ([`attach`]), and the root is made read-only only then.
    #[serde(default)]
    pub pooled: bool,
}

/// What a mount tree handed to a pooled shell's reaper is: a mount point
/// of the same kind is made for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeKind {
    Dir,
    File,
}

/// Descriptors the workload inherits beyond its standard streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Passed {
    /// Nothing: every other descriptor is closed.
    #[default]
    Nothing,
    /// A listening socket, at [`crate::LISTEN_FD`], with `LISTEN_FDS=1`: the
    /// workload serves a socket that no path in its shell names, so nothing
    /// in the shell can replace it or redirect who connects to it.
    Listener,
}

/// Where the new root is assembled: a tmpfs over the host's `/tmp`, in the
/// new mount namespace only. Nothing of the host is looked up by path once it
/// is there: every source was opened beforehand.
const NEW_ROOT: &str = "/tmp";

/// What is at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Missing,
    Dir,
    File,
    Symlink(PathBuf),
}

/// A host path opened (`O_PATH`) for binding: the descriptor's number, or
/// why there is nothing to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Missing,
    Symlink(PathBuf),
    Dir(i32),
    File(i32),
}

/// The privileged calls of the plan.
#[allow(clippy::too_many_arguments)]
pub trait Syscall {
    fn clear_groups(&mut self) -> io::Result<()>;
    fn set_gid(&mut self, gid: u32) -> io::Result<()>;
    fn set_uid(&mut self, uid: u32) -> io::Result<()>;
    fn unshare(&mut self, flags: i32) -> io::Result<()>;
    /// Tells the supervisor the namespaces exist, and waits for it to write
    /// the user namespace's maps.
    fn await_user_map(&mut self) -> io::Result<()>;
    fn set_hostname(&mut self, name: &str) -> io::Result<()>;
    fn mount(
        &mut self,
        source: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: u64,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// Attaches the detached mount tree `tree` (a descriptor from
    /// `open_tree(OPEN_TREE_CLONE)`, made outside) at `target`.
    fn attach(&mut self, tree: i32, target: &str) -> io::Result<()>;
    /// Sets `MOUNT_ATTR_*` on the mount at `path` and every mount beneath
    /// it, clearing nothing (so what the host set, and a user namespace may
    /// not clear, stays).
    fn restrict_tree(&mut self, path: &str, set: u64) -> io::Result<()>;
    /// Opens a host path to bind later (`follow`: through a final symlink).
    fn open(&mut self, path: &str, follow: bool) -> io::Result<Opened>;
    fn kind(&mut self, path: &str) -> io::Result<Kind>;
    fn make_dir(&mut self, path: &str) -> io::Result<()>;
    fn make_file(&mut self, path: &str) -> io::Result<()>;
    fn symlink(&mut self, points_to: &str, at: &str) -> io::Result<()>;
    fn pivot_root(&mut self, new_root: &str, put_old: &str) -> io::Result<()>;
    fn detach(&mut self, target: &str) -> io::Result<()>;
    fn chdir(&mut self, path: &str) -> io::Result<()>;
    fn loopback_up(&mut self) -> io::Result<()>;
    /// Standard input from the descriptor passed for it, and what else is
    /// `passed` at its number; every other descriptor but 0-2 and the
    /// exec-status pipe closed.
    fn descriptors(&mut self, passed: Passed) -> io::Result<()>;
    fn new_session(&mut self) -> io::Result<()>;
    fn rlimit(&mut self, resource: Rlimit, value: u64) -> io::Result<()>;
    fn parent_death_signal(&mut self) -> io::Result<()>;
    fn drop_bounding_set(&mut self) -> io::Result<()>;
    fn clear_capabilities(&mut self) -> io::Result<()>;
    /// Reads back every set and fails unless all are empty.
    fn verify_no_capabilities(&mut self) -> io::Result<()>;
    fn no_new_privs(&mut self) -> io::Result<()>;
    fn landlock(&mut self, rules: &crate::landlock::FsRules) -> io::Result<()>;
    fn seccomp(&mut self) -> io::Result<()>;
    /// Returns only on failure.
    fn exec(&mut self, program: &str, argv: &[String], env: &[(String, String)]) -> io::Error;
}

/// Resource limits set per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rlimit {
    Core,
    OpenFiles,
    FileSize,
}

fn at(layer: Layer) -> impl Fn(io::Error) -> ShellError {
    move |e| ShellError::new(layer, e)
}

fn fail(layer: Layer, what: &str) -> impl Fn(io::Error) -> ShellError {
    let what = what.to_owned();
    move |e| ShellError::new(layer, format!("{what}: {e}"))
}

/// What goes into the new root, opened before the namespaces are entered.
struct Sources {
    /// `(path inside, source)`; symlinks are recreated, descriptors bound.
    system: Vec<(String, Opened)>,
    /// The image's root directory, for [`Root::Image`].
    image: Option<Opened>,
    /// `None` in a pooled shell: the workspace and the binds come later.
    workspace: Option<Opened>,
    protected: Vec<(String, Opened)>,
    binds: Vec<(String, Opened, bool)>,
    devices: Vec<(String, Opened)>,
}

/// Opens every host path the shell will be given (a pooled shell's
/// workspace and binds later, see [`attach`]).
fn open_sources(
    sys: &mut impl Syscall,
    policy: &ShellPolicy,
    pooled: bool,
) -> Result<Sources, ShellError> {
    let mut open = |path: &Path, follow: bool| {
        sys.open(&text(path), follow)
            .map_err(|e| ShellError::new(Layer::Mounts, format!("{}: {e}", path.display())))
    };
    let mut system = Vec::new();
    let mut image = None;
    match &policy.root {
        Root::Host(dirs) => {
            for path in dirs {
                system.push((text(path), open(path, false)?));
            }
        }
        // Not followed: the root is the directory itself, not what a link
        // there names.
        Root::Image(dir) => image = Some(open(dir, false)?),
    }
    let mut workspace = None;
    let mut protected = Vec::new();
    let mut binds = Vec::new();
    if !pooled {
        workspace = Some(open(&policy.workspace, true)?);
    }
    for path in policy.protected.iter().filter(|_| !pooled) {
        // Not followed: a symlink here was made by whatever ran in this
        // workspace before, and following it would bind a file of its choosing.
        let opened = open(&policy.workspace.join(path), false)?;
        protected.push((text(&Path::new("/workspace").join(path)), opened));
    }
    for bind in policy.binds.iter().filter(|_| !pooled) {
        binds.push((text(&bind.inside), open(&bind.host, true)?, bind.writable));
    }
    let mut devices = Vec::new();
    for device in ["null", "zero", "full", "random", "urandom"] {
        let path = PathBuf::from("/dev").join(device);
        devices.push((text(&path), open(&path, true)?));
    }
    Ok(Sources {
        system,
        image,
        workspace,
        protected,
        binds,
        devices,
    })
}

/// The init process, before it forks the reaper.
pub fn enter(sys: &mut impl Syscall, plan: &InitPlan) -> Result<(), ShellError> {
    use hardshell_sandbox_sys as sys_;
    let policy = &plan.policy;
    check_policy(policy)?;

    // 1. Namespaces. The host's supplementary groups (root's among them) must
    //    not follow into the shell, and only a process outside may write the
    //    maps, so groups go first and the supervisor writes the maps. Once
    //    the sources are open this process becomes the shell's id (it keeps
    //    its capabilities in the new user namespace, which it created, and
    //    files it creates need an owner mapped there).
    sys.clear_groups()
        .map_err(fail(Layer::Namespaces, "clearing groups"))?;
    sys.set_gid(plan.host_gid)
        .map_err(fail(Layer::Namespaces, "setting the host gid"))?;
    // At the host's root, so the reaper's pivot moves this process's working
    // directory into the new root with its own. Left in the edge's directory,
    // it would hold the old root's copy for the shell's whole life, and every
    // mount under it with it: mounts copied into a new user namespace are
    // locked to their parents, and detaching the old root leaves them joined
    // to it. A volume another edge had mounted at this moment stayed attached
    // until this shell ended, where that edge's next start refused it.
    sys.chdir("/")
        .map_err(fail(Layer::Namespaces, "leaving the edge's directory"))?;
    let flags = sys_::CLONE_NEWUSER
        | sys_::CLONE_NEWNS
        | sys_::CLONE_NEWPID
        | sys_::CLONE_NEWIPC
        | sys_::CLONE_NEWUTS
        | sys_::CLONE_NEWNET;
    sys.unshare(flags).map_err(at(Layer::Namespaces))?;
    sys.await_user_map().map_err(at(Layer::UserMap))?;
    // Opened in the new mount namespace (a bind source must be in it), and
    // while this process is still the host's root by uid, which can walk the
    // host's private directories as their owner.
    let sources = open_sources(sys, policy, plan.pooled)?;
    sys.set_uid(INSIDE_ID)
        .map_err(fail(Layer::UserMap, "becoming the shell's id"))?;
    sys.set_hostname("hardshell")
        .map_err(fail(Layer::Namespaces, "hostname"))?;

    // 2. The mount tree, assembled on a fresh tmpfs from the opened sources.
    let mounts = Layer::Mounts;
    sys.mount(None, "/", None, sys_::MS_REC | sys_::MS_PRIVATE, None)
        .map_err(fail(mounts, "making / private"))?;
    sys.mount(
        Some("tmpfs"),
        NEW_ROOT,
        Some("tmpfs"),
        sys_::MS_NOSUID | sys_::MS_NODEV,
        Some("size=1m,mode=0755"),
    )
    .map_err(fail(mounts, "root tmpfs"))?;
    if let (Root::Image(dir), Some(image)) = (&policy.root, &sources.image) {
        image_root(sys, dir, image, &sources)?;
    }
    for (inside, opened) in &sources.system {
        match opened {
            Opened::Missing => {}
            Opened::Symlink(to) => sys
                .symlink(&text(to), &format!("{NEW_ROOT}{inside}"))
                .map_err(fail(mounts, inside))?,
            opened => bind(sys, opened, inside, false)?,
        }
    }
    if let Some(workspace) = &sources.workspace {
        bind(sys, workspace, "/workspace", true)?;
    }
    for (inside, opened) in &sources.protected {
        if matches!(opened, Opened::Dir(_) | Opened::File(_)) {
            bind(sys, opened, inside, false)?;
        }
    }
    for (inside, opened, writable) in &sources.binds {
        bind(sys, opened, inside, *writable)?;
    }
    let tmp = format!("size={},mode=1777", policy.limits.tmp_bytes.max(4096));
    for (path, data) in [("/tmp", tmp.as_str()), ("/dev", "size=64k,mode=0755")] {
        let target = format!("{NEW_ROOT}{path}");
        sys.make_dir(&target).map_err(fail(mounts, path))?;
        sys.mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            sys_::MS_NOSUID | sys_::MS_NODEV,
            Some(data),
        )
        .map_err(fail(mounts, path))?;
    }
    for (inside, opened) in &sources.devices {
        bind_as(sys, opened, inside, Access::Device)?;
    }
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        sys.symlink(to, &format!("{NEW_ROOT}/dev/{link}"))
            .map_err(fail(mounts, "/dev"))?;
    }
    let shm = format!("{NEW_ROOT}/dev/shm");
    sys.make_dir(&shm).map_err(fail(mounts, "/dev/shm"))?;
    sys.mount(
        Some("tmpfs"),
        &shm,
        Some("tmpfs"),
        sys_::MS_NOSUID | sys_::MS_NODEV | sys_::MS_NOEXEC,
        Some(&tmp),
    )
    .map_err(fail(mounts, "/dev/shm"))?;
    sys.mount(
        None,
        &format!("{NEW_ROOT}/dev"),
        None,
        sys_::MS_REMOUNT | sys_::MS_NOSUID | sys_::MS_NODEV | sys_::MS_RDONLY,
        Some("size=64k,mode=0755"),
    )
    .map_err(fail(mounts, "/dev read-only"))?;
    sys.make_dir(&format!("{NEW_ROOT}/proc"))
        .map_err(fail(mounts, "/proc"))?;
    Ok(())
}

/// The reaper, pid 1 of the new pid namespace, before it forks the workload
/// (a pooled shell's: before it waits for its run, see [`attach`]).
pub fn pivot(sys: &mut impl Syscall, plan: &InitPlan) -> Result<(), ShellError> {
    use hardshell_sandbox_sys as sys_;
    let mounts = Layer::Mounts;
    sys.parent_death_signal()
        .map_err(fail(Layer::Descriptors, "parent-death signal"))?;
    // Mounted here, by a process of the new pid namespace, so it shows that
    // namespace's processes only.
    sys.mount(
        Some("proc"),
        &format!("{NEW_ROOT}/proc"),
        Some("proc"),
        sys_::MS_NOSUID | sys_::MS_NODEV | sys_::MS_NOEXEC,
        None,
    )
    .map_err(fail(mounts, "/proc"))?;
    sys.chdir(NEW_ROOT).map_err(fail(mounts, "chdir"))?;
    // The old root (scratch and host) is stacked under the new one and
    // detached: nothing of the host is reachable from here on.
    sys.pivot_root(".", ".")
        .map_err(fail(mounts, "pivot into the new root"))?;
    sys.detach(".")
        .map_err(fail(mounts, "detaching the host"))?;
    sys.chdir("/").map_err(fail(mounts, "chdir"))?;
    // A pooled shell's workspace and binds need their mount points first.
    if !plan.pooled {
        read_only_root(sys, &plan.policy)?;
    }
    sys.loopback_up().map_err(at(Layer::Network))?;
    Ok(())
}

/// The shell's `/`, read-only from here on.
fn read_only_root(sys: &mut impl Syscall, policy: &ShellPolicy) -> Result<(), ShellError> {
    use hardshell_sandbox_sys as sys_;
    match policy.root {
        Root::Host(_) => sys.mount(
            None,
            "/",
            None,
            sys_::MS_REMOUNT | sys_::MS_NOSUID | sys_::MS_NODEV | sys_::MS_RDONLY,
            Some("size=1m,mode=0755"),
        ),
        // An overlay without an upper layer is read-only already; this makes
        // the mount say so too (a bind remount: overlayfs takes no tmpfs
        // options).
        Root::Image(_) => sys.mount(
            None,
            "/",
            None,
            sys_::MS_REMOUNT | sys_::MS_BIND | sys_::MS_NOSUID | sys_::MS_NODEV | sys_::MS_RDONLY,
            None,
        ),
    }
    .map_err(fail(Layer::Mounts, "read-only root"))
}

/// A pooled shell's reaper, once its run is handed over: the workspace at
/// `/workspace` and each of the policy's binds at its place, from the mount
/// trees the supervisor cloned (`trees`: the workspace's, then one per bind,
/// in order), each restricted as a cold shell's bind is; the protected paths
/// over themselves, read-only; then the root read-only, as [`pivot`] leaves
/// a cold shell's.
///
/// The trees come from the host's mount namespace, not copied into this
/// one, so the kernel does not lock them to it: this process could unmount
/// them again. Nothing after it can: the workload has no capability, and
/// seccomp refuses every mount call.
pub fn attach(
    sys: &mut impl Syscall,
    policy: &ShellPolicy,
    trees: &[(i32, TreeKind)],
) -> Result<(), ShellError> {
    if trees.len() != policy.binds.len() + 1 {
        return Err(ShellError::new(
            Layer::Supervisor,
            format!(
                "{} mount trees handed over for a workspace and {} binds",
                trees.len(),
                policy.binds.len()
            ),
        ));
    }
    let places = std::iter::once(("/workspace".to_owned(), Access::Writable)).chain(
        policy.binds.iter().map(|bind| {
            let access = if bind.writable {
                Access::Writable
            } else {
                Access::ReadOnly
            };
            (text(&bind.inside), access)
        }),
    );
    for ((inside, access), (tree, kind)) in places.zip(trees) {
        let fail = |what: &str| {
            let what = format!("{what} {inside}");
            move |e: io::Error| ShellError::new(Layer::Mounts, format!("{what}: {e}"))
        };
        match kind {
            TreeKind::Dir => sys.make_dir(&inside),
            TreeKind::File => sys.make_file(&inside),
        }
        .map_err(fail("mount point"))?;
        sys.attach(*tree, &inside).map_err(fail("attaching"))?;
        sys.restrict_tree(&inside, access.attributes())
            .map_err(fail("restricting"))?;
        if inside == "/workspace" {
            protect(sys, policy)?;
        }
    }
    read_only_root(sys, policy)
}

/// A pooled shell's protected paths, bound read-only over themselves in
/// the workspace just attached; as in a cold shell, a final symlink is not
/// followed and a missing path is left alone.
fn protect(sys: &mut impl Syscall, policy: &ShellPolicy) -> Result<(), ShellError> {
    for path in &policy.protected {
        let inside = text(&Path::new("/workspace").join(path));
        let opened = sys
            .open(&inside, false)
            .map_err(|e| ShellError::new(Layer::Mounts, format!("{inside}: {e}")))?;
        if matches!(opened, Opened::Dir(_) | Opened::File(_)) {
            bind_at(sys, &opened, &inside, &inside, Access::ReadOnly)?;
        }
    }
    Ok(())
}

/// The workload: everything between fork and exec. Returns only on failure.
pub fn contain(sys: &mut impl Syscall, plan: &InitPlan) -> ShellError {
    match contain_inner(sys, plan) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn contain_inner(
    sys: &mut impl Syscall,
    plan: &InitPlan,
) -> Result<std::convert::Infallible, ShellError> {
    let policy = &plan.policy;
    let limits = &policy.limits;
    // 3. Descriptors, session, limits.
    sys.descriptors(plan.passed)
        .map_err(at(Layer::Descriptors))?;
    sys.new_session()
        .map_err(fail(Layer::Descriptors, "setsid"))?;
    for (resource, value) in [
        (Rlimit::Core, 0),
        (Rlimit::OpenFiles, limits.open_files),
        (Rlimit::FileSize, limits.file_size_bytes),
    ] {
        sys.rlimit(resource, value)
            .map_err(fail(Layer::Limits, &format!("{resource:?}")))?;
    }
    sys.chdir(&text(&policy.cwd))
        .map_err(fail(Layer::Mounts, "working directory"))?;
    // 6. Capabilities: the bounding set needs CAP_SETPCAP, so it goes before
    //    the ids change; then every set is emptied and read back.
    let caps = Layer::Capabilities;
    sys.drop_bounding_set()
        .map_err(fail(caps, "bounding set"))?;
    sys.set_gid(INSIDE_ID).map_err(fail(caps, "gid"))?;
    sys.set_uid(INSIDE_ID).map_err(fail(caps, "uid"))?;
    // After the ids change: changing them clears the parent-death signal.
    sys.parent_death_signal()
        .map_err(fail(Layer::Descriptors, "parent-death signal"))?;
    sys.clear_capabilities()
        .map_err(fail(caps, "capability sets"))?;
    sys.verify_no_capabilities().map_err(at(caps))?;
    sys.no_new_privs().map_err(fail(caps, "no_new_privs"))?;
    // 7. Landlock, then 8. seccomp, last before exec.
    sys.landlock(&fs_rules(policy))
        .map_err(at(Layer::Landlock))?;
    let program = find_program(sys, policy, &plan.argv)?;
    sys.seccomp().map_err(at(Layer::Seccomp))?;
    let env = environment(policy, plan.passed);
    Err(ShellError::new(
        Layer::Exec,
        format!("{program}: {}", sys.exec(&program, &plan.argv, &env)),
    ))
}

/// The policy's environment, and `LISTEN_FDS=1` where a listener is passed
/// (the policy's own `LISTEN_FDS`, if any, never stands: it would name a
/// descriptor that is not there, or hide one that is).
fn environment(policy: &ShellPolicy, passed: Passed) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = policy
        .env
        .iter()
        .filter(|(name, _)| name != "LISTEN_FDS")
        .cloned()
        .collect();
    if passed == Passed::Listener {
        env.push(("LISTEN_FDS".to_owned(), "1".to_owned()));
    }
    env
}

/// The program to exec: `argv[0]` if it names a path, else the first match on
/// the policy's `PATH`.
fn find_program(
    sys: &mut impl Syscall,
    policy: &ShellPolicy,
    argv: &[String],
) -> Result<String, ShellError> {
    let first = argv
        .first()
        .ok_or_else(|| ShellError::new(Layer::Exec, "no program given"))?;
    if first.contains('/') {
        return Ok(first.clone());
    }
    let path = policy
        .env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map_or("/usr/bin:/bin", |(_, value)| value.as_str());
    for dir in path.split(':').filter(|dir| dir.starts_with('/')) {
        let candidate = format!("{}/{first}", dir.trim_end_matches('/'));
        if matches!(sys.kind(&candidate), Ok(Kind::File | Kind::Symlink(_))) {
            return Ok(candidate);
        }
    }
    Err(ShellError::new(
        Layer::Exec,
        format!("{first}: not found on PATH"),
    ))
}

/// Landlock's view of the same tree: read everywhere in it, execute from the
/// system (an image's root: all of it, read-only as it is) and the
/// workspace, write only where the shell may write; bind only the shell's
/// own inbound port, connect only to it and to its forwarder's.
pub(crate) fn fs_rules(policy: &ShellPolicy) -> crate::landlock::FsRules {
    let read_exec = match &policy.root {
        Root::Host(dirs) => dirs.clone(),
        Root::Image(_) => vec![PathBuf::from("/")],
    };
    let mut rules = crate::landlock::FsRules {
        read_only: vec![PathBuf::from("/")],
        read_exec,
        read_write: vec![
            PathBuf::from("/workspace"),
            PathBuf::from("/tmp"),
            PathBuf::from("/dev/shm"),
        ],
        devices: ["null", "zero", "full", "random", "urandom"]
            .iter()
            .map(|device| PathBuf::from("/dev").join(device))
            .collect(),
        // Its own port too: a workload's tools reach its server there
        // (OpenClaw's CLI its gateway), inside the shell's own network.
        connect_ports: policy
            .forward
            .iter()
            .map(|f| f.port)
            .chain(policy.inbound.iter().map(|i| i.port))
            .collect(),
        bind_ports: policy.inbound.iter().map(|i| i.port).collect(),
    };
    for extra in &policy.binds {
        if extra.writable {
            rules.read_write.push(extra.inside.clone());
        } else {
            rules.read_exec.push(extra.inside.clone());
        }
    }
    rules
}

/// How a bound path may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadOnly,
    Writable,
    /// A device node (`/dev/null`…): writable, and not `nodev`.
    Device,
}

fn bind(
    sys: &mut impl Syscall,
    opened: &Opened,
    inside: &str,
    writable: bool,
) -> Result<(), ShellError> {
    let access = if writable {
        Access::Writable
    } else {
        Access::ReadOnly
    };
    bind_as(sys, opened, inside, access)
}

/// Binds an opened source at `inside` (a path in the shell), creating the
/// mount point, then restricts it to what the shell's copy may be.
///
/// The bind is recursive, and so is the restriction. A source with mounts
/// inside it (Docker binds `/etc/hosts` and `/etc/resolv.conf` into `/etc`)
/// cannot be bound without them in a user namespace: the kernel refuses
/// (EINVAL) to uncover what they hide. So they come along, and each of them
/// is made read-only, `nosuid` and `nodev` with the rest.
fn bind_as(
    sys: &mut impl Syscall,
    opened: &Opened,
    inside: &str,
    access: Access,
) -> Result<(), ShellError> {
    bind_at(sys, opened, &format!("{NEW_ROOT}{inside}"), inside, access)
}

/// [`bind_as`] at `target`, a path as this process sees it (`inside` names
/// it in errors).
fn bind_at(
    sys: &mut impl Syscall,
    opened: &Opened,
    target: &str,
    inside: &str,
    access: Access,
) -> Result<(), ShellError> {
    use hardshell_sandbox_sys as sys_;
    let fail = |what: &str| {
        let what = format!("{what} {inside}");
        move |e: io::Error| ShellError::new(Layer::Mounts, format!("{what}: {e}"))
    };
    let fd = match opened {
        Opened::Dir(fd) => {
            sys.make_dir(target).map_err(fail("mount point"))?;
            fd
        }
        Opened::File(fd) => {
            sys.make_file(target).map_err(fail("mount point"))?;
            fd
        }
        Opened::Missing | Opened::Symlink(_) => {
            return Err(ShellError::new(
                Layer::Mounts,
                format!("{inside}: its source is missing or a symlink"),
            ));
        }
    };
    let source = format!("/proc/self/fd/{fd}");
    sys.mount(
        Some(&source),
        target,
        None,
        sys_::MS_BIND | sys_::MS_REC,
        None,
    )
    .map_err(fail("binding"))?;
    sys.restrict_tree(target, access.attributes())
        .map_err(fail("restricting"))?;
    Ok(())
}

impl Access {
    /// The `MOUNT_ATTR_*` a bind of this access gets.
    fn attributes(self) -> u64 {
        use hardshell_sandbox_sys as sys_;
        match self {
            Access::ReadOnly => {
                sys_::MOUNT_ATTR_NOSUID | sys_::MOUNT_ATTR_NODEV | sys_::MOUNT_ATTR_RDONLY
            }
            Access::Writable => sys_::MOUNT_ATTR_NOSUID | sys_::MOUNT_ATTR_NODEV,
            Access::Device => sys_::MOUNT_ATTR_NOSUID,
        }
    }
}

fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

mod check;
mod image;
pub(crate) use check::check_policy;
use image::image_root;

#[cfg(test)]
mod tests;
