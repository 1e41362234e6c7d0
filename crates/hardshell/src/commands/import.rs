//! `hardshell import wrangler.toml`: a Moltworker configuration translated into
//! `hardshell.toml`, with what went where and the secrets to put.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context as _, bail};
use hardshell_import::{Options, import};

use crate::cli::ImportArgs;

/// A wrangler.toml is a few kilobytes; more is not one.
const MAX_SOURCE_BYTES: u64 = 1024 * 1024;

pub async fn run(args: &ImportArgs) -> anyhow::Result<()> {
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?
        .len();
    if size > MAX_SOURCE_BYTES {
        bail!(
            "{} is {size} bytes, over the {MAX_SOURCE_BYTES}-byte limit",
            args.file.display()
        );
    }
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let options = Options {
        allow_unpinned: args.allow_unpinned,
        host: args.host.clone(),
        extra_secrets: args
            .secret
            .iter()
            .map(|text| text.parse())
            .collect::<Result<_, _>>()?,
    };
    let imported =
        import(&text, &options).with_context(|| format!("importing {}", args.file.display()))?;

    // Written before anything is printed as done, and never over a file
    // unless asked: an existing hardshell.toml may be the only copy. OpenClaw's
    // own config goes beside it, where its [workload.seed] finds it; both are
    // checked before either is written.
    let openclaw = imported.openclaw_config.as_ref().map(|text| {
        let dir = match args.out.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        (dir.join(hardshell_import::OPENCLAW_CONFIG_FILE), text)
    });
    if !args.force {
        for path in std::iter::once(&args.out).chain(openclaw.as_ref().map(|(path, _)| path)) {
            if std::fs::symlink_metadata(path).is_ok() {
                bail!(
                    "{} already exists; not overwriting it (pass --force to replace it, or --out PATH)",
                    path.display()
                );
            }
        }
    }
    if let Some((path, text)) = &openclaw {
        write_new(path, text, args.force)?;
    }
    write_new(&args.out, &imported.config, args.force)?;

    println!("wrote {}", args.out.display());
    println!();
    println!("What went where:");
    for note in &imported.report {
        println!("  {note}");
    }
    if let Some((path, _)) = &openclaw {
        println!();
        println!(
            "wrote {}: OpenClaw's own config (its model, the edge as its trusted proxy, its \
             Control UI on its own host), copied into its state directory on the first start",
            path.display()
        );
    }
    let lines = imported.secret_lines();
    if !lines.is_empty() {
        println!();
        println!(
            "Store its secrets (each prompts for the value; the workload sees only a placeholder):"
        );
        for line in lines {
            println!("  {line}");
        }
    }
    println!();
    println!("Then: hardshell config check && hardshell up");
    Ok(())
}

/// Writes `text` to `path` (mode 0644): a new file, or, with `force`, over
/// whatever is there.
fn write_new(path: &std::path::Path, text: &str, force: bool) -> anyhow::Result<()> {
    let mut open = OpenOptions::new();
    open.write(true).mode(0o644);
    if force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let mut file = match open.open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} already exists; not overwriting it (pass --force to replace it, or --out PATH)",
            path.display()
        ),
        other => other.with_context(|| format!("writing {}", path.display()))?,
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}
