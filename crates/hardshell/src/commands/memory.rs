//! `hardshell memory list|show|edit|write|delete`: the agent's memory notes as
//! the markdown files they are. The owner holds the master key, so this reads
//! the agent's storage scope directly, like the edge does; every change is
//! audited. An edit is written only if the note did not change while the
//! editor was open, and the edited text is kept on disk when it cannot be.

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use hardshell_agent::{MAX_NOTE_FILE_BYTES, MemoryError, Notebook};
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{MemoryNoteChanged, NoteChange};
use hardshell_egress::Credentials;
use hardshell_storage::{ObjectKey, Scope};

use crate::cli::{Global, MemoryCommand};
use crate::context;

pub async fn run(global: &Global, command: &MemoryCommand) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let master = hardshell_storage::MasterKey::load(&context::master_key_source(global, &loaded))?;
    let secrets = context::open_secrets(&loaded, &master).await?;
    // No shell runs: what is resolved here needs no leak scan.
    let mut credentials = Credentials::new(&loaded, &secrets);
    let store = context::open_state(&loaded, &master, &mut credentials).await?;
    let notebook = Notebook::new(&store.root().scope(&ObjectKey::parse("agent")?)?)?;
    let audit = context::audit_scope(&loaded, &master, &mut credentials, &store).await?;
    match command {
        MemoryCommand::List => list(&notebook).await,
        MemoryCommand::Show { name } => match notebook.read(name).await? {
            Some(file) => {
                // The agent wrote it: shown, not obeyed by the terminal.
                let text = crate::terminal::printable(&file.text);
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                if !file.text.ends_with('\n') {
                    out.write_all(b"\n")?;
                }
                Ok(())
            }
            None => bail!("no note named {name:?} (see `hardshell memory list`)"),
        },
        MemoryCommand::Edit { name } => edit(&notebook, &audit, name).await,
        MemoryCommand::Write { name } => {
            let mut text = String::new();
            std::io::stdin()
                .take(u64::try_from(MAX_NOTE_FILE_BYTES).unwrap_or(u64::MAX) + 1)
                .read_to_string(&mut text)
                .context("reading the note from standard input (it must be UTF-8)")?;
            let current = notebook.read(name).await?;
            notebook
                .write(name, &text, current.as_ref().map(|file| &file.version))
                .await?;
            changed(&audit, name, NoteChange::Written).await?;
            println!("wrote note {name}");
            Ok(())
        }
        MemoryCommand::Delete { name } => {
            if !notebook.delete(name).await? {
                bail!("no note named {name:?} (see `hardshell memory list`)");
            }
            changed(&audit, name, NoteChange::Deleted).await?;
            println!("deleted note {name}");
            Ok(())
        }
    }
}

async fn list(notebook: &Notebook) -> anyhow::Result<()> {
    let notes = notebook.list().await?;
    if notes.is_empty() {
        println!("no memory notes yet");
    }
    for note in notes {
        let tags = if note.tags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", crate::terminal::one_line(&note.tags.join(", ")))
        };
        // Slug, title and tags are the agent's words.
        println!(
            "{:40}  {:>7}  {}{tags}",
            crate::terminal::one_line(&note.slug),
            format!("{}B", note.bytes),
            crate::terminal::one_line(&note.title)
        );
    }
    Ok(())
}

async fn changed(audit: &Scope, note: &str, change: NoteChange) -> anyhow::Result<()> {
    let event = AuditEvent::MemoryNoteChanged(MemoryNoteChanged {
        note: note.to_owned(),
        change,
        actor: None,
    });
    context::audit_cli(audit, event)
        .await
        .context("the note was changed but the audit log could not record it")
}

async fn edit(notebook: &Notebook, audit: &Scope, name: &str) -> anyhow::Result<()> {
    // Refuse a bad name before an editor opens.
    let current = notebook.read(name).await?;
    let original = match &current {
        Some(file) => file.text.clone(),
        None => format!("# {name}\n\n"),
    };
    // A private directory: notes are personal, and other users must not read
    // them or swap the file while the editor has it.
    let dir = tempfile::Builder::new()
        .prefix("hardshell-note-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .context("creating a private directory for the note")?;
    let path = dir.path().join(format!("{name}.md"));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| file.write_all(original.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;

    run_editor(&path)?;
    let edited = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (it must be UTF-8)", path.display()))?;
    if edited == original {
        println!("no change to note {name}");
        return Ok(());
    }
    let written = notebook
        .write(name, &edited, current.as_ref().map(|file| &file.version))
        .await;
    if let Err(e) = written {
        let kept = keep(dir);
        return Err(match e {
            MemoryError::Changed { .. } => anyhow::anyhow!(
                "note {name} changed while you edited it, so nothing was written; your text is kept at {} (merge it with `hardshell memory edit {name}`)",
                kept.join(format!("{name}.md")).display()
            ),
            e => anyhow::Error::from(e).context(format!(
                "nothing was written; your text is kept at {}",
                kept.join(format!("{name}.md")).display()
            )),
        });
    }
    changed(audit, name, NoteChange::Written).await?;
    println!("wrote note {name}");
    Ok(())
}

/// Runs `$VISUAL`, else `$EDITOR`, else `vi`, on `path`. The variable may hold
/// arguments (`code --wait`), so it is run by the shell with the path passed as
/// a positional parameter, never spliced into the command text.
fn run_editor(path: &Path) -> anyhow::Result<()> {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".to_owned());
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("hardshell-editor")
        .arg(path)
        .status()
        .with_context(|| format!("starting the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor {editor:?} exited with {status}; nothing was written");
    }
    Ok(())
}

/// Keeps the directory on disk instead of removing it, and says where it is.
fn keep(dir: tempfile::TempDir) -> PathBuf {
    dir.keep()
}
