//! `hardshell up`: load everything, bind the edge, serve until a signal.
//! The steps are [`crate::wiring`]'s, in the order they run here.

use hardshell_egress::Credentials;

use crate::cli::Global;
use crate::wiring::{self, Signals};
use crate::{context, logging};

/// `up --check`: what `up` reads and resolves before it starts anything,
/// with nothing started: the config, the host's kernel (warned of, as `up`
/// does), the master key, both stores, every credential the config names,
/// the listen address's protection, and the certificate files.
pub async fn check(global: &Global) -> anyhow::Result<()> {
    let loaded = verify(global).await?;
    println!(
        "ok: hardshell up would start with {}",
        loaded.path.display()
    );
    Ok(())
}

/// What [`check`] checks, said only by its error.
async fn verify(global: &Global) -> anyhow::Result<hardshell_config::LoadedConfig> {
    let loaded = context::load_config(global)?;
    wiring::check_host(&loaded);
    let secrets = wiring::open_secrets(global, &loaded).await?;
    let mut credentials = Credentials::new(&loaded, &secrets.store);
    wiring::open_storage(&loaded, &secrets.master, &mut credentials).await?;
    wiring::listen_addr(&loaded)?;
    wiring::oidc_client_secret(&loaded, &mut credentials).await?;
    wiring::registry_credential(&loaded, &mut credentials).await?;
    wiring::channel_secrets(&loaded, &mut credentials).await?;
    // The providers' keys are read only where up reads them: with the agent.
    if loaded.config.agent_runs() {
        wiring::check_egress_credentials(&loaded, &mut credentials).await?;
    }
    if let Some((cert, key)) = loaded.config.edge.tls.as_ref().and_then(|t| t.files()) {
        hardshell_edge::check_certificate_files(
            &loaded.base_dir().join(cert),
            &loaded.base_dir().join(key),
        )
        .await?;
    }
    Ok(loaded)
}

