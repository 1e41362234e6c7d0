//! `hardshell secret put|list|rm`. Values go in, never come out.

use std::io::{IsTerminal, Read};

use anyhow::{Context as _, bail};
use chrono::SecondsFormat;
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{SecretRemoved, SecretStored};
use hardshell_config::LoadedConfig;
use hardshell_secrets::{MAX_SECRET_BYTES, PutOutcome, SecretName, SecretStore, SecretValue};
use hardshell_storage::MasterKey;
use zeroize::Zeroizing;

use crate::cli::{Global, SecretCommand};
use crate::context;

pub async fn run(global: &Global, command: &SecretCommand) -> anyhow::Result<()> {
    // Only the local secret store is opened: `put` must work before the state
    // store's credentials exist, since they may be the very secret being stored.
    let loaded = context::load_config(global)?;
    let master = hardshell_storage::MasterKey::load(&context::master_key_source(global, &loaded))?;
    let secrets = context::open_secrets(&loaded, &master).await?;
    match command {
        SecretCommand::Put { name } => {
            let name = SecretName::parse(name)?;
            let replaced = put(&secrets, &name).await?;
            let event = AuditEvent::SecretStored(SecretStored {
                name: name.clone(),
                replaced,
                actor: None,
            });
            audit(&loaded, &master, &secrets, event).await;
            Ok(())
        }
        SecretCommand::List => list(&secrets).await,
        SecretCommand::Rm { name } => {
            let name = SecretName::parse(name)?;
            remove(&secrets, &name).await?;
            let event = AuditEvent::SecretRemoved(SecretRemoved { name, actor: None });
            audit(&loaded, &master, &secrets, event).await;
            Ok(())
        }
    }
}

/// Records a secret change in the audit log if the log can be reached. It may not
/// be: the state store's own credentials can be the secret being stored. The
/// change stands either way (whoever runs this holds the master key), and a
/// warning says it went unrecorded.
pub(crate) async fn audit(
    loaded: &LoadedConfig,
    master: &MasterKey,
    secrets: &SecretStore,
    event: AuditEvent,
) {
    let recorded = async {
        // No shell runs: what is resolved here needs no leak scan.
        let mut credentials = hardshell_egress::Credentials::new(loaded, secrets);
        let store = context::open_state(loaded, master, &mut credentials).await?;
        let scope = context::audit_scope(loaded, master, &mut credentials, &store).await?;
        context::audit_cli(&scope, event).await
    }
    .await;
    if let Err(e) = recorded {
        eprintln!("warning: the change was not recorded in the audit log: {e:#}");
    }
}

/// Stores the value; `true` if it replaced an existing one.
async fn put(secrets: &SecretStore, name: &SecretName) -> anyhow::Result<bool> {
    let value = SecretValue::new(read_value(name)?)?;
    let outcome = secrets.put(name, &value).await?;
    match outcome {
        PutOutcome::Created => println!("stored secret {name}"),
        PutOutcome::Replaced => println!("replaced secret {name}"),
    }
    Ok(outcome == PutOutcome::Replaced)
}

/// From the terminal without echo, or all of a piped standard input minus one
/// trailing newline.
fn read_value(name: &SecretName) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let typed = Zeroizing::new(
            rpassword::prompt_password(format!("value for {name} (input hidden): "))
                .context("reading the value")?,
        );
        return Ok(Zeroizing::new(typed.as_bytes().to_vec()));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    // One byte over the limit is enough to know the value is too large.
    stdin
        .lock()
        .take(MAX_SECRET_BYTES as u64 + 2)
        .read_to_end(&mut bytes)
        .context("reading the value from standard input")?;
    // Truncation leaves the dropped bytes in spare capacity, which Zeroizing wipes too.
    let keep = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .map_or(bytes.len(), <[u8]>::len);
    bytes.truncate(keep);
    if bytes.is_empty() {
        bail!("no value on standard input for {name}");
    }
    Ok(bytes)
}

async fn list(secrets: &SecretStore) -> anyhow::Result<()> {
    let infos = secrets.list().await?;
    if infos.is_empty() {
        println!("no secrets");
        return Ok(());
    }
    let width = infos
        .iter()
        .map(|i| i.name.as_str().len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:width$}  {:20}  {:20}", "NAME", "CREATED", "UPDATED");
    for info in infos {
        println!(
            "{:width$}  {:20}  {:20}",
            info.name.as_str(),
            info.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            info.updated_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
    }
    Ok(())
}

async fn remove(secrets: &SecretStore, name: &SecretName) -> anyhow::Result<()> {
    if !secrets.remove(name).await? {
        bail!("no secret named {name}");
    }
    println!("removed secret {name}");
    Ok(())
}
