//! `hardshell state ls|snapshot|restore`: a workload's state directory as the
//! object store keeps it. The owner holds the master key, so this opens the
//! state store directly, like `memory` does; the remote layout lives in the
//! scope `workload/<name>`, the local copy under `<data_dir>/workloads/<name>/`
//! ([`LocalPaths`]), the same places `up` uses.

use std::os::unix::fs::MetadataExt as _;

use anyhow::{Context as _, bail};
use chrono::{SecondsFormat, Utc};
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{StateName, WorkloadStateRestored, WorkloadStateSnapshotted};
use hardshell_egress::Credentials;
use hardshell_state::operator::{self, Summary};
use hardshell_state::{Holder, LocalPaths, Owner, Prepared, StateError, StateSync, SyncOptions};
use hardshell_storage::{ObjectKey, Scope};

use crate::cli::{Global, StateCommand};
use crate::terminal::one_line;
use crate::{context, wiring};

pub async fn run(global: &Global, command: &StateCommand) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let master = hardshell_storage::MasterKey::load(&context::master_key_source(global, &loaded))?;
    let secrets = context::open_secrets(&loaded, &master).await?;
    // No shell runs: what is resolved here needs no leak scan.
    let mut credentials = Credentials::new(&loaded, &secrets);
    let store = context::open_state(&loaded, &master, &mut credentials).await?;
    let name = command.workload();
    let segment =
        ObjectKey::segment(name).with_context(|| format!("{name:?} is not a workload name"))?;
    let scope = store
        .root()
        .scope(&ObjectKey::parse("workload")?.join(&segment)?)?;
    if let StateCommand::Ls { .. } = command {
        return list(&scope, name).await;
    }
    // Opened before anything changes, so a change is never made that the
    // log cannot take.
    let audit = context::audit_scope(&loaded, &master, &mut credentials, &store).await?;
    let workload = StateName::new(name)?;
    match command {
        StateCommand::Ls { .. } => Ok(()),
        StateCommand::Snapshot { name: snapshot, .. } => {
            let taken = operator::snapshot(&scope, snapshot).await?;
            let event = AuditEvent::WorkloadStateSnapshotted(WorkloadStateSnapshotted {
                workload,
                // The state crate took it as a key segment: the same rule.
                snapshot: StateName::new(snapshot)?,
                generation: taken.generation,
                files: u64::try_from(taken.files).unwrap_or(u64::MAX),
                actor: None,
            });
            context::audit_cli(&audit, event)
                .await
                .context("the snapshot was taken but the audit log could not record it")?;
            println!(
                "snapshot {} of generation {} ({} files, {})",
                one_line(snapshot),
                taken.generation,
                taken.files,
                bytes(taken.bytes)
            );
            Ok(())
        }
        StateCommand::Restore {
            snapshot, owner, ..
        } => {
            let paths = LocalPaths::for_workload(&loaded.data_dir(), name);
            let volumes = mount_state_volume(&loaded, name, &paths.dir)?;
            let prepared = restore(scope, &paths, snapshot.as_deref(), *owner).await;
            if let Some(volumes) = volumes {
                volumes.unmount_all();
            }
            let prepared = prepared?;
            let (generation, files, set_aside) = match prepared {
                Prepared::Restored { generation, files } => (
                    generation,
                    Some(u64::try_from(files).unwrap_or(u64::MAX)),
                    None,
                ),
                Prepared::SetAside {
                    snapshot,
                    generation,
                    ..
                } => (generation, None, StateName::new(&snapshot).ok()),
                other => bail!("unexpected outcome of a restore: {other:?}"),
            };
            let event = AuditEvent::WorkloadStateRestored(WorkloadStateRestored {
                workload,
                snapshot: snapshot.as_deref().map(StateName::new).transpose()?,
                generation,
                files,
                set_aside,
                actor: None,
            });
            context::audit_cli(&audit, event)
                .await
                .context("the state was restored but the audit log could not record it")
        }
    }
}

/// The state directory `up` keeps on a volume of its own, mounted for the
/// restore and unmounted after: what is restored lands in the volume, not
/// under its mount point (where the next `up` would find a plain directory
/// over an existing volume, and refuse it). Already mounted (an edge was
/// killed and its volume is still attached), it is written as it is.
fn mount_state_volume(
    loaded: &hardshell_config::LoadedConfig,
    name: &str,
    dir: &std::path::Path,
) -> anyhow::Result<Option<hardshell_sandbox::volume::Volumes>> {
    let Some(config) = loaded
        .config
        .workload
        .as_ref()
        .filter(|w| w.state_dir.is_some() && name == wiring::WORKLOAD_NAME)
    else {
        return Ok(None);
    };
    if let (Ok(at), Some(Ok(parent))) = (
        std::fs::symlink_metadata(dir),
        dir.parent().map(std::fs::metadata),
    ) && at.is_dir()
        && at.dev() != parent.dev()
    {
        return Ok(None);
    }
    let volumes = wiring::open_volumes(loaded)?;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    wiring::mount_state(&volumes, config, dir)?;
    Ok(Some(volumes))
}

