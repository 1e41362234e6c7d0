//! Step 8, with `[workload]`: the image, its state, its way out and its way
//! in, and its shell under the supervisor.
//!
//! The order matters and is the order below: the image is pulled (or found)
//! before anything is bound, so a bad digest stops the start with nothing
//! running; the state lease is taken and the state restored before the first
//! run, so the workload never starts on an empty directory that would then
//! be published over a newer remote; the inbound socket is bound before the
//! edge is, so the edge proxies to a path that exists.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hardshell_audit::event::{StateName, WorkloadImageResolved};
use hardshell_audit::{AuditEvent, AuditLog};
use hardshell_config::LoadedConfig;
use hardshell_config::Workload as WorkloadConfig;
use hardshell_image::{
    ImageStore, PullEvent, PullOptions, PulledImage, RegistryClient, RegistryCredential,
    UnpackLimits,
};
use hardshell_secrets::SecretStore;
use hardshell_shells::policy;
use hardshell_state::{Holder, LocalPaths, StateSync, SyncOptions};
use hardshell_storage::{ObjectKey, Scope, Store};
use hardshell_workload::{HealthProbe, Monitor, Status, Timing};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Egress, ShellHost};
use crate::supervise::{Reached, Source, Workload, supervise};

mod seed;
mod skills;
mod state_audit;

/// The workload's name: its state's scope and local directory. One workload
/// per install for now.
pub const NAME: &str = "workload";
/// The state volume's name among the edge's volumes (the workspaces are
/// `agent`, `workload` and `exec-<session>`).
const STATE_VOLUME: &str = "workload-state";
/// How long the edge waits for the workload's answer to begin: a model turn
/// through OpenClaw can take minutes before its first byte.
const WORKLOAD_TIMEOUT_SECS: u64 = 300;
/// How long one health probe may take.
const PROBE_DEADLINE: Duration = Duration::from_secs(2);

/// The workload, ready to start: its image pulled, its state restored, its
/// sockets bound. The edge is told [`Prepared::inbound`].
pub struct Prepared {
    /// The socket the edge proxies to; the shell's forwarder relays it to
    /// the workload's port.
    pub inbound: PathBuf,
    workload: Workload,
    state: Option<(StateSync, StateName)>,
    status: watch::Receiver<Status>,
    audit: Arc<AuditLog>,
    /// The image as resolved, for the admin page.
    image: serde_json::Value,
    /// Where its state is synced, with `state_dir`.
    state_scope: Option<Scope>,
}

impl Prepared {
    /// Whether the workload is ready, kept current by its health probes.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// What the admin page shows of it: its image, health and state.
    pub fn part(&self) -> hardshell_edge::Part {
        hardshell_edge::Part {
            name: "workload",
            status: Arc::new(super::parts::WorkloadPart {
                image: self.image.clone(),
                health: self.status.clone(),
                state: self.state_scope.clone(),
            }),
        }
    }
}

/// The workload's shell and its state sync, running until [`Running::stop`].
pub struct Running {
    stop: Arc<watch::Sender<bool>>,
    supervisor: JoinHandle<()>,
    state: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops the workload (SIGTERM, its grace, then its whole shell), then
    /// the state sync: a last sync of what it wrote, and the lease released.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.supervisor.await;
        if let Some(state) = self.state {
            let _ = state.await;
        }
    }
}

/// The registry credential `[workload] registry_credential` names, resolved
/// through the config's credentials (so the leak scan knows its value).
pub async fn registry_credential(
    loaded: &LoadedConfig,
    credentials: &mut hardshell_egress::Credentials<'_>,
) -> anyhow::Result<Option<RegistryCredential>> {
    let Some(reference) = loaded
        .config
        .workload
        .as_ref()
        .and_then(|w| w.registry_credential.as_ref())
    else {
        return Ok(None);
    };
    let value = credentials
        .resolve("workload.registry_credential", reference)
        .await?;
    let credential = RegistryCredential::from_secret(value.as_bytes())
        .context("workload.registry_credential: the secret's value must be user:password")?;
    Ok(Some(credential))
}

