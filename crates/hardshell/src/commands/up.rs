//! `hardshell up`: load everything, bind the edge, serve until a signal.

use anyhow::Context as _;
use hardshell_audit::{AuditLog, AuditOptions};
use hardshell_auth::ClientSecret;
use hardshell_gateway::{Edge, EdgeSetup, ListenAddr, Protection};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::Global;
use crate::{context, logging};

pub async fn run(global: &Global) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    logging::init(loaded.config.log.format, loaded.config.log.level);
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
    let state = EdgeSetup {
        config: &loaded,
        store: &store,
        signer,
        audit,
        oidc_client_secret,
        cloudflare_certs_url: None,
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

    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let shutdown = async move {
        let which = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = which, "shutting down");
    };
    edge.serve(shutdown).await;
    tracing::info!("stopped");
    Ok(())
}
