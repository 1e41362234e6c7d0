//! The secret store as the leak scan's [`SecretSource`]: `hardshell secret
//! set` writes it from another process while the edge runs, and what it
//! stores is scanned for from the next check on.

use futures::future::BoxFuture;
use hardshell_broker::secrets::{NamedSecret, NamedValues, SecretSource};
use hardshell_secrets::SecretStore;

/// Every secret in a [`SecretStore`], for a
/// [`LiveScanner`](hardshell_broker::secrets::LiveScanner).
#[derive(Debug, Clone)]
pub struct StoredSecrets(pub SecretStore);

impl SecretSource for StoredSecrets {
    fn fingerprint(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move { self.0.fingerprint().await.map_err(|e| e.to_string()) })
    }

    fn values(&self) -> BoxFuture<'_, Result<NamedValues, String>> {
        Box::pin(async move {
            let mut values = Vec::new();
            for info in self.0.list().await.map_err(|e| e.to_string())? {
                // Removed since it was listed: not scanned for.
                if let Some(value) = self.0.get(&info.name).await.map_err(|e| e.to_string())? {
                    // A credential the config names is used trimmed (a value
                    // stored by `echo … | hardshell secret set` ends in a
                    // newline): the trimmed value is what can leak, and a
                    // scan for it also finds the stored one around it.
                    let held = match value.expose().trim_ascii() {
                        [] => value.expose(),
                        trimmed => trimmed,
                    };
                    values.push(NamedSecret::new(info.name.as_str(), held.to_vec()));
                }
            }
            Ok(values)
        })
    }
}