/// With `[workload]`: pulls its image (or finds it pulled), takes its state's
/// lease and restores it, serves its broker, binds its inbound socket, and
/// makes its shell's policy.
// Each argument is an earlier step's value, as every step takes them
// (`wiring.rs`): a struct bundling them would only rename the list.
#[allow(clippy::too_many_arguments)]
pub async fn prepare_workload(
    loaded: &LoadedConfig,
    store: &Store,
    secrets: &SecretStore,
    host: &ShellHost,
    egress: &Egress,
    credential: Option<RegistryCredential>,
    audit: &Arc<AuditLog>,
    browser: Option<&Arc<hardshell_browser::CdpService>>,
) -> anyhow::Result<Option<Prepared>> {
    let Some(config) = &loaded.config.workload else {
        return Ok(None);
    };
    let data = loaded.data_dir();
    let (uid, gid) = hardshell_sandbox::host_ids();
    let image = pull_image(&data, config, credential.as_ref(), (uid, gid)).await?;
    audit.note(AuditEvent::WorkloadImageResolved(WorkloadImageResolved {
        reference: config.image.to_string(),
        resolved: image.resolved.to_string(),
        manifest: image.manifest.to_string(),
        pinned: image.reference.is_pinned(),
    }));
    if !image.reference.is_pinned() {
        tracing::warn!(
            image = %config.image,
            resolved = %image.resolved,
            "the workload's image is not pinned ([dangerous] unpinned_images): pin this digest"
        );
    }
    let port = port_of(config, &image)?;
    let home = data.join("workloads").join(NAME);
    let workspace = home.join("workspace");
    std::fs::create_dir_all(&workspace)
        .with_context(|| format!("creating {}", workspace.display()))?;
    if let Some(volumes) = &host.volumes {
        hardshell_sandbox::volume::unmount_stale(&workspace)
            .context("detaching the workload's workspace volume left by a killed edge")?;
        volumes
            .mount(NAME, &workspace)
            .context("mounting the workload's workspace volume")?;
    }
    let (state, state_bind) = match &config.state_dir {
        Some(inside) => {
            if let Some(volumes) = &host.volumes {
                let dir = LocalPaths::for_workload(&data, NAME).dir;
                hardshell_sandbox::volume::unmount_stale(&dir)
                    .context("detaching the workload's state volume left by a killed edge")?;
                mount_state(volumes, config, &dir)?;
            }
            let (sync, dir) = restore_state(loaded, store, (uid, gid), audit).await?;
            (Some(sync), Some((dir, PathBuf::from(inside))))
        }
        None => (None, None),
    };
    // OpenClaw's skills, read-only over where it loads them (`skills.rs`).
    let skills = match &state_bind {
        Some((state_dir, inside)) => {
            let at = (state_dir.as_path(), inside.as_path());
            skills::prepare(config, store, &home, at, (uid, gid), audit).await?
        }
        None => None,
    };
    let broker_dir = data.join("run").join(NAME);
    super::agent_shell::fresh_dir(&broker_dir, 0o711)?;
    let broker_socket = broker_dir.join(hardshell_protocol::socket::BROKER_SOCKET);
    serve_broker(loaded, secrets, egress, &broker_socket, audit).await?;
    // With `[workload] browser`: hardshell's browsers, beside its broker.
    let browser = match browser.filter(|_| config.browser) {
        Some(service) => {
            let socket = broker_dir.join(hardshell_protocol::socket::BROWSER_SOCKET);
            let listener = hardshell_broker::socket::bind(&socket).with_context(|| {
                format!("binding the workload's browser socket {}", socket.display())
            })?;
            std::os::unix::fs::lchown(&socket, Some(uid), Some(gid))
                .context("giving the workload's browser socket to its shell")?;
            tokio::spawn(hardshell_browser::serve_workload_socket(
                listener,
                service.clone(),
            ));
            true
        }
        None => false,
    };
    let inbound_dir = data.join("run").join("edge-in");
    super::agent_shell::fresh_dir(&inbound_dir, 0o700)?;
    let inbound = inbound_dir.join("workload.sock");
    let listener = hardshell_broker::socket::bind(&inbound)
        .and_then(tokio::net::UnixListener::into_std)
        .with_context(|| format!("binding the workload's socket {}", inbound.display()))?;
    let shell = &loaded.config.shell;
    let planned = policy::workload(policy::WorkloadShell {
        image_root: image.root.canonicalize()?,
        argv: command(config, &image)?,
        env: environment(config, &image),
        cwd: working_dir(config, &image),
        port,
        memory_bytes: config.memory_mb << 20,
        max_pids: shell.max_pids,
        cpu_percent: config.cpu_percent.unwrap_or(shell.cpu_percent),
        tmp_bytes: shell.tmp_mb << 20,
        workspace: workspace.canonicalize()?,
        state: state_bind
            .map(|(host, inside)| policy::StateBind { host, inside })
            .into_iter()
            .collect(),
        skills,
        way_out: Some((
            broker_dir.canonicalize()?,
            egress.intercept.as_ref().map(|i| &i.trust),
        )),
        browser,
    });
    let probe = HealthProbe::new(
        &inbound,
        config.health_path.as_deref().unwrap_or("/"),
        &config.host.to_string(),
        PROBE_DEADLINE,
    );
    let monitor = Arc::new(Monitor::new(
        probe,
        Timing::new(Duration::from_secs(config.ready_timeout_secs)),
    ));
    let status = monitor.status();
    let workload = Workload {
        source: Source::Workload,
        launcher: host.launcher.clone(),
        policy: planned.policy,
        argv: planned.argv,
        socket: Reached::Inbound(Arc::new(listener)),
        stop_grace: Duration::from_secs(config.stop_grace_secs),
        monitor: Some(monitor),
    };
    tracing::info!(
        image = %config.image,
        manifest = %image.manifest,
        port,
        host = %config.host,
        "workload prepared"
    );
    let state_scope = match &config.state_dir {
        Some(_) => Some(
            store
                .root()
                .scope(&ObjectKey::parse("workload")?.join(&ObjectKey::segment(NAME)?)?)?,
        ),
        None => None,
    };
    Ok(Some(Prepared {
        inbound,
        workload,
        state,
        status,
        audit: audit.clone(),
        image: serde_json::json!({
            "reference": config.image.to_string(),
            "digest": image.resolved.to_string(),
            "pinned": image.reference.is_pinned(),
        }),
        state_scope,
    }))
}