pub async fn run(global: &Global) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let log = logging::init(loaded.config.log.format, loaded.config.log.level);
    let signals = Signals::install()?;
    wiring::check_host(&loaded);

    let secrets = wiring::open_secrets(global, &loaded).await?;
    // Every credential the config names is read through this, up to the
    // leak scan, which takes it whole: none can be read after and escape it.
    let mut credentials = Credentials::new(&loaded, &secrets.store);
    let (storage, signer) =
        wiring::open_storage(&loaded, &secrets.master, &mut credentials).await?;
    let listen = wiring::listen_addr(&loaded)?;
    let oidc_client_secret = wiring::oidc_client_secret(&loaded, &mut credentials).await?;
    let registry_credential = wiring::registry_credential(&loaded, &mut credentials).await?;
    let channel_secrets = wiring::channel_secrets(&loaded, &mut credentials).await?;

    // The built-in agent runs unless [upstream] or [workload] names another.
    let agent_runs = loaded.config.agent_runs();
    let workload_runs = loaded.config.workload.is_some();
    let host = wiring::prepare_shells(&loaded, agent_runs || workload_runs)?;
    let exec_runs = loaded.config.exec_runs();
    // Exec shells with a way out and the workload trust the egress CA: it
    // is made before the leak scan is loaded.
    let exec_egress =
        (exec_runs && host.volumes.is_some() && host.egress_dir.is_some()) || workload_runs;
    let egress = wiring::build_egress(
        &loaded,
        &secrets.store,
        credentials,
        &storage.store,
        agent_runs,
        exec_egress,
        &storage.audit,
    )
    .await?;
    let exec = wiring::build_exec(
        &loaded,
        &secrets.store,
        &host,
        &egress,
        &storage.audit,
        exec_runs,
    )
    .await?;

    let browser = wiring::build_browser(&loaded, &host, &egress, &storage.audit)?;

    let workload = wiring::prepare_workload(
        &loaded,
        &storage.store,
        &secrets.store,
        &host,
        &egress,
        registry_credential,
        &storage.audit,
        browser.as_ref(),
    )
    .await?;
    let edge_config = match &workload {
        Some(workload) => wiring::edge_config(&loaded, workload),
        None => loaded.clone(),
    };
    // The agent's browsing marks its conversations for exec, which the
    // edge then holds.
    let untrusted = exec.as_ref().map(hardshell_exec::ExecService::untrusted);
    let untrusted_for_modules = untrusted.clone();
    let agent_browser = browser
        .clone()
        .map(|service| wiring::AgentBrowser { service, untrusted });
    let channels = wiring::prepare_channels(&loaded, &storage, channel_secrets)?;
    let mut parts = Vec::new();
    if agent_runs {
        parts.push(wiring::modules_part(&loaded, &storage.store)?);
    }
    if let Some(workload) = &workload {
        parts.push(workload.part());
    }
    let listening = wiring::bind_edge(
        &edge_config,
        &storage,
        signer,
        listen,
        oidc_client_secret,
        wiring::Behind {
            agent_socket: agent_runs.then(|| host.sockets.agent.clone()),
            exec,
            browser,
            workload_status: workload.as_ref().map(|w| w.status()),
            webhooks: channels.webhooks(),
            parts,
        },
    )
    .await?;
    wiring::print_setup_link(&listening.edge).await?;
    let channels = channels.start(listening.turns.clone());
    let modules = if agent_runs {
        wiring::start_modules(
            &loaded,
            &storage,
            &secrets.store,
            &host,
            egress.scanner.clone(),
            untrusted_for_modules,
        )
        .await?
    } else {
        None
    };
    // The gateway's charges wait a moment to be stored together; the last
    // ones are stored on the way out.
    let ledger = egress.gateway.as_ref().map(|g| g.ledger().clone());
    let agent = wiring::start_agent_shell(
        &loaded,
        &storage,
        &host,
        egress,
        &listening.edge,
        agent_browser,
        modules,
    )?;
    let workload = workload.map(wiring::start_workload);

    // Ready (systemd's Type=notify) once the edge serves and the agent answers.
    crate::readiness::when_serving(
        listening.url,
        agent_runs.then(|| host.sockets.agent.clone()),
    );
    let reload_check: wiring::ReloadCheck = {
        let global = global.clone();
        Box::new(move || {
            let global = global.clone();
            Box::pin(async move { verify(&global).await.map(|_| ()) })
        })
    };
    let ending = wiring::serve(
        listening.edge,
        (signals, reload_check),
        channels,
        agent,
        workload,
        host.volumes.as_ref(),
    )
    .await;
    if let Some(ledger) = ledger
        && let Err(e) = ledger.write_charges().await
    {
        tracing::error!(error = %e, "storing the last model usage failed");
    }
    // The certificate's issuer ends with the edge (mid-order or not: what it
    // stored stays, and the next start carries on from it).
    if let Some(acme) = listening.acme {
        let _ = acme.send(true);
    }
    if log.dropped() > 0 {
        tracing::warn!(
            dropped = log.dropped(),
            "log lines were dropped because standard error did not keep up"
        );
    }
    if ending == wiring::Ending::Reload {
        tracing::info!("stopped; starting again with the new config");
        // Flushed before this image is replaced.
        drop(log);
        return Err(start_again());
    }
    tracing::info!("stopped");
    Ok(())
}

/// Replaces this process with a new `hardshell up` of the same command line
/// and environment: the same pid (what systemd watches), everything read
/// again. Returns only if the exec failed.
fn start_again() -> anyhow::Error {
    use std::os::unix::process::CommandExt as _;
    if let Err(e) = wiring::stop_signals_blocked() {
        return e;
    }
    let error = std::process::Command::new("/proc/self/exe")
        .args(std::env::args_os().skip(1))
        .exec();
    anyhow::Error::new(error).context("starting again after SIGHUP")
}
