//! `hardshell backup create|restore`: the deployment's stores as one archive
//! (`hardshell-backup`), and back into empty ones.

use std::fs::OpenOptions;
use std::io::{BufRead as _, BufReader, BufWriter, IsTerminal as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

use anyhow::{Context as _, bail};
use chrono::SecondsFormat;
use hardshell_backup::{Archive, Kind, Writer};
use hardshell_config::LoadedConfig;
use hardshell_egress::Credentials;
use hardshell_secrets::SecretStore;
use hardshell_storage::{MasterKey, MasterKeySource, ObjectKey, Scope, join_frames, split_frames};
use zeroize::Zeroizing;

use crate::cli::{BackupCommand, Global};
use crate::context;

pub async fn run(global: &Global, command: &BackupCommand) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    match command {
        BackupCommand::Create {
            file,
            with_master_key,
        } => create(global, &loaded, file, *with_master_key).await,
        BackupCommand::Restore { file } => restore(global, &loaded, file).await,
    }
}

/// A passphrase: typed twice at a terminal, or one line of standard input.
fn passphrase(confirm: bool) -> anyhow::Result<Zeroizing<String>> {
    if std::io::stdin().is_terminal() {
        let first = Zeroizing::new(rpassword::prompt_password(
            "passphrase for the master key (input hidden): ",
        )?);
        if confirm {
            let again = Zeroizing::new(rpassword::prompt_password("the same again: ")?);
            if *first != *again {
                bail!("the two passphrases differ");
            }
        }
        return Ok(first);
    }
    let mut line = Zeroizing::new(String::new());
    BufReader::new(std::io::stdin().lock()).read_line(&mut line)?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_owned());
    if trimmed.is_empty() {
        bail!("no passphrase on standard input");
    }
    Ok(trimmed)
}

/// The stores of this config, in the order a restore needs them: the secrets
/// first (they may hold the state store's own credentials).
struct Stores {
    secrets: Scope,
    state: Option<Scope>,
    audit: Option<Scope>,
}

async fn open_state(
    loaded: &LoadedConfig,
    master: &MasterKey,
    secrets: &SecretStore,
) -> anyhow::Result<(Scope, Option<Scope>)> {
    // No shell runs: what is resolved here needs no leak scan.
    let mut credentials = Credentials::new(loaded, secrets);
    let state = context::open_state(loaded, master, &mut credentials).await?;
    let audit = match &loaded.config.audit.s3 {
        Some(_) => Some(context::audit_scope(loaded, master, &mut credentials, &state).await?),
        None => None,
    };
    Ok((state.root(), audit))
}

