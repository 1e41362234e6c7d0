//! Step 8: the built-in agent, started in its shell under the supervisor,
//! with its sockets, its broker and its workspace volume.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use hardshell_config::LoadedConfig;
use hardshell_edge::{ControlService, ControlSocket, Edge};
use hardshell_protocol::socket;
use hardshell_sandbox::Launcher;
use hardshell_shells::policy;
use hardshell_storage::ObjectKey;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Egress, ModuleService, RunningModules, ShellHost, Storage};
use crate::supervise::{Reached, Source, Workload, supervise};

/// From SIGTERM to killing the agent's shell: it has nothing to drain that
/// is not in storage already.
const AGENT_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The agent's shell, running under the supervisor until `stop` says so.
pub struct AgentShell {
    stop: watch::Sender<bool>,
    supervisor: JoinHandle<()>,
    modules: Option<Arc<ModuleService>>,
}

impl AgentShell {
    /// Stops the agent and waits for its supervisor to end, then the
    /// modules' shells.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.supervisor.await;
        if let Some(modules) = self.modules {
            modules.stop().await;
        }
    }
}

/// When the agent runs (the egress step built its model gateway): gives it
/// its settings and control socket, serves its broker, mounts its
/// workspace volume and starts it in its shell. Its settings offer the
/// `exec` tool only when the config says exec runs.
pub fn start_agent_shell(
    loaded: &LoadedConfig,
    storage: &Storage,
    host: &ShellHost,
    egress: Egress,
    edge: &Edge,
    browser: Option<AgentBrowser>,
    modules: Option<RunningModules>,
) -> anyhow::Result<Option<AgentShell>> {
    let Some(gateway) = egress.gateway else {
        return Ok(None);
    };
    let sockets = &host.sockets;
    let mut settings =
        hardshell_egress::agent_settings(loaded, &gateway, &socket::shell_proxy_url())?;
    if browser.is_some() {
        settings.browser = Some(hardshell_egress::browser_settings(&loaded.config.browser));
    }
    let (calls, modules): (Option<Arc<dyn hardshell_edge::ModuleCalls>>, _) = match modules {
        Some(modules) => {
            settings.modules = modules.tools;
            (Some(modules.service.clone()), Some(modules.service))
        }
        None => (None, None),
    };
    let scope = storage.store.root().scope(&ObjectKey::parse("agent")?)?;
    let service = ControlService::for_agent(scope, settings, edge, calls);
    // Made afresh: a directory of an earlier version was the shell's to
    // write in, and may hold what its agent planted.
    fresh_dir(&sockets.socket_dir, 0o711)?;
    fresh_dir(&sockets.run_dir.join("edge"), 0o700)?;
    let agent_listener = bind_agent_socket(&sockets.agent)?;
    let control = ControlSocket::bind(&sockets.control, service)?;
    tokio::spawn(control.serve());
    // The agent's one way out: its broker, with the model providers'
    // routes, beside the control socket.
    hardshell_egress::serve_model_broker(
        &sockets.broker,
        &gateway,
        &loaded.config.dangerous.egress_internal,
        egress.scanner.clone(),
        storage.audit.clone(),
    )?;
    // The edge's sockets belong to the shell's id, so the agent can
    // connect; the directory stays the edge's. (lchown all the same: a
    // symlink here would be given away, not followed.)
    // The browser, with `[browser] enabled`: a socket beside the others
    // where the agent's tool opens one per conversation.
    let mut given = vec![sockets.control.clone(), sockets.broker.clone()];
    if let Some(browser) = browser {
        let path = sockets.socket_dir.join(socket::BROWSER_SOCKET);
        let listener = hardshell_broker::socket::bind(&path)
            .with_context(|| format!("binding the agent's browser socket {}", path.display()))?;
        let untrusted = browser.untrusted;
        let on_browse: hardshell_browser::OnBrowse = Arc::new(move |session: &str| {
            if let Some(untrusted) = &untrusted {
                untrusted.mark(session);
            }
        });
        tokio::spawn(hardshell_browser::serve_agent_socket(
            listener,
            browser.service,
            on_browse,
        ));
        given.push(path);
    }
    let (uid, gid) = hardshell_sandbox::host_ids();
    for path in &given {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .context("giving the edge's sockets to the agent's shell")?;
    }
    let workspace = loaded.base_dir().join(&loaded.config.agent.workspace);
    std::fs::create_dir_all(&workspace)
        .with_context(|| format!("creating the agent's workspace {}", workspace.display()))?;
    if let Some(volumes) = &host.volumes {
        hardshell_sandbox::volume::unmount_stale(&workspace)
            .context("detaching the agent's workspace volume left by a killed edge")?;
        volumes
            .mount("agent", &workspace)
            .context("mounting the agent's workspace volume")?;
    }
    // Absolute and without symlinks: the shell binds exactly these.
    let workspace = workspace.canonicalize()?;
    let socket_dir = sockets.socket_dir.canonicalize()?;
    let workload = agent_workload(
        host.launcher.clone(),
        loaded,
        workspace,
        &socket_dir,
        agent_listener,
    )?;
    let (stop, stopped) = watch::channel(false);
    let supervisor = tokio::spawn(supervise(workload, stopped));
    Ok(Some(AgentShell {
        stop,
        supervisor,
        modules,
    }))
}

