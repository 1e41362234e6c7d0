//! `hardshell audit verify|tail`: prove the logs intact; read them as they grow.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use anyhow::bail;
use hardshell_audit::{LogId, Tail, verify};
use hardshell_storage::Scope;

use crate::cli::{AuditCommand, Global};
use crate::context;

pub async fn run(global: &Global, command: &AuditCommand) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let master = hardshell_storage::MasterKey::load(&context::master_key_source(global, &loaded))?;
    let secrets = context::open_secrets(&loaded, &master).await?;
    let store = context::open_state(&loaded, &master, &secrets).await?;
    let scope = context::audit_scope(&loaded, &master, &secrets, &store).await?;
    match command {
        AuditCommand::Verify { log } => verify_logs(&scope, log.as_deref()).await,
        AuditCommand::Tail { log, from, follow } => {
            tail(&scope, log.as_deref(), *from, *follow).await
        }
    }
}

/// Every log id present in the audit scope (`<id>/head`, `<id>/segments/...`).
async fn log_ids(scope: &Scope) -> anyhow::Result<Vec<LogId>> {
    let mut ids = BTreeSet::new();
    for entry in scope.list().await? {
        if let Some((first, _)) = entry.key.as_str().split_once('/') {
            ids.insert(first.to_owned());
        }
    }
    ids.iter().map(|id| Ok(LogId::new(id)?)).collect()
}

async fn verify_logs(scope: &Scope, only: Option<&str>) -> anyhow::Result<()> {
    let ids = match only {
        Some(id) => vec![LogId::new(id)?],
        None => log_ids(scope).await?,
    };
    if ids.is_empty() {
        println!("no audit logs yet");
        return Ok(());
    }
    let mut broken = 0;
    for id in &ids {
        let report = verify(scope, id).await?;
        if report.is_intact() {
            println!(
                "{id}: intact, {} records in {} segments, last seq {}",
                report.records,
                report.segments,
                report
                    .last_seq
                    .map_or_else(|| "-".to_owned(), |seq| seq.to_string())
            );
        } else {
            broken += 1;
            println!("{id}: NOT intact, {} findings:", report.findings.len());
            for finding in &report.findings {
                println!("  {finding}");
            }
        }
    }
    if broken > 0 {
        bail!("{broken} of {} audit logs failed verification", ids.len());
    }
    Ok(())
}

async fn tail(scope: &Scope, log: Option<&str>, from: u64, follow: bool) -> anyhow::Result<()> {
    let id = match log {
        Some(id) => LogId::new(id)?,
        None => context::log_id("edge")?,
    };
    let mut tail = Tail::new(scope, &id, from.max(1))?;
    loop {
        let records = if follow {
            tail.follow(Duration::from_millis(500)).await?
        } else {
            tail.read().await?
        };
        // One JSON object per line, exactly as stored (the line ends in '\n').
        let mut out = std::io::stdout().lock();
        for record in &records {
            out.write_all(&record.to_line()?)?;
        }
        out.flush()?;
        if !follow {
            return Ok(());
        }
    }
}
