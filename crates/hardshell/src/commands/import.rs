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
    // unless asked: an existing hardshell.toml may be the only copy.
    let mut open = OpenOptions::new();
    open.write(true).mode(0o644);
    if args.force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let mut file = match open.open(&args.out) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} already exists; not overwriting it (pass --force to replace it, or --out PATH)",
            args.out.display()
        ),
        other => other.with_context(|| format!("writing {}", args.out.display()))?,
    };
    file.write_all(imported.config.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", args.out.display()))?;

    println!("wrote {}", args.out.display());
    println!();
    println!("What went where:");
    for note in &imported.report {
        println!("  {note}");
    }
    if let Some(settings) = &imported.openclaw_settings {
        println!();
        println!("Set in OpenClaw's own config (openclaw.json, in its state directory):");
        for line in settings.lines() {
            println!("  {line}");
        }
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
