//! `hardshell up`: load everything, bind the edge, serve until a signal.

use anyhow::Context as _;
use hardshell_audit::{AuditLog, AuditOptions};
use hardshell_auth::ClientSecret;
use hardshell_edge::{ControlService, ControlSocket, Edge, EdgeSetup, ListenAddr, Protection};
use hardshell_protocol::socket::{self, AGENT_SOCKET, BROKER_SOCKET, EDGE_SOCKET};
use hardshell_storage::ObjectKey;
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::Global;
use crate::supervise::{Workload, supervise};
use crate::{context, logging};
use hardshell_edge::LiveScanner;
use hardshell_egress::Credentials;
use hardshell_exec::ExecService;
use hardshell_sandbox::Launcher;
use hardshell_shells::{SandboxShell, policy};
use std::sync::Arc;

pub async fn run(global: &Global) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let log = logging::init(loaded.config.log.format, loaded.config.log.level);
    // Before any work: a signal that arrives while starting up (the edge already
    // listens while the setup link is issued and the agent starts) is kept and
    // ends the run cleanly once serving begins, instead of killing the process
    // (or being lost, where the parent ignores SIGINT).
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    for (key, consequence) in loaded.config.dangerous.enabled() {
        tracing::warn!(setting = key, "dangerous setting is on: {consequence}");
    }
    for (program, reason) in loaded.config.exec.listed_programs_that_run_programs() {
        tracing::warn!(
            program,
            "[exec] allow lists a program that can run others ({reason}): commands using it are asked about all the same"
        );
    }
    match raise_open_files_limit() {
        Ok((soft, hard)) => tracing::info!(soft, hard, "the edge's open-file limit"),
        Err(e) => tracing::warn!(error = %e, "reading or raising the open-file limit failed"),
    }

    let source = context::master_key_source(global, &loaded);
    let master = hardshell_storage::MasterKey::load(&source)?;
    tracing::info!(key_id = %master.id(), from = %source, "master key loaded");
    let secrets = context::open_secrets(&loaded, &master).await?;
    // Every credential the config names is read through this, up to the
    // leak scan, which takes it whole: none can be read after and escape it.
    let mut credentials = Credentials::new(&loaded, &secrets);
    let store = context::open_state(&loaded, &master, &mut credentials).await?;
    tracing::info!(
        storage = store.endpoint(),
        encrypted = store.is_encrypted(),
        "storage ready"
    );
    let signer = context::identity_signer(&loaded, &master).await?;
    let audit_scope = context::audit_scope(&loaded, &master, &mut credentials, &store).await?;
    let log_id = context::log_id("edge")?;
    // Shared by the edge, exec and the brokers, which all record in it.
    let audit = Arc::new(
        AuditLog::open(
            &audit_scope,
            &log_id,
            AuditOptions {
                flush_interval: std::time::Duration::from_millis(
                    loaded.config.audit.flush_interval_ms,
                ),
                ..AuditOptions::default()
            },
        )
        .await
        .with_context(|| format!("opening audit log {log_id}"))?,
    );
    tracing::info!(log = %log_id, "audit log open");

    let listen_on = loaded.config.edge.listen;
    let listen = match Protection::check(&loaded) {
        Some(proof) if !listen_on.ip().is_loopback() => ListenAddr::protected(listen_on, proof),
        _ => ListenAddr::loopback(listen_on)?,
    };
    let oidc_client_secret = match &loaded.config.access.oidc {
        Some(oidc) => Some(ClientSecret::new(
            credentials
                .resolve("access.oidc.client_secret", &oidc.client_secret)
                .await?,
        )),
        None => None,
    };
    // The built-in agent runs unless [upstream] names another workload.
    let agent_runs = loaded.config.agent_runs();
    // The agent's shell gets this directory, read-only, and nothing else of
    // data/: the edge's control socket and the agent's broker live here.
    // The agent's own socket does not: the edge makes it, in a directory of
    // its own, and passes the agent the listening descriptor, so nothing in
    // the shell can put something else where the edge connects.
    let run_dir = loaded.data_dir().join("run");
    let socket_dir = run_dir.join("agent");
    let (control_path, broker_path) =
        (socket_dir.join(EDGE_SOCKET), socket_dir.join(BROKER_SOCKET));
    let agent_path = run_dir.join("edge").join(AGENT_SOCKET);
    let launcher = Launcher {
        program: std::env::current_exe().context("finding the hardshell binary")?,
        args: vec!["shell-init".into()],
    };
    let shell = &loaded.config.shell;
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
        let size = hardshell_sandbox::volume::VolumeSize {
            bytes: shell.workspace_mb << 20,
            inodes: shell.workspace_inodes,
        };
        let images = loaded.data_dir().join("volumes");
        Some(Arc::new(
            hardshell_sandbox::volume::Volumes::open(&images, size)
                .context("preparing the workspace volumes")?,
        ))
    } else {
        None
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
    // The model providers, their keys resolved through the credentials.
    let gateway = if agent_runs {
        Some(hardshell_egress::gateway(&loaded, &mut credentials, &store).await?)
    } else {
        None
    };
    // Every secret's value, to keep out of what leaves a shell and out of
    // what a command shows the agent: the store's, the providers' keys by
    // their placeholder names, and every credential the config took from
    // the environment (S3, OIDC, keys again under their config keys).
    let scanner = credentials.scanner(hardshell_edge::SECRET_CHECK_EVERY);
    // Loaded now: a store that cannot be read stops the start.
    secrets.fingerprint().await?;
    scanner.current().await;
    // Commands of the agent's `exec` tool run in tool shells of their own.
    let exec_runs = loaded.config.exec_runs();
    let exec = match volumes.as_ref().filter(|_| exec_runs) {
        Some(volumes) => Some(
            exec_service(
                &loaded,
                &secrets,
                launcher.clone(),
                volumes.clone(),
                egress_dir.as_deref(),
                audit.clone(),
                scanner.clone(),
            )
            .await?,
        ),
        None => None,
    };
    let state = EdgeSetup {
        config: &loaded,
        store: &store,
        signer,
        audit: audit.clone(),
        oidc_client_secret,
        cloudflare_certs_url: None,
        agent_socket: agent_runs.then(|| agent_path.clone()),
        exec,
    }
    .build()
    .await?;
    let edge = Edge::bind(listen, state).await?;
    let scheme = if loaded.config.edge.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(
        addr = %edge.local_addr(),
        public_url = %loaded.public_url,
        "edge listening on {scheme}://{}",
        edge.local_addr()
    );

    if let Some(link) = edge.first_setup_link().await? {
        // Printed, not logged: logs may be shipped elsewhere; this link is a
        // one-time credential for whoever opens it first.
        eprintln!();
        eprintln!(
            "  No owner passkey is registered yet. Open this link within 15 minutes to create one:"
        );
        eprintln!();
        eprintln!("    {}", link.as_str());
        eprintln!();
    }

    let (stop_agent, agent_stopped) = tokio::sync::watch::channel(false);
    let supervisor = if let Some(gateway) = gateway {
        // Without tool shells (`exec_runs`) the agent is not offered the tool.
        let settings =
            hardshell_egress::agent_settings(&loaded, &gateway, &socket::shell_proxy_url())?;
        let scope = store.root().scope(&ObjectKey::parse("agent")?)?;
        let service = ControlService::for_agent(scope, settings, &edge);
        // Made afresh: a directory of an earlier version was the shell's to
        // write in, and may hold what its agent planted.
        fresh_dir(&socket_dir, 0o711)?;
        fresh_dir(&run_dir.join("edge"), 0o700)?;
        let agent_listener = bind_agent_socket(&agent_path)?;
        let control = ControlSocket::bind(&control_path, service)?;
        tokio::spawn(control.serve());
        // The agent's one way out: its broker, with the model providers'
        // routes, beside the control socket.
        hardshell_egress::serve_model_broker(
            &broker_path,
            &gateway,
            &loaded.config.dangerous.egress_internal,
            scanner.clone(),
            audit.clone(),
        )?;
        // The edge's sockets belong to the shell's id, so the agent can
        // connect; the directory stays the edge's. (lchown all the same: a
        // symlink here would be given away, not followed.)
        let (uid, gid) = hardshell_sandbox::host_ids();
        for path in [&control_path, &broker_path] {
            std::os::unix::fs::lchown(path, Some(uid), Some(gid))
                .context("giving the edge's sockets to the agent's shell")?;
        }
        let workspace = loaded.base_dir().join(&loaded.config.agent.workspace);
        std::fs::create_dir_all(&workspace)
            .with_context(|| format!("creating the agent's workspace {}", workspace.display()))?;
        if let Some(volumes) = &volumes {
            hardshell_sandbox::volume::unmount_stale(&workspace)
                .context("detaching the agent's workspace volume left by a killed edge")?;
            volumes
                .mount("agent", &workspace)
                .context("mounting the agent's workspace volume")?;
        }
        // Absolute and without symlinks: the shell binds exactly these.
        let workspace = workspace.canonicalize()?;
        let socket_dir = socket_dir.canonicalize()?;
        let workload = agent_workload(launcher, &loaded, workspace, &socket_dir, agent_listener)?;
        Some(tokio::spawn(supervise(workload, agent_stopped)))
    } else {
        None
    };

    let shutdown = async move {
        let which = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = which, "shutting down");
        crate::readiness::stopping();
    };
    // Ready (systemd's Type=notify) once the edge serves and the agent answers.
    crate::readiness::when_serving(
        format!("{scheme}://{}", edge.local_addr()),
        agent_runs.then_some(agent_path),
    );
    edge.serve(shutdown).await;
    let _ = stop_agent.send(true);
    if let Some(supervisor) = supervisor {
        let _ = supervisor.await;
    }
    if let Some(volumes) = &volumes {
        let count = volumes.unmount_all();
        tracing::info!(count, "workspace volumes unmounted");
    }
    if log.dropped() > 0 {
        tracing::warn!(
            dropped = log.dropped(),
            "log lines were dropped because standard error did not keep up"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

/// `path` as a new, empty directory of the edge's with `mode`. Whatever was
/// there is removed, never followed (`remove_dir_all` does not follow
/// symlinks), and the mode is set through the new directory's descriptor,
/// opened without following a symlink.
fn fresh_dir(path: &std::path::Path, mode: u32) -> anyhow::Result<()> {
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
fn bind_agent_socket(
    path: &std::path::Path,
) -> anyhow::Result<Arc<std::os::unix::net::UnixListener>> {
    let listener = hardshell_broker::socket::bind(path)
        .and_then(tokio::net::UnixListener::into_std)
        .with_context(|| format!("binding the agent's socket {}", path.display()))?;
    Ok(Arc::new(listener))
}

/// Raises the soft limit on open files to the hard one, and returns both:
/// the edge holds a descriptor per client connection, per shell's broker
/// connection and per upstream connection it keeps, and a soft default of
/// 1024 runs out long before the system's limit does. Shells set their own.
fn raise_open_files_limit() -> nix::Result<(u64, u64)> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    getrlimit(Resource::RLIMIT_NOFILE)
}

/// The agent, as a shell runs it (its policy: [`policy::agent`]), its
/// listening socket passed in.
fn agent_workload(
    launcher: Launcher,
    loaded: &hardshell_config::LoadedConfig,
    workspace: std::path::PathBuf,
    socket_dir: &std::path::Path,
    listener: Arc<std::os::unix::net::UnixListener>,
) -> anyhow::Result<Workload> {
    let policy = policy::agent(policy::AgentShell {
        program: &launcher.program,
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
        launcher,
        policy,
        argv,
        listener,
    })
}

/// The agent's `exec` tool: tool shells over `<data>/workspaces`, as many at
/// once as `[shell] max_instances` leaves beside the agent's, each with a way
/// out through the exec broker when `[egress]` has routes (`egress_dir`);
/// its decisions recorded in `audit`, its output cut of what `scanner` finds.
async fn exec_service(
    loaded: &hardshell_config::LoadedConfig,
    secrets: &hardshell_secrets::SecretStore,
    launcher: Launcher,
    volumes: Arc<hardshell_sandbox::volume::Volumes>,
    egress_dir: Option<&std::path::Path>,
    audit: Arc<AuditLog>,
    scanner: Arc<LiveScanner>,
) -> anyhow::Result<ExecService> {
    let shell = &loaded.config.shell;
    let at_once = usize::try_from(shell.max_instances.saturating_sub(1).max(1)).unwrap_or(1);
    let tool_shells = SandboxShell::new(
        launcher,
        loaded.data_dir().join("workspaces"),
        volumes,
        at_once,
        shell.tmp_mb << 20,
    )
    .context("preparing the exec tool's workspaces")?;
    let tool_shells = match egress_dir {
        Some(dir) => {
            let broker =
                exec_broker_for(loaded, secrets, dir, audit.clone(), scanner.clone()).await?;
            tool_shells.with_egress(dir.to_owned(), Arc::new(broker))
        }
        None => tool_shells,
    };
    Ok(ExecService::new(
        loaded.config.exec.clone(),
        Arc::new(tool_shells),
        audit,
        scanner,
    ))
}

/// The exec shells' egress broker, served to each run on a socket of its
/// own under `<data>/run/exec/`, given to the shells' uid; the values of the
/// secrets `[egress.secrets]` binds come from the secret store now, so a
/// missing one stops the start.
async fn exec_broker_for(
    loaded: &hardshell_config::LoadedConfig,
    secrets: &hardshell_secrets::SecretStore,
    dir: &std::path::Path,
    audit: Arc<AuditLog>,
    scanner: Arc<LiveScanner>,
) -> anyhow::Result<hardshell_edge::Broker> {
    let broker = hardshell_egress::exec_broker(loaded, secrets, scanner, audit).await?;
    let (uid, gid) = hardshell_sandbox::host_ids();
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid))
        .with_context(|| format!("giving {} to the shells", dir.display()))?;
    tracing::info!(
        routes = loaded.config.egress.routes.len(),
        "egress broker for exec shells ready"
    );
    Ok(broker)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_one() {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        // One below: harmless to the other tests in this process.
        setrlimit(Resource::RLIMIT_NOFILE, hard - 1, hard).unwrap();
        assert_eq!(super::raise_open_files_limit().unwrap(), (hard, hard));
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (hard, hard));
    }
}
