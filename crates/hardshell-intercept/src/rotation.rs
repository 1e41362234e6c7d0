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
    // No baseline taken here: a rotation between the caller's load of the
    // CA and this task's first run would match it and be missed until some
    // other secret changed. The first check compares the stored CA with the
    // issuer's own (`take_up` does nothing when they are one).
    let mut seen: Option<String> = None;
    // A rotation that could not be taken up is tried again at every check
    // (not only at the store's next change), warned about once.
    let mut warned = false;
    loop {
        tokio::time::sleep(every).await;
        let Ok(now) = secrets.fingerprint().await else {
            continue;
        };
        if seen.as_deref() == Some(now.as_str()) {
            continue;
        }
        match take_up(&issuer, &secrets, &trust, &system).await {
            Ok(()) => {
                seen = Some(now);
                warned = false;
            }
            Err(why) if !warned => {
                tracing::warn!("{why}; the edge keeps the egress CA it has and tries again");
                warned = true;
            }
            Err(_) => {}
        }
    }
}

/// Takes up the stored CA if it is another than `issuer`'s: its trust files
/// first, then the issuer. A removed CA is settled too (nothing to take up;
/// the next start makes one); `Err` says what to try again.
async fn take_up(
    issuer: &LeafIssuer,
    secrets: &SecretStore,
    trust: &TrustFiles,
    system: &[String],
) -> Result<(), String> {
    // Loaded, never made: a CA removed meanwhile is not replaced here by one
    // nobody asked for.
    let stored = match EgressCa::load(secrets).await {
        Ok(Some(stored)) => stored,
        Ok(None) => {
            tracing::warn!(
                "the egress CA was removed from the store; the edge keeps the one it has until it restarts"
            );
            return Ok(());
        }
        Err(error) => return Err(format!("the stored egress CA could not be read: {error}")),
    };
    if stored.fingerprint() == issuer.ca().fingerprint() {
        return Ok(());
    }
    let system: Vec<&str> = system.iter().map(String::as_str).collect();
    TrustFiles::write(&trust.dir, &stored, &system)
        .map_err(|error| format!("the new egress CA's files could not be written: {error}"))?;
    tracing::info!(
        fingerprint = stored.fingerprint(),
        "egress CA replaced: new shells trust the new one, and the broker issues from it"
    );
    issuer.replace_ca(Arc::new(stored));
    Ok(())
}
