//! Step 5: the model gateway and the leak scan over every credential.

use std::sync::Arc;

use hardshell_config::LoadedConfig;
use hardshell_edge::LiveScanner;
use hardshell_egress::{Credentials, LlmGateway};
use hardshell_secrets::SecretStore;
use hardshell_storage::Store;

/// The model gateway (when the agent runs) and the leak scanner every
/// broker and the exec tool's output use.
pub struct Egress {
    pub gateway: Option<LlmGateway>,
    pub scanner: Arc<LiveScanner>,
}

/// Resolves the model providers' keys through `credentials` (when the
/// agent runs), then builds the leak scanner from the credentials, taken
/// whole, so none can be read after and escape it; and loads it.
pub async fn build_egress(
    loaded: &LoadedConfig,
    secrets: &SecretStore,
    mut credentials: Credentials<'_>,
    store: &Store,
    agent_runs: bool,
) -> anyhow::Result<Egress> {
    // The model providers, their keys resolved through the credentials.
    let gateway = if agent_runs {
        Some(hardshell_egress::gateway(loaded, &mut credentials, store).await?)
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
    Ok(Egress { gateway, scanner })
}
