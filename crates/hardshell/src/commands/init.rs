//! `hardshell init`: a commented config, a private data directory, a master key,
//! and at a terminal the agent's model (its API key kept in the secret store).

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use hardshell_audit::AuditEvent;
use hardshell_audit::event::SecretStored;
use hardshell_config::{LoadedConfig, TEMPLATE, edit};
use hardshell_egress::Credentials;
use hardshell_secrets::{SecretName, SecretValue};
use hardshell_storage::{MasterKey, MasterKeySource};
use zeroize::Zeroizing;

use super::provider;
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

    // The model, asked at a terminal before anything is written, so a
    // question left unanswered leaves nothing behind.
    let found = provider::find_local(&args.local_model_ports).await;
    let interactive = provider::interactive();
    let chosen = if interactive {
        provider::ask(&found)?
    } else {
        None
    };
    let text = match &chosen {
        Some(chosen) => edit::use_model(TEMPLATE, &chosen.choice)?,
        None => TEMPLATE.to_owned(),
    };

    // Validate the config as the loader will see it before writing anything.
    let loaded = LoadedConfig::parse(&text, &config_path)
        .context("the config would not load with that model; nothing was written")?;
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
        .and_then(|mut file| file.write_all(text.as_bytes()))
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
    let key_stored = match chosen
        .as_ref()
        .and_then(|c| c.key.as_ref().zip(c.choice.key_secret.as_ref()))
    {
        Some((key, secret)) => {
            let name = SecretName::parse(secret)?;
            secrets
                .put(
                    &name,
                    &SecretValue::new(Zeroizing::new(key.as_bytes().to_vec()))?,
                )
                .await?;
            let event = AuditEvent::SecretStored(SecretStored {
                name: name.clone(),
                replaced: false,
                actor: None,
            });
            super::secret::audit(&loaded, &master, &secrets, event).await;
            Some(name)
        }
        None => None,
    };

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
    match &chosen {
        Some(chosen) => {
            println!("the agent will use {}", chosen.choice.chain_entry());
            if let Some(name) = key_stored {
                println!("stored its API key as secret {name}");
            }
        }
        None if interactive => println!(
            "no model yet: hardshell config model PROVIDER/MODEL sets one (see hardshell config model --help)"
        ),
        None => provider::print_how(&found),
    }
    println!("next: hardshell up");
    Ok(())
}
