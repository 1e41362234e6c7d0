//! `hardshell audit verify|tail`: prove the logs intact; read them as they grow.

use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

use anyhow::bail;
use hardshell_audit::{LogId, Tail, verify};
use hardshell_egress::Credentials;
use hardshell_storage::Scope;

use crate::cli::{AuditCommand, Global};
use crate::context;

pub async fn run(global: &Global, command: &AuditCommand) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let master = hardshell_storage::MasterKey::load(&context::master_key_source(global, &loaded))?;
    let secrets = context::open_secrets(&loaded, &master).await?;
    // No shell runs: what is resolved here needs no leak scan.
    let mut credentials = Credentials::new(&loaded, &secrets);
    let store = context::open_state(&loaded, &master, &mut credentials).await?;
    let scope = context::audit_scope(&loaded, &master, &mut credentials, &store).await?;
    match command {
        AuditCommand::Verify { log } => verify_logs(&scope, log.as_deref()).await,
        AuditCommand::Tail { log, from, follow } => {
            tail(&scope, log.as_deref(), *from, *follow).await
        }
    }
}

async fn verify_logs(scope: &Scope, only: Option<&str>) -> anyhow::Result<()> {
    let ids = match only {
        Some(id) => vec![LogId::new(id)?],
        None => hardshell_audit::log_ids(scope).await?,
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
        // One JSON object per line, as stored (the line ends in '\n'), but
        // see `shown`.
        let mut out = std::io::stdout().lock();
        for record in &records {
            out.write_all(shown(&record.to_line()?).as_bytes())?;
        }
        out.flush()?;
        if !follow {
            return Ok(());
        }
    }
}

/// A stored line as `tail` prints it: unchanged, unless a string in it holds
/// a character that would act on the terminal instead of being shown. JSON
/// escapes the C0 controls but not DEL, the C1 controls (CSI, OSC) or the
/// bidirectional ones (U+202E), and some strings are text a shell wrote
/// (free text in records from before a field was checked). Those are written
/// as JSON `\uXXXX` escapes: the line still parses to the same record, but
/// its bytes (and so `sha256sum` of it) differ; `audit verify` checks the
/// stored bytes. Outside strings a record line is plain ASCII.
fn shown(line: &[u8]) -> Cow<'_, str> {
    // The line's own newline ends it; JSON has escaped any other.
    let acts = |c: char| c != '\n' && crate::terminal::disturbs(c);
    let line = String::from_utf8_lossy(line);
    if !line.chars().any(acts) {
        return line;
    }
    let mut shown = String::with_capacity(line.len() + 16);
    for c in line.chars() {
        if acts(c) {
            // Every such character is in the Basic Multilingual Plane.
            shown.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn a_tailed_line_is_printed_as_stored_when_nothing_in_it_acts_on_the_terminal() {
        let line = "{\"seq\":1,\"event\":{\"from\":\"a\\u001b[2J ünïcode\"}}\n";
        assert_eq!(shown(line.as_bytes()), line);
    }

    #[test]
    fn terminal_controls_in_a_tailed_line_are_json_escaped() {
        let line = "{\"seq\":1,\"event\":{\"from\":\"a\u{202e}b\u{9b}2J\u{7f}\"}}\n";
        let printed = shown(line.as_bytes());
        assert!(
            !printed
                .chars()
                .any(|c| c != '\n' && crate::terminal::disturbs(c)),
            "{printed:?}"
        );
        assert!(printed.contains(r"a\u202eb\u009b2J\u007f"), "{printed}");
        let read = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        assert_eq!(read(&printed), read(line));
    }
}
