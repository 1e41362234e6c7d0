//! What every command needs, loaded in one order: config, master key, stores.
//!
//! Two stores, in two directories: secrets always live on this machine under
//! `<data_dir>/secrets`, always sealed; state (sessions, memory, audit) lives in
//! the configured backend. So a leaked bucket never contains a credential, the
//! bucket's own credentials can be secrets, and no scope of the state store can
//! name a secret.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hardshell_audit::{AuditError, AuditEvent, AuditLog, AuditOptions, LogId};
use hardshell_auth::identity::IdentitySigner;
use hardshell_config::{LoadedConfig, StorageBackend};
use hardshell_egress::Credentials;
use hardshell_secrets::SecretStore;
use hardshell_storage::{
    LocalOptions, Location, MASTER_KEY_ENV, MasterKey, MasterKeySource, ObjectKey, RetryOptions,
    S3Credentials, S3Options, Scope, Sealing, StorageError, Store,
};

use crate::cli::Global;

/// The object every store holds so a wrong master key is caught at start-up rather
/// than on the first read of real data.
pub const KEY_CHECK: &str = "meta/key-check";

pub fn config_path(global: &Global) -> PathBuf {
    global
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("hardshell.toml"))
}

pub fn load_config(global: &Global) -> anyhow::Result<LoadedConfig> {
    Ok(LoadedConfig::load(&config_path(global))?)
}

/// Where the master key comes from: the environment variable, then the command
/// line's file, then the config's file.
pub fn master_key_source(global: &Global, loaded: &LoadedConfig) -> MasterKeySource {
    if std::env::var_os(MASTER_KEY_ENV).is_some() {
        MasterKeySource::Env(MASTER_KEY_ENV.to_owned())
    } else if let Some(file) = &global.master_key_file {
        MasterKeySource::File(file.clone())
    } else {
        MasterKeySource::File(loaded.master_key_file())
    }
}

/// The secrets store: `<data_dir>/secrets`, always sealed. User secrets live
/// under `secrets/`; keys hardshell makes for itself under `internal/`.
pub async fn open_secrets(
    loaded: &LoadedConfig,
    master: &MasterKey,
) -> anyhow::Result<SecretStore> {
    let root = open_local_secrets(loaded, master).await?;
    Ok(SecretStore::new(root.scope(&ObjectKey::parse("secrets")?)?))
}

/// The secret store's whole root (`secrets/` and `internal/`), for backups.
pub async fn open_local_secrets(
    loaded: &LoadedConfig,
    master: &MasterKey,
) -> anyhow::Result<Scope> {
    Ok(open_local_secrets_store(loaded, master).await?.root())
}

/// The secret store itself, for what checks a store whole (`doctor`).
pub async fn open_local_secrets_store(
    loaded: &LoadedConfig,
    master: &MasterKey,
) -> anyhow::Result<Store> {
    let location = local_location(&loaded.data_dir(), "secrets");
    let store = Store::open_anchored(
        &location,
        Sealing::Envelope(master.clone()),
        &loaded.data_dir(),
        "secrets",
    )
    .await
    .context("opening the secret store")?;
    check_master_key(&store, master).await?;
    Ok(store)
}