async fn list(scope: &Scope, workload: &str) -> anyhow::Result<()> {
    let listing = operator::list(scope).await?;
    let now = Utc::now();
    match &listing.lease {
        None => println!("lease: never taken"),
        Some(lease) if lease.is_live(now) => println!(
            "lease: held by {} until {}",
            one_line(&lease.holder),
            time(lease.expires_at)
        ),
        Some(lease) if lease.released => println!(
            "lease: free (released by {} at {})",
            one_line(&lease.holder),
            time(lease.expires_at)
        ),
        Some(lease) => println!(
            "lease: free (expired; last held by {} until {})",
            one_line(&lease.holder),
            time(lease.expires_at)
        ),
    }
    let Some(current) = &listing.current else {
        println!("no state stored yet for workload {workload}");
        return Ok(());
    };
    println!("current: generation {}", current.generation);
    println!();
    println!(
        "{:>10}  {:24}  {:>7}  {:>10}  HOLDER / ORIGIN",
        "GENERATION", "TIME", "FILES", "SIZE"
    );
    for generation in listing.generations.iter().rev() {
        row(&generation.generation.to_string(), generation);
    }
    if !listing.snapshots.is_empty() {
        println!();
        println!(
            "{:>10}  {:24}  {:>7}  {:>10}  GENERATION / ORIGIN",
            "SNAPSHOT", "TAKEN", "FILES", "SIZE"
        );
        for snapshot in &listing.snapshots {
            row(snapshot.name.as_deref().unwrap_or("?"), snapshot);
        }
    }
    Ok(())
}

fn row(label: &str, summary: &Summary) {
    let about = match (&summary.name, &summary.origin) {
        (Some(_), Some(origin)) => format!("generation {} ({origin})", summary.generation),
        (Some(_), None) => format!("generation {}", summary.generation),
        (None, Some(origin)) => format!("{} ({origin})", summary.holder),
        (None, None) => summary.holder.clone(),
    };
    // Names, holders and origins were written by other machines: shown, not obeyed.
    println!(
        "{:>10}  {:24}  {:>7}  {:>10}  {}",
        one_line(label),
        time(summary.at),
        summary.files,
        bytes(summary.bytes),
        one_line(&about)
    );
}

async fn restore(
    scope: Scope,
    paths: &LocalPaths,
    snapshot: Option<&str>,
    owner: Option<OwnerArg>,
) -> anyhow::Result<Prepared> {
    let holder = Holder::load_or_create(&paths.holder)?;
    let owner = match owner {
        Some(OwnerArg(owner)) => owner,
        // Keep whoever owns the state directory now (the workload's shell
        // ids, as `up` made it); a directory not yet made gets ours.
        None => match std::fs::symlink_metadata(&paths.dir) {
            Ok(meta) => Owner {
                uid: meta.uid(),
                gid: meta.gid(),
            },
            Err(_) => Owner::current(),
        },
    };
    let options = SyncOptions::new(paths.dir.clone(), paths.record.clone(), owner);
    let mut sync = StateSync::open(scope, holder, options).await?;
    sync.take_lease_if_idle().await.context(
        "the workload's state is in use: stop `hardshell up` on the machine holding it first",
    )?;
    let restored = sync.restore_snapshot(snapshot).await;
    let released = sync.release().await;
    let prepared = match restored {
        Ok(prepared) => prepared,
        // The local copy cannot be kept as a snapshot, and is not deleted.
        Err(
            e @ (StateError::TooManyFiles { .. }
            | StateError::TooLarge { .. }
            | StateError::FileTooLarge { .. }
            | StateError::ManifestTooLarge { .. }
            | StateError::TooDeep { .. }),
        ) => {
            return Err(anyhow::Error::from(e).context(format!(
                "nothing was changed: the local copy is past a bound, so it cannot be kept as a snapshot; move {} aside to restore without it",
                paths.dir.display()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    released?;
    let dir = paths.dir.display();
    match &prepared {
        Prepared::Restored { generation, files } => {
            println!("restored generation {generation} ({files} files) into {dir}");
        }
        Prepared::SetAside {
            snapshot,
            generation,
            ..
        } => {
            println!("restored generation {generation} into {dir}");
            println!(
                "the local copy had unsynced changes: they are kept as snapshot {}",
                one_line(snapshot)
            );
        }
        other => bail!("unexpected outcome of a restore: {other:?}"),
    }
    Ok(prepared)
}

/// `--owner UID:GID`: the host ids the restored files get.
#[derive(Debug, Clone, Copy)]
pub struct OwnerArg(pub Owner);

pub fn parse_owner(text: &str) -> Result<OwnerArg, String> {
    let (uid, gid) = text
        .split_once(':')
        .ok_or_else(|| "expected UID:GID, e.g. 100000:100000".to_owned())?;
    let number = |part: &str| {
        part.parse::<u32>()
            .map_err(|_| format!("{part:?} is not a numeric id"))
    };
    Ok(OwnerArg(Owner {
        uid: number(uid)?,
        gid: number(gid)?,
    }))
}

fn time(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}
