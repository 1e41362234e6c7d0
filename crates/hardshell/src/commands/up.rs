//! `hardshell up`: load everything, bind the edge, serve until a signal.

use anyhow::Context as _;
use hardshell_audit::{AuditLog, AuditOptions};
use hardshell_auth::ClientSecret;
use hardshell_gateway::{ControlService, ControlSocket, Edge, EdgeSetup, ListenAddr, Protection};
use hardshell_storage::ObjectKey;
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::Global;
use crate::supervise::{Workload, supervise};
use crate::{context, logging, models};

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

    let source = context::master_key_source(global, &loaded);
    let master = hardshell_storage::MasterKey::load(&source)?;
    tracing::info!(key_id = %master.id(), from = %source, "master key loaded");
    let secrets = context::open_secrets(&loaded, &master).await?;
    let store = context::open_state(&loaded, &master, &secrets).await?;
    tracing::info!(
        storage = store.endpoint(),
        encrypted = store.is_encrypted(),
        "storage ready"
    );
    let signer = context::identity_signer(&loaded, &master).await?;
    let audit_scope = context::audit_scope(&loaded, &master, &secrets, &store).await?;
    let log_id = context::log_id("edge")?;
    let audit = AuditLog::open(
        &audit_scope,
        &log_id,
        AuditOptions {
            flush_interval: std::time::Duration::from_millis(loaded.config.audit.flush_interval_ms),
            ..AuditOptions::default()
        },
    )
    .await
    .with_context(|| format!("opening audit log {log_id}"))?;
    tracing::info!(log = %log_id, "audit log open");

    let listen_on = loaded.config.edge.listen;
    let listen = match Protection::check(&loaded) {
        Some(proof) if !listen_on.ip().is_loopback() => ListenAddr::protected(listen_on, proof),
        _ => ListenAddr::loopback(listen_on)?,
    };
    let oidc_client_secret = match &loaded.config.access.oidc {
        Some(oidc) => Some(ClientSecret::new(
            context::resolve(
                &loaded,
                "access.oidc.client_secret",
                &oidc.client_secret,
                &secrets,
            )
            .await?,
        )),
        None => None,
    };
    // The built-in agent runs unless [upstream] names another workload.
    let agent_runs = loaded.config.agent.enabled && loaded.config.upstream.is_none();
    let run_dir = loaded.data_dir().join("run");
    let (control_path, agent_path) = (run_dir.join("edge.sock"), run_dir.join("agent.sock"));
    // Commands of the agent's `exec` tool run in tool shells made here.
    let exec_shell: Option<std::sync::Arc<dyn hardshell_gateway::ToolShell>> = None;
    let exec_runs = agent_runs && exec_shell.is_some();
    let state = EdgeSetup {
        config: &loaded,
        store: &store,
        signer,
        audit,
        oidc_client_secret,
        cloudflare_certs_url: None,
        agent_socket: agent_runs.then(|| agent_path.clone()),
        exec_shell,
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
    let supervisor = if agent_runs {
        let gateway = models::gateway(&loaded, &secrets, &store).await?;
        let mut settings = models::agent_settings(&loaded)?;
        if !exec_runs {
            // No shell to run commands in: the agent is not offered the tool.
            settings.exec = None;
        }
        let scope = store.root().scope(&ObjectKey::parse("agent")?)?;
        let service = ControlService::for_agent(scope, settings, gateway, &edge);
        let control = ControlSocket::bind(&control_path, service)?;
        tokio::spawn(control.serve());
        let workspace = loaded.base_dir().join(&loaded.config.agent.workspace);
        let workload = Workload {
            program: std::env::current_exe().context("finding the hardshell binary")?,
            args: vec![
                "agent".into(),
                "--control-socket".into(),
                control_path.display().to_string(),
                "--socket".into(),
                agent_path.display().to_string(),
                "--workspace".into(),
                workspace.display().to_string(),
                "--parent-pid".into(),
                std::process::id().to_string(),
            ],
            log_filter: std::env::var("RUST_LOG").ok(),
        };
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
    };
    edge.serve(shutdown).await;
    let _ = stop_agent.send(true);
    if let Some(supervisor) = supervisor {
        let _ = supervisor.await;
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