/// The config the edge is built from, with the workload as its upstream:
/// its inbound socket, served on the workload's own host, its identity
/// header filled by the edge. The edge proxies to it exactly as to an
/// `[upstream]` (the config refuses both at once).
pub fn edge_config(loaded: &LoadedConfig, prepared: &Prepared) -> LoadedConfig {
    let mut edge = loaded.clone();
    if let Some(workload) = &loaded.config.workload {
        edge.config.upstream = Some(hardshell_config::Upstream {
            url: format!("unix:{}", prepared.inbound.display()),
            timeout_secs: WORKLOAD_TIMEOUT_SECS,
            host: Some(workload.host.to_string()),
            identity_header: workload.identity_header.clone(),
        });
    }
    edge
}

/// Starts the workload's shell under the supervisor and its state sync.
/// A sync that lost its lease (another machine took the state) or found the
/// remote moved on under it stops the workload: what it would write next
/// could no longer be kept.
pub fn start_workload(prepared: Prepared) -> Running {
    let (stop, stopped) = watch::channel(false);
    let stop = Arc::new(stop);
    let audit = prepared.audit;
    let state = prepared.state.map(|(sync, workload)| {
        let mut until = stopped.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let stopping = async move {
                let _ = until.wait_for(|stop| *stop).await;
            };
            if let Err(e) = sync.run(stopping).await {
                tracing::error!(error = %e, "the workload's state cannot be kept; stopping the workload");
                if let Some(event) = state_audit::lost(&workload, &e) {
                    audit.note(event);
                }
                stop.send_replace(true);
            }
        })
    });
    let supervisor = tokio::spawn(supervise(prepared.workload, stopped));
    Running {
        stop,
        supervisor,
        state,
    }
}

