//! `hardshell up`: load everything, bind the edge, serve until a signal.

use anyhow::Context as _;
use hardshell_gateway::{Edge, ListenAddr};
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
    let state = context::open_state(&loaded, &master, &secrets).await?;
    tracing::info!(
        storage = state.endpoint(),
        encrypted = state.is_encrypted(),
        "storage ready"
    );

    let listen = ListenAddr::loopback(loaded.config.edge.listen)?;
    let edge = Edge::bind(listen).await?;
    tracing::info!(addr = %edge.local_addr(), "edge listening on http://{}", edge.local_addr());

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
    edge.serve(shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}
