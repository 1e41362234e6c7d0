//! Step 2: the stores, the edge's identity and the audit log.

use std::sync::Arc;

use anyhow::Context as _;
use hardshell_audit::{AuditLog, AuditOptions};
use hardshell_auth::identity::IdentitySigner;
use hardshell_config::LoadedConfig;
use hardshell_egress::Credentials;
use hardshell_secrets::SecretStore;
use hardshell_storage::{MasterKey, Store};

use crate::cli::Global;
use crate::context;

/// The master key and the secret store it opens. Kept apart from
/// [`Storage`]: the credentials borrow the store, and the state store is
/// opened with them.
pub struct Secrets {
    pub master: MasterKey,
    pub store: SecretStore,
}

/// The state store and this host's audit log.
pub struct Storage {
    pub store: Store,
    /// Shared by the edge, exec and the brokers, which all record in it.
    pub audit: Arc<AuditLog>,
}

/// Loads the master key and opens the secret store, checking the key.
pub async fn open_secrets(global: &Global, loaded: &LoadedConfig) -> anyhow::Result<Secrets> {
    let source = context::master_key_source(global, loaded);
    let master = MasterKey::load(&source)?;
    tracing::info!(key_id = %master.id(), from = %source, "master key loaded");
    let store = context::open_secrets(loaded, &master).await?;
    Ok(Secrets { master, store })
}

/// Opens the state store (S3 credentials through `credentials`), loads or
/// makes the edge's identity key (returned beside: the edge alone takes
/// it), and opens this host's audit log.
pub async fn open_storage(
    loaded: &LoadedConfig,
    master: &MasterKey,
    credentials: &mut Credentials<'_>,
) -> anyhow::Result<(Storage, IdentitySigner)> {
    let store = context::open_state(loaded, master, credentials).await?;
    tracing::info!(
        storage = store.endpoint(),
        encrypted = store.is_encrypted(),
        "storage ready"
    );
    let signer = context::identity_signer(loaded, master).await?;
    let audit_scope = context::audit_scope(loaded, master, credentials, &store).await?;
    let log_id = context::log_id("edge")?;
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
    Ok((Storage { store, audit }, signer))
}