async fn create(
    global: &Global,
    loaded: &LoadedConfig,
    file: &Path,
    with_master_key: bool,
) -> anyhow::Result<()> {
    if file.exists() {
        bail!("{} exists: not overwriting it", file.display());
    }
    let master = MasterKey::load(&context::master_key_source(global, loaded))?;
    let secrets_root = context::open_local_secrets(loaded, &master).await?;
    let secrets = context::open_secrets(loaded, &master).await?;
    let (state, audit) = open_state(loaded, &master, &secrets).await?;
    let stores = Stores {
        secrets: secrets_root,
        state: Some(state),
        audit,
    };
    let passphrase = match with_master_key {
        true => Some(passphrase(true)?),
        false => None,
    };
    // Written beside the file and renamed over nothing: a failure leaves no
    // half archive under the name asked for.
    let partial = file.with_extension("partial");
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let written = async {
        let now = chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut writer = Writer::create(
            BufWriter::new(out),
            &master,
            &now,
            passphrase.as_deref().map(String::as_str),
        )?;
        let mut counts = [0u64; 4];
        for (i, (kind, scope)) in [
            (Kind::Secrets, Some(&stores.secrets)),
            (Kind::State, stores.state.as_ref()),
            (Kind::Audit, stores.audit.as_ref()),
        ]
        .into_iter()
        .enumerate()
        {
            let i = if kind == Kind::Audit { 3 } else { i };
            let Some(scope) = scope else { continue };
            for entry in scope.list().await? {
                // Each store's key check is made again by opening it.
                if entry.key.as_str() == context::KEY_CHECK {
                    continue;
                }
                if let Some(object) = scope.get(&entry.key).await? {
                    writer.add(kind, entry.key.as_str(), &object.value)?;
                    counts[i] += 1;
                }
            }
            if kind == Kind::State {
                for log in scope.logs().await? {
                    let records = read_log(scope, &log.key).await?;
                    let value = join_frames(records.iter().map(|r| r.as_slice()));
                    writer.add(Kind::StateLog, log.key.as_str(), &value)?;
                    counts[2] += 1;
                }
            }
        }
        let out = writer.finish()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        anyhow::Ok(counts)
    }
    .await;
    let counts = match written {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    // A link never replaces a file: one made meanwhile under that name stays.
    // Where the file system has no links, a rename, after one more look.
    match std::fs::hard_link(&partial, file) {
        Ok(()) => {
            let _ = std::fs::remove_file(&partial);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&partial);
            bail!("{} exists: not overwriting it", file.display());
        }
        Err(_) if !file.exists() => {
            std::fs::rename(&partial, file).with_context(|| format!("naming {}", file.display()))?
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "naming {} (the archive is kept as {})",
                file.display(),
                partial.display()
            )));
        }
    }
    println!(
        "wrote {}: {} secrets-store objects, {} state objects, {} state logs, {} audit-bucket objects, sealed under master key {}",
        file.display(),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        master.id()
    );
    match with_master_key {
        true => println!(
            "the master key is in it, wrapped by the passphrase: keep the passphrase apart from the file"
        ),
        false => println!(
            "the master key is not in it: restoring needs that key, so keep a copy of it apart"
        ),
    }
    Ok(())
}

/// Every record of the log `key`, oldest first.
async fn read_log(scope: &Scope, key: &ObjectKey) -> anyhow::Result<Vec<Zeroizing<Vec<u8>>>> {
    let mut records = Vec::new();
    loop {
        let batch = scope
            .read_log(key, records.len() as u64, usize::MAX)
            .await?;
        if batch.is_empty() {
            return Ok(records);
        }
        records.extend(batch);
    }
}

/// Every key of `scope` but its key check.
async fn objects(scope: &Scope) -> anyhow::Result<Vec<ObjectKey>> {
    Ok(scope
        .list()
        .await?
        .into_iter()
        .map(|e| e.key)
        .filter(|k| k.as_str() != context::KEY_CHECK)
        .collect())
}

async fn restore(global: &Global, loaded: &LoadedConfig, file: &Path) -> anyhow::Result<()> {
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut archive = Archive::open(std::io::BufReader::new(input))?;
    let wanted = archive.header().master_key_id.clone();
    let source = context::master_key_source(global, loaded);
    let (master, write_key_to) = match MasterKey::load(&source) {
        Ok(master) if master.id().to_string() == wanted => (master, None),
        Ok(master) => bail!(
            "this archive was made under master key {wanted}, and {source} holds {}: \
             restore into a data directory without a master key, or give that key",
            master.id()
        ),
        Err(_) if archive.header().master_key.is_some() => {
            let MasterKeySource::File(path) = &source else {
                bail!("{source} holds no master key; unset it to use the archive's own copy");
            };
            let master = archive.master_key(&passphrase(false)?)?;
            (master, Some(path.clone()))
        }
        Err(e) => {
            return Err(anyhow::Error::from(e).context(format!(
                "the archive holds no master key: restoring needs master key {wanted}"
            )));
        }
    };
    let data_dir = loaded.data_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let secrets_root = context::open_local_secrets(loaded, &master).await?;
    if !objects(&secrets_root).await?.is_empty() {
        bail!(
            "the secret store in {} is not empty: restore goes into empty stores only",
            data_dir.display()
        );
    }
    if let Some(path) = &write_key_to {
        master.write_new_file(path)?;
        println!(
            "wrote the archive's master key {} to {}",
            master.id(),
            path.display()
        );
    }
    let restored = restore_records(loaded, &master, &mut archive, &secrets_root).await;
    match restored {
        Ok(counts) => {
            println!(
                "restored {} secrets-store objects, {} state objects, {} state logs, {} audit-bucket objects from {}",
                counts[0],
                counts[1],
                counts[2],
                counts[3],
                file.display()
            );
            println!("next: hardshell audit verify, then hardshell up");
            Ok(())
        }
        Err(e) => {
            if let Some(path) = &write_key_to {
                let _ = std::fs::remove_file(path);
            }
            Err(e.context("the restore stopped; what it wrote was taken back"))
        }
    }
}

