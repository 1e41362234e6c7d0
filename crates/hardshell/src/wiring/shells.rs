//! Step 4: what every shell of this host needs before one starts.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use hardshell_config::LoadedConfig;
use hardshell_protocol::socket::{AGENT_SOCKET, BROKER_SOCKET, EDGE_SOCKET};
use hardshell_sandbox::Launcher;
use hardshell_sandbox::volume::{VolumeSize, Volumes};
use hardshell_shells::SessionWorkspaces;

/// Where the agent's sockets live under `<data>/run`.
///
/// The agent's shell gets `socket_dir`, read-only, and nothing else of
/// data/: the edge's control socket and the agent's broker live there.
/// The agent's own socket does not: the edge makes it, in a directory of
/// its own, and passes the agent the listening descriptor, so nothing in
/// the shell can put something else where the edge connects.
pub struct Sockets {
    pub run_dir: PathBuf,
    pub socket_dir: PathBuf,
    pub control: PathBuf,
    pub broker: PathBuf,
    pub agent: PathBuf,
}

/// What the shells of this host are started with.
pub struct ShellHost {
    pub sockets: Sockets,
    /// The carried `shell-init` program, written out: every shell's init.
    pub launcher: Launcher,
    /// The workspace volumes, when the agent runs.
    pub volumes: Option<Arc<Volumes>>,
    /// The conversations' workspaces (volumes of `volumes`), shared by the
    /// exec tool's shells and the modules granted them.
    pub workspaces: Option<SessionWorkspaces>,
    /// The exec broker's directory, when `[egress]` has routes.
    pub egress_dir: Option<PathBuf>,
}

/// Writes the carried `shell-init` program into `dir` (made afresh: an init
/// a killed edge left running keeps the file it was started from) and
/// returns its absolute path. Only root can write or replace it: every shell starts
/// by running it.
fn write_shell_init(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt as _;
    super::agent_shell::fresh_dir(dir, 0o700)?;
    // Absolute and without symlinks: a shell's launcher must be.
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let program = dir.join("shell-init");
    let written = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o500)
        .open(&program)
        // Closed when this returns, before any shell execs it (a file open
        // for writing cannot be executed).
        .and_then(|mut file| crate::shell_init_image::write_to(&mut file));
    written.with_context(|| format!("writing the shells' init program {}", program.display()))?;
    Ok(program)
}

/// The edge's volumes: the workspaces (`[shell] workspace_mb` each) and the
/// workload's state (its own size), their images under `<data>/volumes`.
pub fn open_volumes(loaded: &LoadedConfig) -> anyhow::Result<Volumes> {
    let shell = &loaded.config.shell;
    let size = VolumeSize {
        bytes: shell.workspace_mb << 20,
        inodes: shell.workspace_inodes,
    };
    let images = loaded.data_dir().join("volumes");
    Volumes::open(&images, size).context("preparing the workspace volumes")
}

/// Names the sockets, finds the launcher, removes cgroups a killed edge
/// left, opens the workspace volumes (when the agent runs) and makes the
/// exec broker's directory (when `[egress]` has routes).
pub fn prepare_shells(loaded: &LoadedConfig, agent_runs: bool) -> anyhow::Result<ShellHost> {
    let run_dir = loaded.data_dir().join("run");
    let socket_dir = run_dir.join("agent");
    let sockets = Sockets {
        control: socket_dir.join(EDGE_SOCKET),
        broker: socket_dir.join(BROKER_SOCKET),
        agent: run_dir.join("edge").join(AGENT_SOCKET),
        socket_dir,
        run_dir,
    };
    let launcher = Launcher {
        program: write_shell_init(&sockets.run_dir.join("init"))?,
        args: Vec::new(),
    };
    if !hardshell_sandbox::cgroup_moves_are_fast() {
        tracing::info!(
            "no cgroup hierarchy is mounted with favordynmods: a shell's start now and then waits \
             a kernel RCU grace period (up to ~20 ms) moving into its cgroups; see README, The shell"
        );
    }
    let stale = hardshell_sandbox::remove_stale_cgroups();
    if stale > 0 {
        tracing::info!(
            count = stale,
            "removed cgroups left by shells of a killed edge"
        );
    }
    // Every workspace is a volume of its own (an ext4 image on a loop device),
    // so a shell that fills it stops there and data/ keeps its room.
    let volumes = if agent_runs {
        Some(Arc::new(open_volumes(loaded)?))
    } else {
        None
    };
    let workspaces = match &volumes {
        Some(volumes) => Some(
            SessionWorkspaces::open(loaded.data_dir().join("workspaces"), volumes.clone())
                .context("preparing the conversations' workspaces")?,
        ),
        None => None,
    };
    // With [egress] routes, exec shells get one way out: the broker's socket,
    // in a directory of its own.
    let egress_dir = if loaded.config.egress.routes.is_empty() {
        None
    } else {
        use std::os::unix::fs::DirBuilderExt;
        let dir = loaded.data_dir().join("run").join("exec");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        // Absolute and without symlinks: shells bind exactly this path.
        Some(dir.canonicalize()?)
    };
    Ok(ShellHost {
        sockets,
        launcher,
        volumes,
        workspaces,
        egress_dir,
    })
}