/// The edge's identity-signing key: made on first use, kept in the secret store,
/// its public half written to `<data_dir>/edge-identity.pub` for the upstream.
pub async fn identity_signer(
    loaded: &LoadedConfig,
    master: &MasterKey,
) -> anyhow::Result<IdentitySigner> {
    let internal = open_local_secrets(loaded, master).await?;
    let key = ObjectKey::parse("internal/edge-identity")?;
    let pkcs8 = match internal.get(&key).await? {
        Some(existing) => existing.value,
        None => {
            let fresh = IdentitySigner::generate_pkcs8()?;
            match internal.create(&key, &fresh).await {
                Ok(_) => fresh,
                // Another hardshell process made one first: use theirs.
                Err(StorageError::Conflict { .. }) => internal
                    .get(&key)
                    .await?
                    .map(|object| object.value)
                    .context("the edge identity key vanished")?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    let signer = IdentitySigner::from_pkcs8(&pkcs8)?;
    let public = loaded.data_dir().join("edge-identity.pub");
    let encoded = format!("{}\n", URL_SAFE_NO_PAD.encode(signer.public_key()));
    if std::fs::read_to_string(&public).ok().as_deref() != Some(encoded.as_str()) {
        std::fs::write(&public, encoded)
            .with_context(|| format!("writing {}", public.display()))?;
    }
    Ok(signer)
}

/// The state store the config describes, with any S3 credentials resolved
/// through `credentials`.
pub async fn open_state(
    loaded: &LoadedConfig,
    master: &MasterKey,
    credentials: &mut Credentials<'_>,
) -> anyhow::Result<Store> {
    let config = &loaded.config;
    let location = match (config.storage.backend, &config.storage.s3) {
        (StorageBackend::File, _) => local_location(&loaded.data_dir(), "objects"),
        (StorageBackend::S3, Some(s3)) => {
            s3_location(loaded, "storage.s3", s3, credentials).await?
        }
        (StorageBackend::S3, None) => {
            bail!("storage.backend is \"s3\" but [storage.s3] is missing")
        }
    };
    let store = Store::open_anchored(
        &location,
        sealing(loaded, master),
        &loaded.data_dir(),
        "state",
    )
    .await
    .context("opening the state store")?;
    check_master_key(&store, master).await?;
    Ok(store)
}

fn sealing(loaded: &LoadedConfig, master: &MasterKey) -> Sealing {
    if loaded.config.dangerous.unencrypted_storage {
        Sealing::Plaintext
    } else {
        Sealing::Envelope(master.clone())
    }
}

/// An S3 table of the config (`storage.s3` or `audit.s3`) as a storage location,
/// its credentials resolved from secrets or the environment.
async fn s3_location(
    loaded: &LoadedConfig,
    table: &str,
    s3: &hardshell_config::S3,
    credentials: &mut Credentials<'_>,
) -> anyhow::Result<Location> {
    let prefix = match &s3.prefix {
        Some(prefix) => Some(
            ObjectKey::parse(prefix)
                .map_err(|e| loaded.error_at(&format!("{table}.prefix"), e.to_string()))?,
        ),
        None => None,
    };
    let access_key_id = &format!("{table}.access_key_id");
    let secret_access_key = &format!("{table}.secret_access_key");
    Ok(Location::S3(S3Options {
        endpoint: s3.endpoint.clone(),
        bucket: s3.bucket.clone(),
        region: s3.region.clone(),
        path_style: s3.path_style,
        prefix,
        credentials: S3Credentials {
            access_key_id: credentials
                .resolve(access_key_id, &s3.access_key_id)
                .await?,
            secret_access_key: credentials
                .resolve(secret_access_key, &s3.secret_access_key)
                .await?,
        },
        allow_http: loaded.config.dangerous.storage_allow_http,
        retry: RetryOptions {
            max_retries: s3.max_retries,
            timeout: std::time::Duration::from_secs(s3.retry_timeout_secs),
            ..RetryOptions::default()
        },
    }))
}

/// Where audit logs live: the `[audit.s3]` bucket, or `audit/` in the state store.
pub async fn audit_scope(
    loaded: &LoadedConfig,
    master: &MasterKey,
    credentials: &mut Credentials<'_>,
    state: &Store,
) -> anyhow::Result<Scope> {
    match &loaded.config.audit.s3 {
        None => Ok(state.root().scope(&ObjectKey::parse("audit")?)?),
        Some(s3) => {
            let location = s3_location(loaded, "audit.s3", s3, credentials).await?;
            let store = Store::open_anchored(
                &location,
                sealing(loaded, master),
                &loaded.data_dir(),
                "audit",
            )
            .await
            .context("opening the audit bucket")?;
            check_master_key(&store, master).await?;
            Ok(store.root())
        }
    }
}

/// The id in the egress CA's name: this machine's host name, so an operator
/// who trusts several installs' CAs can tell them apart.
pub fn install_id() -> hardshell_intercept::InstallId {
    hardshell_intercept::InstallId::of_host(&host_name())
}

/// This machine's host name, as the kernel has it (empty if unreadable).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default()
}

/// The audit log id for this host and role: `edge-<host>` or `cli-<host>`. Each
/// writer needs its own log; a restart continues the same one.
pub fn log_id(role: &str) -> anyhow::Result<LogId> {
    let host: String = host_name()
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    let host = if host.is_empty() {
        "host".to_owned()
    } else {
        host
    };
    Ok(LogId::new(&format!("{role}-{host}"))?)
}

/// Records an action taken on the host command line, durably, in the `cli-<host>`
/// log. Two commands at once may race for the log; the loser reopens and retries.
pub async fn audit_cli(scope: &Scope, event: AuditEvent) -> anyhow::Result<()> {
    let id = log_id("cli")?;
    let mut last = None;
    for _ in 0..5 {
        let log = AuditLog::open(scope, &id, AuditOptions::default()).await?;
        match log.record_durable(event.clone()).await {
            Ok(_) => {
                log.shutdown().await?;
                return Ok(());
            }
            Err(e @ AuditError::ConcurrentWriter { .. }) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.map_or_else(|| anyhow::anyhow!("audit log busy"), anyhow::Error::from))
}

fn local_location(data_dir: &Path, name: &str) -> Location {
    Location::Local(LocalOptions {
        objects: data_dir.join(name),
        locks: data_dir.join("locks").join(name),
    })
}

/// Confirms `master` is the key this store was sealed with, writing the check
/// object on first use.
async fn check_master_key(store: &Store, master: &MasterKey) -> anyhow::Result<()> {
    if !store.is_encrypted() {
        return Ok(());
    }
    let root = store.root();
    let key = ObjectKey::parse(KEY_CHECK)?;
    match root.get(&key).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => match root.create(&key, b"hardshell").await {
            Ok(_) | Err(StorageError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        },
        Err(StorageError::Unseal { source, .. }) => bail!(
            "the master key (id {}) cannot open the data at {}: {source}; check {MASTER_KEY_ENV}, \
             --master-key-file or master_key_file",
            master.id(),
            store.endpoint()
        ),
        Err(e) => Err(e.into()),
    }
}
