//! `hardshell init`: a commented config, a private data directory, a master key.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use hardshell_config::{LoadedConfig, TEMPLATE};
use hardshell_egress::Credentials;
use hardshell_storage::{MasterKey, MasterKeySource};

use crate::cli::{Global, InitArgs};
use crate::context;

pub async fn run(global: &Global, args: &InitArgs) -> anyhow::Result<()> {
    let config_path = match (&global.config, &args.dir) {
        (Some(path), _) => path.clone(),
        (None, Some(dir)) => dir.join("hardshell.toml"),
        (None, None) => PathBuf::from("hardshell.toml"),
    };
    if config_path.exists() {
        bail!(
            "{} already exists; not overwriting it",
            config_path.display()
        );
    }
    if let Some(parent) = config_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .create(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }

    // Validate the template as the loader will see it before writing anything.
    let loaded = LoadedConfig::parse(TEMPLATE, &config_path)?;
    let data_dir = loaded.data_dir();
    let source = context::master_key_source(global, &loaded);
    let (master, generated) = match &source {
        MasterKeySource::File(path) if !path.exists() => {
            (MasterKey::generate()?, Some(path.clone()))
        }
        existing => (MasterKey::load(existing)?, None),
    };

    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&config_path)
        .and_then(|mut file| file.write_all(TEMPLATE.as_bytes()))
        .with_context(|| format!("writing {}", config_path.display()))?;
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    if let Some(path) = &generated {
        master.write_new_file(path)?;
    }

    // Opening both stores writes their key-check objects under this key.
    let secrets = context::open_secrets(&loaded, &master).await?;
    // No shell runs: what is resolved here needs no leak scan.
    let mut credentials = Credentials::new(&loaded, &secrets);
    context::open_state(&loaded, &master, &mut credentials).await?;

    println!("wrote {}", config_path.display());
    println!("created data directory {}", data_dir.display());
    match &generated {
        Some(path) => {
            println!(
                "generated master key {} in {} (mode 0600)",
                master.id(),
                path.display()
            );
            println!("back it up: without it, nothing hardshell stores can be read");
        }
        None => println!(
            "using the existing master key {} from {source}",
            master.id()
        ),
    }
    println!("next: hardshell up");
    Ok(())
}