/// Writes the records into the stores (each object created, never replaced);
/// on any failure deletes what it wrote, so the stores are as empty as they
/// were. The secrets come first in an archive: the state store is opened
/// after them, with the credentials they may hold.
async fn restore_records(
    loaded: &LoadedConfig,
    master: &MasterKey,
    archive: &mut Archive<std::io::BufReader<std::fs::File>>,
    secrets_root: &Scope,
) -> anyhow::Result<[u64; 4]> {
    // What was written, to take back on failure: an object, or a log (true).
    let mut written: Vec<(Scope, ObjectKey, bool)> = Vec::new();
    let outcome = async {
        let mut counts = [0u64; 4];
        let mut state: Option<(Scope, Option<Scope>)> = None;
        while let Some(record) = archive.next(master)? {
            let key = ObjectKey::parse(&record.key)
                .with_context(|| format!("the archive names an object {:?}", record.key))?;
            let (scope, slot) = match record.kind {
                Kind::Secrets => (secrets_root.clone(), 0),
                Kind::State | Kind::Audit | Kind::StateLog => {
                    if state.is_none() {
                        let secrets = context::open_secrets(loaded, master).await?;
                        let (root, audit) = open_state(loaded, master, &secrets).await?;
                        if !objects(&root).await?.is_empty() || !root.logs().await?.is_empty() {
                            bail!("the state store is not empty: restore goes into empty stores only");
                        }
                        if let Some(audit) = &audit
                            && !objects(audit).await?.is_empty()
                        {
                            bail!("the audit bucket is not empty: restore goes into empty stores only");
                        }
                        state = Some((root, audit));
                    }
                    let Some((root, audit)) = &state else {
                        unreachable!("opened just above")
                    };
                    match record.kind {
                        Kind::Audit => (
                            audit.clone().context(
                                "the archive has an audit bucket's objects, and this config has no [audit.s3]",
                            )?,
                            3,
                        ),
                        Kind::StateLog => (root.clone(), 2),
                        _ => (root.clone(), 1),
                    }
                }
            };
            if record.kind == Kind::StateLog {
                let records = split_frames(&record.value)
                    .with_context(|| format!("the archive's log {} is cut short", record.key))?;
                if !scope.read_log(&key, 0, 1).await?.is_empty() {
                    bail!("the archive holds the log {} twice", record.key);
                }
                written.push((scope.clone(), key.clone(), true));
                for (at, bytes) in (0u64..).zip(&records) {
                    scope
                        .append(&key, at, bytes)
                        .await
                        .with_context(|| format!("writing {}", record.key))?;
                }
            } else {
                scope
                    .create(&key, &record.value)
                    .await
                    .with_context(|| format!("writing {}", record.key))?;
                written.push((scope, key, false));
            }
            counts[slot] += 1;
        }
        anyhow::Ok(counts)
    }
    .await;
    if outcome.is_err() {
        for (scope, key, log) in written.iter().rev() {
            let _ = match log {
                true => scope.delete_log(key).await,
                false => scope.delete(key).await,
            };
        }
    }
    outcome
}