/// Mounts the workload's state volume at its host-side state directory,
/// before anything is restored into it: what the workload writes there
/// stops at `[workload] state_mb` and never fills the disk holding the
/// edge's own data. A plain directory from before this volume is copied
/// into it once (its old copy kept beside it, as a workspace's is). Also
/// what `hardshell state restore` writes into, so a restore made while `up`
/// is stopped lands in the volume, not under its mount point.
pub fn mount_state(
    volumes: &hardshell_sandbox::volume::Volumes,
    config: &WorkloadConfig,
    dir: &Path,
) -> anyhow::Result<()> {
    let size = hardshell_sandbox::volume::VolumeSize {
        bytes: config.state_mb << 20,
        inodes: config.state_inodes(),
    };
    volumes
        .mount_sized(STATE_VOLUME, dir, size)
        .context("mounting the workload's state volume")
}

/// The image, from the store when its digest is already there (no network),
/// else pulled and unpacked, owned by the shell's ids.
async fn pull_image(
    data: &Path,
    config: &WorkloadConfig,
    credential: Option<&RegistryCredential>,
    (uid, gid): (u32, u32),
) -> anyhow::Result<PulledImage> {
    let owner = hardshell_image::Owner { uid, gid };
    let store = ImageStore::open(&data.join("images"), owner, UnpackLimits::default())
        .context("opening the image store")?;
    // The config's reference is the image crate's type: parsed once, at load.
    let reference = &config.image;
    if let Some(digest) = reference.digest()
        && let Some(image) = store.lookup(digest)?
    {
        return Ok(image);
    }
    tracing::info!(image = %config.image, "pulling the workload's image");
    let client = RegistryClient::new(None)?;
    let mut options = PullOptions::new(&client);
    options.credential = credential;
    let mut progress = |event: PullEvent| {
        if let PullEvent::Layer {
            index,
            count,
            size,
            cached,
            ..
        } = event
        {
            tracing::info!(layer = index + 1, of = count, size, cached, "image layer");
        }
    };
    let image = store
        .pull(reference, &options, &mut progress)
        .await
        .with_context(|| format!("pulling {}", config.image))?;
    Ok(image)
}

/// The workload's state: the lease taken (refused while another machine
/// holds it), then restored when the local copy is missing or stale, and
/// what was done recorded.
async fn restore_state(
    loaded: &LoadedConfig,
    store: &Store,
    (uid, gid): (u32, u32),
    audit: &AuditLog,
) -> anyhow::Result<((StateSync, StateName), PathBuf)> {
    let workload = StateName::new(NAME)?;
    let paths = LocalPaths::for_workload(&loaded.data_dir(), NAME);
    let scope = store
        .root()
        .scope(&ObjectKey::parse("workload")?.join(&ObjectKey::segment(NAME)?)?)?;
    let holder = Holder::load_or_create(&paths.holder)?;
    let owner = hardshell_state::Owner { uid, gid };
    let options = SyncOptions::new(paths.dir.clone(), paths.record.clone(), owner);
    let mut sync = StateSync::open(scope, holder, options).await?;
    sync.take_lease()
        .await
        .context("taking the workload's state lease")?;
    let prepared = sync
        .restore_if_needed()
        .await
        .context("restoring the workload's state")?;
    tracing::info!(outcome = ?prepared, "workload state ready");
    audit.note(state_audit::prepared(&workload, &prepared));
    if matches!(prepared, hardshell_state::Prepared::Fresh) {
        let seeded = seed::copy_into(loaded, &paths.dir, (uid, gid))?;
        if seeded > 0 {
            tracing::info!(files = seeded, "workload state seeded from [workload.seed]");
        }
    }
    Ok(((sync, workload), paths.dir.canonicalize()?))
}

