//! Step 6: the agent's `exec` tool — its shells, their broker, its service.

use std::sync::Arc;

use anyhow::Context as _;
use hardshell_audit::AuditLog;
use hardshell_config::LoadedConfig;
use hardshell_edge::LiveScanner;
use hardshell_exec::ExecService;
use hardshell_sandbox::Launcher;
use hardshell_secrets::SecretStore;
use hardshell_shells::{SandboxShell, SessionWorkspaces};

use rustls::server::ResolvesServerCert;

use super::egress::Intercept;
use super::{Egress, ShellHost};

/// The exec service when `exec_runs` (and the workspace volumes are open),
/// its decisions recorded in `audit`, its output cut of what the egress
/// step's scanner finds.
pub async fn build_exec(
    loaded: &LoadedConfig,
    secrets: &SecretStore,
    host: &ShellHost,
    egress: &Egress,
    audit: &Arc<AuditLog>,
    exec_runs: bool,
) -> anyhow::Result<Option<ExecService>> {
    // Commands of the agent's `exec` tool run in tool shells of their own.
    match host.workspaces.as_ref().filter(|_| exec_runs) {
        Some(workspaces) => Ok(Some(
            exec_service(
                loaded,
                secrets,
                host.launcher.clone(),
                workspaces.clone(),
                host.egress_dir.as_deref(),
                egress.intercept.as_ref(),
                audit.clone(),
                egress.scanner.clone(),
            )
            .await?,
        )),
        None => Ok(None),
    }
}

/// The agent's `exec` tool: tool shells over `<data>/workspaces`, as many at
/// once as `[shell] max_instances` leaves beside the agent's, each with a way
/// out through the exec broker when `[egress]` has routes (`egress_dir`),
/// its inspected routes answering with `intercept`'s certificates, which the
/// shells trust; its decisions recorded in `audit`, its output cut of what
/// `scanner` finds.
#[allow(clippy::too_many_arguments)]
async fn exec_service(
    loaded: &LoadedConfig,
    secrets: &SecretStore,
    launcher: Launcher,
    workspaces: SessionWorkspaces,
    egress_dir: Option<&std::path::Path>,
    intercept: Option<&Intercept>,
    audit: Arc<AuditLog>,
    scanner: Arc<LiveScanner>,
) -> anyhow::Result<ExecService> {
    let shell = &loaded.config.shell;
    let at_once = usize::try_from(shell.max_instances.saturating_sub(1).max(1)).unwrap_or(1);
    let pool = usize::try_from(shell.pool).unwrap_or(0);
    let tool_shells = SandboxShell::over(launcher, workspaces, at_once, shell.tmp_mb << 20)
        .with_pool(pool, hardshell_shells::pool::IDLE);
    let tool_shells = match egress_dir {
        Some(dir) => {
            let issuer = intercept.map(|i| i.issuer.clone() as Arc<dyn ResolvesServerCert>);
            let broker =
                exec_broker_for(loaded, secrets, dir, audit.clone(), scanner.clone(), issuer)
                    .await?;
            let shells = tool_shells.with_egress(dir.to_owned(), Arc::new(broker));
            match intercept {
                Some(intercept) => shells.with_trust(intercept.trust.clone()),
                None => shells,
            }
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
    loaded: &LoadedConfig,
    secrets: &SecretStore,
    dir: &std::path::Path,
    audit: Arc<AuditLog>,
    scanner: Arc<LiveScanner>,
    intercept: Option<Arc<dyn ResolvesServerCert>>,
) -> anyhow::Result<hardshell_edge::Broker> {
    let broker = hardshell_egress::exec_broker(loaded, secrets, scanner, audit, intercept).await?;
    let (uid, gid) = hardshell_sandbox::host_ids();
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid))
        .with_context(|| format!("giving {} to the shells", dir.display()))?;
    tracing::info!(
        routes = loaded.config.egress.routes.len(),
        "egress broker for exec shells ready"
    );
    Ok(broker)
}
