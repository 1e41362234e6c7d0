//! Step 5: the model gateway, the egress CA, and the leak scan over every
//! credential.

use std::sync::Arc;

use anyhow::Context as _;
use hardshell_audit::event::SecretStored;
use hardshell_audit::{AuditEvent, AuditLog};
use hardshell_config::LoadedConfig;
use hardshell_edge::LiveScanner;
use hardshell_egress::{Credentials, LlmGateway};
use hardshell_intercept::{CA_SECRET, EgressCa, LeafIssuer, SYSTEM_BUNDLES, TrustFiles};
use hardshell_secrets::SecretName;
use hardshell_secrets::SecretStore;
use hardshell_storage::Store;

/// The model gateway (when the agent runs), the egress CA (when exec shells
/// have a way out) and the leak scanner every broker and the exec tool's
/// output use.
pub struct Egress {
    pub gateway: Option<LlmGateway>,
    pub intercept: Option<Intercept>,
    pub scanner: Arc<LiveScanner>,
}

/// The broker's side of inspected tunnels and the shells' side: the issuer
/// of leaf certificates (holding the CA's key) and the files that make a
/// shell trust them (the CA's certificate only).
pub struct Intercept {
    pub issuer: Arc<LeafIssuer>,
    pub trust: TrustFiles,
}

/// Every model provider's key the config names, resolved as the gateway
/// resolves them at start (`up --check`): a missing secret is said now.
pub async fn check_egress_credentials(
    loaded: &LoadedConfig,
    credentials: &mut Credentials<'_>,
) -> anyhow::Result<()> {
    for (name, provider) in &loaded.config.llm.providers {
        if let Some(reference) = &provider.api_key {
            credentials
                .resolve(&format!("llm.providers.{name}.api_key"), reference)
                .await?;
        }
    }
    Ok(())
}

/// Resolves the model providers' keys through `credentials` (when the
/// agent runs), loads or makes the egress CA (when exec shells have a way
/// out: `exec_egress`), then builds the leak scanner from the credentials,
/// taken whole, so none can be read after and escape it; and loads it.
pub async fn build_egress(
    loaded: &LoadedConfig,
    secrets: &SecretStore,
    mut credentials: Credentials<'_>,
    store: &Store,
    agent_runs: bool,
    exec_egress: bool,
    audit: &AuditLog,
) -> anyhow::Result<Egress> {
    // The model providers, their keys resolved through the credentials.
    let gateway = if agent_runs {
        Some(hardshell_egress::gateway(loaded, &mut credentials, store).await?)
    } else {
        None
    };
    // Before the scanner is loaded: a CA made now is in the store it reads,
    // so its key is among the values no request may carry.
    let intercept = if exec_egress {
        Some(intercept(loaded, secrets, audit).await?)
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
    Ok(Egress {
        gateway,
        intercept,
        scanner,
    })
}

/// The install's egress CA, made and stored at the first start with a way
/// out, and its trust files written afresh under `<data>/run/egress-ca`.
async fn intercept(
    loaded: &LoadedConfig,
    secrets: &SecretStore,
    audit: &AuditLog,
) -> anyhow::Result<Intercept> {
    let (ca, made) = EgressCa::load_or_make(secrets, &crate::context::install_id())
        .await
        .context("loading the egress CA")?;
    if made {
        // The most sensitive key the store holds appears on record.
        audit.note(AuditEvent::SecretStored(SecretStored {
            name: SecretName::parse(CA_SECRET)?,
            replaced: false,
            actor: None,
        }));
    }
    let dir = loaded.data_dir().join("run").join("egress-ca");
    let trust = TrustFiles::write(&dir, &ca, &SYSTEM_BUNDLES)?;
    tracing::info!(
        fingerprint = ca.fingerprint(),
        "egress CA ready: shells trust it, inspected routes answer with its certificates"
    );
    let issuer = Arc::new(LeafIssuer::new(Arc::new(ca)));
    // `hardshell egress ca rotate` takes effect within a second.
    tokio::spawn(hardshell_intercept::follow_rotations(
        issuer.clone(),
        secrets.clone(),
        trust.clone(),
        SYSTEM_BUNDLES
            .iter()
            .map(|path| (*path).to_owned())
            .collect(),
        hardshell_edge::SECRET_CHECK_EVERY,
    ));
    Ok(Intercept { issuer, trust })
}