/// The workload's broker: `[egress]`'s routes and secrets, its inspected
/// routes answering with the egress CA's certificates; served on `socket`,
/// given to the shell's ids.
async fn serve_broker(
    loaded: &LoadedConfig,
    secrets: &SecretStore,
    egress: &Egress,
    socket: &Path,
    audit: &Arc<AuditLog>,
) -> anyhow::Result<()> {
    let issuer = egress
        .intercept
        .as_ref()
        .map(|i| i.issuer.clone() as Arc<dyn rustls::server::ResolvesServerCert>);
    let broker = hardshell_egress::exec_broker(
        loaded,
        secrets,
        egress.scanner.clone(),
        audit.clone(),
        issuer,
    )
    .await?;
    let listener = hardshell_broker::socket::bind(socket)
        .with_context(|| format!("binding the workload's broker {}", socket.display()))?;
    tokio::spawn(Arc::new(broker).serve(listener));
    let (uid, gid) = hardshell_sandbox::host_ids();
    std::os::unix::fs::lchown(socket, Some(uid), Some(gid))
        .context("giving the workload's broker socket to its shell")?;
    Ok(())
}

/// The port the workload listens on: the config's, else the one TCP port
/// the image exposes.
fn port_of(config: &WorkloadConfig, image: &PulledImage) -> anyhow::Result<u16> {
    if let Some(port) = config.port {
        return Ok(port);
    }
    let tcp: Vec<u16> = image
        .config
        .exposed_ports
        .iter()
        .filter(|p| p.protocol == hardshell_image::PortProtocol::Tcp)
        .map(|p| p.port)
        .collect();
    match tcp.as_slice() {
        [port] => Ok(*port),
        [] => anyhow::bail!("workload.port: the image exposes no TCP port; set one"),
        _ => anyhow::bail!(
            "workload.port: the image exposes several TCP ports ({tcp:?}); set the one to serve"
        ),
    }
}

/// The program and its arguments: the config's entrypoint and command over
/// the image's (a new entrypoint drops the image's command, as Docker does).
fn command(config: &WorkloadConfig, image: &PulledImage) -> anyhow::Result<Vec<String>> {
    let (entrypoint, cmd) = match (&config.entrypoint, &config.command) {
        (Some(entrypoint), command) => (entrypoint.clone(), command.clone().unwrap_or_default()),
        (None, Some(command)) => (image.config.entrypoint.clone(), command.clone()),
        (None, None) => (image.config.entrypoint.clone(), image.config.cmd.clone()),
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        anyhow::bail!("the workload's image names no program to run; set workload.entrypoint");
    }
    Ok(argv)
}

/// The image's environment, then `[workload.env]` over it (a secret as its
/// placeholder). The way-out variables are the policy's, set last.
fn environment(config: &WorkloadConfig, image: &PulledImage) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = image
        .config
        .env
        .iter()
        .filter(|(name, _)| !config.env.contains_key(name))
        .cloned()
        .collect();
    env.extend(
        config
            .env
            .iter()
            .map(|(name, value)| (name.clone(), value.inside())),
    );
    env
}

/// The working directory: the config's, the image's, or `/`.
fn working_dir(config: &WorkloadConfig, image: &PulledImage) -> PathBuf {
    PathBuf::from(
        config
            .working_dir
            .as_deref()
            .or(image.config.working_dir.as_deref())
            .unwrap_or("/"),
    )
}
