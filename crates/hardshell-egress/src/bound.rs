//! The values the exec broker swaps in for `[egress.secrets]`, kept current:
//! an operator who rotates a token (`hardshell secret put`) expects the next
//! request to carry the new one, not the value the edge read at its start.
//! Read once at start (a missing one stops it), then again whenever the
//! store's fingerprint changes, checked at most once per interval by a task
//! of its own.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hardshell_config::LoadedConfig;
use hardshell_secrets::{SecretName, SecretStore, SecretsError};
use zeroize::Zeroizing;

use crate::EgressError;

/// The bound secrets' current values, by name.
#[derive(Clone)]
pub struct BoundValues {
    values: Arc<RwLock<BTreeMap<String, Zeroizing<String>>>>,
}

impl std::fmt::Debug for BoundValues {
    /// Names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("BoundValues")
            .field("names", &values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl BoundValues {
    /// Reads every secret `[egress.secrets]` binds from `secrets` now (a
    /// missing one, or one that is not text, is an error at its config key)
    /// and, while the runtime lives, again each time the store changes,
    /// checked every `every`.
    pub async fn follow(
        loaded: &LoadedConfig,
        secrets: &SecretStore,
        every: Duration,
    ) -> Result<Self, EgressError> {
        let mut names = Vec::new();
        for name in loaded.config.egress.secrets.keys() {
            let key = format!("egress.secrets.{name}");
            let parsed =
                SecretName::parse(name).map_err(|e| loaded.error_at(&key, e.to_string()))?;
            names.push((parsed, key));
        }
        // Taken before the values are read: a change after this point is
        // seen by the first check. Taken after (once the watcher runs), a
        // secret rotated in between would match its baseline and never be
        // read again.
        let baseline = secrets.fingerprint().await.ok();
        let mut values = BTreeMap::new();
        for (name, key) in &names {
            let value = read(secrets, name)
                .await?
                .ok_or_else(|| {
                    loaded.error_at(key, format!("no such secret: hardshell secret put {name}"))
                })?
                .ok_or_else(|| loaded.error_at(key, "the secret is not text"))?;
            values.insert(name.to_string(), value);
        }
        let bound = Self {
            values: Arc::new(RwLock::new(values)),
        };
        if !names.is_empty() {
            let names = names.into_iter().map(|(name, _)| name).collect();
            tokio::spawn(bound.clone().watch(secrets.clone(), names, baseline, every));
        }
        Ok(bound)
    }

    /// Reads `names` from `secrets` now (one missing, or not text, is
    /// simply absent: a module's placeholder for it is refused until it is
    /// stored) and, while the runtime lives, again each time the store
    /// changes, checked every `every`.
    pub async fn follow_names(
        names: &[SecretName],
        secrets: &SecretStore,
        every: Duration,
    ) -> Result<Self, EgressError> {
        // Before the values are read: see `follow`.
        let baseline = secrets.fingerprint().await.ok();
        let mut values = BTreeMap::new();
        for name in names {
            if let Some(Some(value)) = read(secrets, name).await? {
                values.insert(name.to_string(), value);
            }
        }
        let bound = Self {
            values: Arc::new(RwLock::new(values)),
        };
        if !names.is_empty() {
            tokio::spawn(
                bound
                    .clone()
                    .watch(secrets.clone(), names.to_vec(), baseline, every),
            );
        }
        Ok(bound)
    }

    /// `name`'s value now, if it is bound and stored.
    pub fn get(&self, name: &str) -> Option<String> {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        values.get(name).map(|value| value.to_string())
    }

    /// Reads the bound values again whenever the store's fingerprint
    /// differs from `seen` (at first, the one taken before the values were
    /// read). A store that cannot be read keeps the last values; a
    /// secret removed is removed here too (a revoked token is not sent).
    async fn watch(
        self,
        secrets: SecretStore,
        names: Vec<SecretName>,
        mut seen: Option<String>,
        every: Duration,
    ) {
        loop {
            tokio::time::sleep(every).await;
            let now = match secrets.fingerprint().await {
                Ok(now) => now,
                Err(error) => {
                    tracing::warn!(%error, "the secret store could not be listed; the bound secrets keep their values");
                    continue;
                }
            };
            if seen.as_deref() == Some(now.as_str()) {
                continue;
            }
            let mut fresh = BTreeMap::new();
            let mut complete = true;
            for name in &names {
                match read(&secrets, name).await {
                    Ok(Some(Some(value))) => {
                        fresh.insert(name.to_string(), value);
                    }
                    Ok(Some(None)) => {
                        tracing::warn!(secret = %name, "a bound secret is no longer text; it is not swapped in");
                    }
                    Ok(None) => {
                        tracing::warn!(secret = %name, "a bound secret was removed; its placeholder is refused until it is stored again");
                    }
                    Err(error) => {
                        tracing::warn!(secret = %name, %error, "a bound secret could not be read; the last values are kept");
                        complete = false;
                        break;
                    }
                }
            }
            if complete {
                *self.values.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                seen = Some(now);
            }
        }
    }
}

/// `name`'s value trimmed, as every credential the config names is used
/// (one stored by `echo … | hardshell secret set` ends in a newline), which
/// is also the form the leak scan holds; `Some(None)` when it is not text.
async fn read(
    secrets: &SecretStore,
    name: &SecretName,
) -> Result<Option<Option<Zeroizing<String>>>, SecretsError> {
    let Some(value) = secrets.get(name).await? else {
        return Ok(None);
    };
    Ok(Some(
        value
            .expose_str()
            .map(|text| Zeroizing::new(text.trim().to_owned())),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use hardshell_secrets::SecretValue;
    use hardshell_testkit::TestStore;

    fn config() -> LoadedConfig {
        LoadedConfig::parse(
            "[egress.secrets.API_TOKEN]\nhosts = [\"api.test\"]\n",
            std::path::Path::new("/tmp/hardshell.toml"),
        )
        .unwrap()
    }

    async fn put(secrets: &SecretStore, name: &str, value: &str) {
        let value = SecretValue::new(Zeroizing::new(value.as_bytes().to_vec())).unwrap();
        secrets
            .put(&SecretName::parse(name).unwrap(), &value)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_rotated_bound_secret_is_swapped_in_from_the_next_check_and_a_removed_one_not_at_all()
    {
        let store = TestStore::new().await;
        let secrets = SecretStore::new(store.scope("secrets"));
        put(&secrets, "API_TOKEN", "first-value-1234\n").await;
        let loaded = config();
        let every = Duration::from_millis(20);
        let bound = BoundValues::follow(&loaded, &secrets, every).await.unwrap();
        assert_eq!(bound.get("API_TOKEN").as_deref(), Some("first-value-1234"));
        assert_eq!(bound.get("OTHER"), None);
        assert!(!format!("{bound:?}").contains("first-value"));

        put(&secrets, "API_TOKEN", "second-value-5678").await;
        let rotated = async {
            while bound.get("API_TOKEN").as_deref() != Some("second-value-5678") {
                tokio::time::sleep(every).await;
            }
        };
        // A bound on waiting for the follower, not on its speed: a loaded CI
        // machine once took more than 5 s to run its next check.
        tokio::time::timeout(Duration::from_secs(60), rotated)
            .await
            .unwrap();

        secrets
            .remove(&SecretName::parse("API_TOKEN").unwrap())
            .await
            .unwrap();
        let removed = async {
            while bound.get("API_TOKEN").is_some() {
                tokio::time::sleep(every).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), removed)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_bound_secret_missing_at_start_stops_the_start_at_its_key() {
        let store = TestStore::new().await;
        let secrets = SecretStore::new(store.scope("secrets"));
        let loaded = config();
        let error = BoundValues::follow(&loaded, &secrets, Duration::from_secs(1))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("egress.secrets.API_TOKEN") && error.contains("no such secret"),
            "{error}"
        );
    }
}
