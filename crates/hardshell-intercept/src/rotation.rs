//! A rotation taking effect while the edge runs: `hardshell egress ca rotate`
//! is another process writing the store, and an operator who replaced a CA
//! (a key they fear was copied) expects it out of use now, not at the next
//! restart.

use std::sync::Arc;
use std::time::Duration;

use hardshell_secrets::SecretStore;

use crate::{EgressCa, LeafIssuer, TrustFiles};

/// Watches the store (its fingerprint, every `every`) and, when the stored
/// CA is another than `issuer`'s, writes `trust`'s files for it first (the
/// shells started from then on trust it) and then has `issuer` issue from it.
/// A stored CA that cannot be read keeps the current one, with a warning; a
/// removed one too (the next start makes a new one).
pub async fn follow_rotations(
    issuer: Arc<LeafIssuer>,
    secrets: SecretStore,
    trust: TrustFiles,
    system: Vec<String>,
    every: Duration,
) {
    let mut seen = secrets.fingerprint().await.ok();
    loop {
        tokio::time::sleep(every).await;
        let Ok(now) = secrets.fingerprint().await else {
            continue;
        };
        if seen.as_deref() == Some(now.as_str()) {
            continue;
        }
        seen = Some(now);
        // Loaded, never made: a CA removed meanwhile is not replaced here by
        // one nobody asked for.
        let stored = match EgressCa::load(&secrets).await {
            Ok(Some(stored)) => stored,
            Ok(None) => {
                tracing::warn!(
                    "the egress CA was removed from the store; the edge keeps the one it has until it restarts"
                );
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "the stored egress CA could not be read; the edge keeps the one it has");
                continue;
            }
        };
        if stored.fingerprint() == issuer.ca().fingerprint() {
            continue;
        }
        let system: Vec<&str> = system.iter().map(String::as_str).collect();
        if let Err(error) = TrustFiles::write(&trust.dir, &stored, &system) {
            tracing::warn!(%error, "the new egress CA's files could not be written; the edge keeps the old CA");
            continue;
        }
        tracing::info!(
            fingerprint = stored.fingerprint(),
            "egress CA replaced: new shells trust the new one, and the broker issues from it"
        );
        issuer.replace_ca(Arc::new(stored));
    }
}
