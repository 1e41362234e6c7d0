//! The credentials the config names (S3, OIDC, the model providers' keys),
//! read in one place, and the leak scan made from what was read.
//!
//! A credential from the secret store is scanned for by listing the store;
//! one from the environment is known only where it is read. So every read
//! goes through a [`Credentials`], which keeps what came from the
//! environment, and the leak scan is made by consuming it
//! ([`Credentials::scanner`]): a credential resolved after the scan exists
//! would need the value the scan took, which does not compile.
//!
//! ```compile_fail,E0382
//! # async fn start(
//! #     loaded: &hardshell_config::LoadedConfig,
//! #     secrets: &hardshell_secrets::SecretStore,
//! #     reference: &hardshell_config::SecretRef,
//! # ) {
//! let mut credentials = hardshell_egress::Credentials::new(loaded, secrets);
//! let scanner = credentials.scanner(std::time::Duration::from_secs(1));
//! // error[E0382]: borrow of moved value: `credentials`
//! let late = credentials.resolve("access.oidc.client_secret", reference).await;
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use hardshell_broker::secrets::{LiveScanner, NamedSecret};
use hardshell_config::{LoadedConfig, SecretRef};
use hardshell_secrets::SecretStore;
use zeroize::Zeroizing;

use crate::{EgressError, StoredSecrets};

/// Reads the credentials the config refers to, and keeps every value that
/// is not in the secret store (read from the environment, or a provider's
/// key under its placeholder name) for the leak scan.
pub struct Credentials<'a> {
    loaded: &'a LoadedConfig,
    secrets: &'a SecretStore,
    /// The providers' keys, by their placeholder names (`LLM_<NAME>`).
    keys: Vec<NamedSecret>,
    /// Values read from the environment, by their config keys.
    from_env: Vec<NamedSecret>,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("keys", &self.keys)
            .field("from_env", &self.from_env)
            .finish_non_exhaustive()
    }
}

impl<'a> Credentials<'a> {
    pub fn new(loaded: &'a LoadedConfig, secrets: &'a SecretStore) -> Self {
        Self {
            loaded,
            secrets,
            keys: Vec::new(),
            from_env: Vec::new(),
        }
    }

    /// Reads the credential at config key `key`. Errors name the key and
    /// the secret or variable, never the value.
    pub async fn resolve(
        &mut self,
        key: &str,
        reference: &SecretRef,
    ) -> Result<Zeroizing<String>, EgressError> {
        let loaded = self.loaded;
        match reference {
            SecretRef::Env(var) => {
                let value = Zeroizing::new(
                    std::env::var(var)
                        .ok()
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| {
                            loaded.error_at(key, format!("environment variable {var} is not set"))
                        })?,
                );
                self.from_env
                    .push(NamedSecret::new(name_of(key), value.as_bytes().to_vec()));
                Ok(value)
            }
            SecretRef::Secret(name) => {
                let Some(value) = self.secrets.get(name).await? else {
                    return Err(loaded
                        .error_at(
                            key,
                            format!(
                                "no secret named {name}; store it with `hardshell secret put {name}`"
                            ),
                        )
                        .into());
                };
                match value.expose_str() {
                    Some(text) => Ok(Zeroizing::new(text.trim().to_owned())),
                    None => Err(loaded
                        .error_at(key, format!("secret {name} is not valid UTF-8"))
                        .into()),
                }
            }
        }
    }

    /// Keeps a provider's key, named by its placeholder, for the leak scan:
    /// the agent holds none, so one it sends was obtained to be smuggled out.
    pub(crate) fn hold_key(&mut self, key: NamedSecret) {
        self.keys.push(key);
    }

    /// The leak scan for every secret hardshell holds: the store's as it is
    /// at each check (at most once per `every`: `hardshell secret set`
    /// writes it while the edge runs), and every value held here. Consumes
    /// the credentials: nothing can be resolved after the scan is made.
    pub fn scanner(self, every: Duration) -> Arc<LiveScanner> {
        // A value found is reported under the first name it is held by: a
        // provider's key from the environment is held twice, and shows as
        // its placeholder's name, the one the agent knows.
        let mut held = self.keys;
        held.extend(self.from_env);
        LiveScanner::watching(Arc::new(StoredSecrets(self.secrets.clone())), held, every)
    }
}

/// A credential from the environment, named by its config key
/// (`access.oidc.client_secret` as `ACCESS_OIDC_CLIENT_SECRET`), cut to a
/// secret's name as the audit log takes one: at most 64 characters.
fn name_of(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests;
