//! The secret store as the leak scan's [`SecretSource`]: `hardshell secret
//! set` writes it from another process while the edge runs, and what it
//! stores is scanned for from the next check on.

use futures::future::BoxFuture;
use hardshell_broker::secrets::{NamedSecret, NamedValues, SecretSource, SourceError};
use hardshell_secrets::{SecretStore, SecretsError};

/// Every secret in a [`SecretStore`], for a
/// [`LiveScanner`](hardshell_broker::secrets::LiveScanner).
#[derive(Debug, Clone)]
pub struct StoredSecrets(pub SecretStore);

/// Why the secret store could not be read for the leak scan, by step; each
/// shows as the store's error, as it always has.
#[derive(Debug, thiserror::Error)]
pub enum StoredSecretsError {
    /// Listing the store to see whether it changed.
    #[error(transparent)]
    Fingerprint(SecretsError),
    /// Listing the secrets to read.
    #[error(transparent)]
    List(SecretsError),
    /// Reading one listed secret's value.
    #[error(transparent)]
    Read(SecretsError),
}

impl SecretSource for StoredSecrets {
    fn fingerprint(&self) -> BoxFuture<'_, Result<String, SourceError>> {
        Box::pin(async move {
            self.0
                .fingerprint()
                .await
                .map_err(|e| StoredSecretsError::Fingerprint(e).into())
        })
    }

    fn values(&self) -> BoxFuture<'_, Result<NamedValues, SourceError>> {
        Box::pin(async move {
            let mut values = Vec::new();
            for info in self.0.list().await.map_err(StoredSecretsError::List)? {
                // Removed since it was listed: not scanned for.
                if let Some(value) = self
                    .0
                    .get(&info.name)
                    .await
                    .map_err(StoredSecretsError::Read)?
                {
                    // A credential the config names is used trimmed (a value
                    // stored by `echo … | hardshell secret set` ends in a
                    // newline): the trimmed value is what can leak, and a
                    // scan for it also finds the stored one around it.
                    // Trimmed as `Credentials::resolve` trims text (all
                    // Unicode whitespace), so the scan and the use agree.
                    let bytes = value.expose();
                    let trimmed = match std::str::from_utf8(bytes) {
                        Ok(text) => text.trim().as_bytes(),
                        Err(_) => bytes.trim_ascii(),
                    };
                    let held = if trimmed.is_empty() { bytes } else { trimmed };
                    // The egress CA is its public certificate, then its key:
                    // the key is what must not leave, and is looked for alone.
                    let key = (info.name.as_str() == hardshell_intercept::CA_SECRET)
                        .then(|| hardshell_intercept::scanned_key(bytes))
                        .flatten();
                    let held: &[u8] = key.as_deref().map_or(held, |key| key.as_slice());
                    // Shorter values would match unrelated text everywhere,
                    // so the scan leaves them out: said, not silent.
                    if held.len() < hardshell_broker::secrets::MIN_SCANNED_BYTES {
                        tracing::warn!(
                            secret = %info.name,
                            "a stored secret shorter than {} bytes is not looked for in what \
                             leaves a shell or what a command shows",
                            hardshell_broker::secrets::MIN_SCANNED_BYTES
                        );
                    }
                    values.push(NamedSecret::new(info.name.as_str(), held.to_vec()));
                }
            }
            Ok(values)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use hardshell_broker::secrets::LeakScanner;
    use hardshell_intercept::{EgressCa, InstallId};
    use hardshell_testkit::TestStore;

    #[tokio::test]
    async fn the_egress_cas_key_is_looked_for_alone_and_its_public_certificate_not() {
        let store = TestStore::new().await;
        let secrets = SecretStore::new(store.scope("secrets"));
        let ca = EgressCa::load_or_create(&secrets, &InstallId::parse("test").unwrap())
            .await
            .unwrap();
        let stored = secrets
            .get(&hardshell_secrets::SecretName::parse(hardshell_intercept::CA_SECRET).unwrap())
            .await
            .unwrap()
            .unwrap();
        let text = stored.expose_str().unwrap().to_owned();
        let key_pem = &text[text.find("-----BEGIN PRIVATE KEY-----").unwrap()..];
        let scanner = LeakScanner::new(&StoredSecrets(secrets).values().await.unwrap());
        // The key sent alone, as PEM, or its body re-wrapped: found.
        assert!(scanner.find(key_pem.as_bytes()).is_some());
        let body: String = key_pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        assert!(scanner.find(body.as_bytes()).is_some());
        // The certificate every shell trusts is not a secret.
        assert!(scanner.find(ca.ca_pem().as_bytes()).is_none());
    }
}
