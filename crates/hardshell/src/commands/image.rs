//! `hardshell image pull|ls|verify|prune`: the image store under
//! `<data_dir>/images`, owned by whoever runs hardshell (the shells' host ids).

use anyhow::{Context as _, bail};
use hardshell_image::{
    ImageRef, ImageStore, Owner, PullEvent, PullOptions, RegistryClient, RegistryCredential,
    UnpackLimits,
};
use hardshell_secrets::SecretName;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{Global, ImageCommand};
use crate::context;

pub async fn run(global: &Global, command: &ImageCommand) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let store = ImageStore::open(
        &loaded.data_dir().join("images"),
        Owner::current(),
        UnpackLimits::default(),
    )?;
    match command {
        ImageCommand::Pull {
            reference,
            credential,
        } => {
            let reference = ImageRef::parse(reference)?;
            let credential = match credential {
                Some(name) => Some(credential_from_secret(global, &loaded, name).await?),
                None => None,
            };
            pull(&store, &reference, credential.as_ref()).await
        }
        ImageCommand::Ls => list(&store),
        ImageCommand::Verify => verify(&store),
        ImageCommand::Prune => prune(&store),
    }
}

/// `secret:NAME` → the stored `user:password`, never printed.
async fn credential_from_secret(
    global: &Global,
    loaded: &hardshell_config::LoadedConfig,
    reference: &str,
) -> anyhow::Result<RegistryCredential> {
    let Some(name) = reference.strip_prefix("secret:") else {
        bail!("--credential takes secret:NAME (a secret whose value is user:password)");
    };
    let name = SecretName::parse(name)?;
    let master = hardshell_storage::MasterKey::load(&context::master_key_source(global, loaded))?;
    let secrets = context::open_secrets(loaded, &master).await?;
    let value = secrets
        .get(&name)
        .await?
        .with_context(|| format!("no secret named {name}"))?;
    RegistryCredential::from_secret(value.expose()).with_context(|| format!("secret {name}"))
}

async fn pull(
    store: &ImageStore,
    reference: &ImageRef,
    credential: Option<&RegistryCredential>,
) -> anyhow::Result<()> {
    let client = RegistryClient::new(None)?;
    let mut options = PullOptions::new(&client);
    options.credential = credential;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:24} [{bar:32}] {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut on_event = |event: PullEvent| match event {
        PullEvent::Resolved { digest } => bar.println(format!("resolved {digest}")),
        PullEvent::Layer {
            index,
            count,
            size,
            cached,
            ..
        } => {
            bar.set_message(format!("layer {}/{count}", index + 1));
            bar.set_length(size);
            bar.set_position(if cached { size } else { 0 });
        }
        PullEvent::Bytes(n) => bar.inc(n),
        PullEvent::Unpacking => bar.set_message("unpacking"),
    };
    let pulled = store.pull(reference, &options, &mut on_event).await;
    bar.finish_and_clear();
    let pulled = pulled?;
    println!("pulled {}", pulled.reference);
    println!("digest {}", pulled.resolved);
    if pulled.manifest != pulled.resolved {
        println!("platform manifest {}", pulled.manifest);
    }
    println!("root {}", pulled.root.display());
    if !reference.is_pinned() {
        eprintln!(
            "warning: {reference} is not pinned; the configuration needs {reference}@{}",
            pulled.resolved
        );
    }
    Ok(())
}

fn list(store: &ImageStore) -> anyhow::Result<()> {
    let images = store.list()?;
    if images.is_empty() {
        println!("no images");
        return Ok(());
    }
    for image in images {
        println!(
            "{}\n  digest   {}\n  manifest {}",
            image.reference, image.resolved, image.manifest
        );
    }
    Ok(())
}

fn verify(store: &ImageStore) -> anyhow::Result<()> {
    let report = store.verify()?;
    for digest in &report.bad_blobs {
        println!("blob {digest}: content does not match its digest");
    }
    for digest in &report.missing_blobs {
        println!("blob {digest}: missing");
    }
    for (manifest, paths) in &report.bad_roots {
        println!("root {manifest}: changed: {}", paths.join(", "));
    }
    if !report.is_clean() {
        bail!("the image store failed verification");
    }
    println!(
        "ok: {} blobs and {} roots verified",
        report.blobs_checked, report.roots_checked
    );
    Ok(())
}

fn prune(store: &ImageStore) -> anyhow::Result<()> {
    let report = store.prune()?;
    for digest in &report.removed_blobs {
        println!("removed blob {digest}");
    }
    for digest in &report.removed_roots {
        println!("removed root {digest}");
    }
    println!(
        "pruned {} blobs, {} roots, {} leftovers",
        report.removed_blobs.len(),
        report.removed_roots.len(),
        report.removed_temporary
    );
    Ok(())
}