/// The browser, for the agent: the CDP service its tool reaches on
/// `browser.sock`, and the sessions its browsing marks as having read
/// untrusted content (the exec service's, when the agent has `exec`).
pub struct AgentBrowser {
    pub service: Arc<hardshell_browser::CdpService>,
    pub untrusted: Option<Arc<hardshell_exec::UntrustedSessions>>,
}

/// `path` as a new, empty directory of the edge's with `mode`. Whatever was
/// there is removed, never followed (`remove_dir_all` does not follow
/// symlinks), and the mode is set through the new directory's descriptor,
/// opened without following a symlink.
pub(super) fn fresh_dir(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let removed = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    removed.with_context(|| format!("removing the old {}", path.display()))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::DirBuilder::new()
        .mode(mode)
        .create(path)
        .with_context(|| format!("creating {}", path.display()))?;
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    // The umask may have narrowed the mode asked for.
    dir.set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    Ok(())
}

/// The agent's listening socket, at `path` in the edge's own directory,
/// mode 0600: the edge connects to it, the agent is given the descriptor.
fn bind_agent_socket(path: &Path) -> anyhow::Result<Arc<std::os::unix::net::UnixListener>> {
    let listener = hardshell_broker::socket::bind(path)
        .and_then(tokio::net::UnixListener::into_std)
        .with_context(|| format!("binding the agent's socket {}", path.display()))?;
    Ok(Arc::new(listener))
}

/// The agent, as a shell runs it (its policy: [`policy::agent`]), its
/// listening socket passed in.
fn agent_workload(
    launcher: Launcher,
    loaded: &LoadedConfig,
    workspace: PathBuf,
    socket_dir: &Path,
    listener: Arc<std::os::unix::net::UnixListener>,
) -> anyhow::Result<Workload> {
    // The agent is this binary (`hardshell agent`), bound read-only into its
    // shell; the shell's init is the launcher's own program.
    let program = std::env::current_exe().context("finding the hardshell binary")?;
    let policy = policy::agent(policy::AgentShell {
        program: &program,
        socket_dir,
        workspace,
        instructions: &hardshell_agent::WORKSPACE_FILES,
        shell: &loaded.config.shell,
        log_filter: std::env::var("RUST_LOG").ok(),
    });
    let argv = [
        policy::AGENT_PROGRAM,
        "agent",
        "--control-socket",
        &socket::shell_edge_socket().display().to_string(),
        "--workspace",
        "/workspace",
    ]
    .map(str::to_owned)
    .to_vec();
    Ok(Workload {
        source: Source::Agent,
        launcher,
        policy,
        argv,
        socket: Reached::Serving(listener),
        stop_grace: AGENT_STOP_GRACE,
        monitor: None,
    })
}
