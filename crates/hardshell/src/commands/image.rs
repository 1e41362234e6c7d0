//! `hardshell image pull|ls|verify|prune`: the image store under
//! `<data_dir>/images`, owned by whoever runs hardshell (the shells' host ids).

use anyhow::{Context as _, bail};
use hardshell_image::{
    ImageRef, ImageStore, Owner, PullEvent, PullOptions, RegistryClient, RegistryCredential,
    StoredImage, UnpackLimits,
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
        ImageCommand::Ls => list(
            &store,
            loaded
                .config
                .workload
                .as_ref()
                .map(|workload| &workload.image),
        ),
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

fn list(store: &ImageStore, workload: Option<&ImageRef>) -> anyhow::Result<()> {
    let images = store.list()?;
    if images.is_empty() {
        println!("no images");
        return Ok(());
    }
    for image in images {
        print!("{}", describe(&image, workload));
    }
    Ok(())
}

/// One stored image as `image ls` prints it: the reference, the digest to pin
/// (and how, when the reference does not pin it), the platform manifest when
/// it is another, its layers, when it was pulled, and whether `[workload]
/// image` names it.
fn describe(image: &StoredImage, workload: Option<&ImageRef>) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(text, "{}", image.reference);
    let _ = writeln!(text, "  digest   {}", image.resolved);
    if image.manifest != image.resolved {
        let _ = writeln!(text, "  manifest {} (this platform's)", image.manifest);
    }
    let _ = writeln!(text, "  layers   {}", image.layers.len());
    let pulled = image.pulled_at.format("%Y-%m-%d %H:%M:%S UTC");
    let _ = writeln!(text, "  pulled   {pulled}");
    let pinned = ImageRef::parse(&image.reference).is_ok_and(|reference| reference.is_pinned());
    if !pinned {
        let _ = writeln!(text, "  pin as   {}@{}", image.reference, image.resolved);
    }
    // The configured reference is pinned by the index's digest or by this
    // platform's manifest's; unpinned, it is the same text.
    let in_use = workload.is_some_and(|configured| match configured.digest() {
        Some(digest) => *digest == image.resolved || *digest == image.manifest,
        None => configured.to_string() == image.reference,
    });
    if in_use {
        let _ = writeln!(text, "  in use   by [workload] image");
    }
    text
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use hardshell_image::{Digest, DigestOf as _, ImageRef, StoredImage};

    use super::describe;

    fn stored(reference: &str, manifest: Digest) -> StoredImage {
        StoredImage {
            reference: reference.to_owned(),
            resolved: Digest::of(b"index"),
            manifest,
            config: Digest::of(b"config"),
            layers: vec![Digest::of(b"a"), Digest::of(b"b")],
            pulled_at: chrono::Utc
                .with_ymd_and_hms(2026, 12, 5, 8, 30, 0)
                .single()
                .unwrap(),
        }
    }

    #[test]
    fn a_pinned_image_shows_its_digests_layers_and_when_it_was_pulled() {
        let index = Digest::of(b"index");
        let reference = format!("ghcr.io/openclaw/openclaw:2026.9.6@{index}");
        let text = describe(&stored(&reference, Digest::of(b"manifest")), None);
        assert_eq!(
            text,
            format!(
                "{reference}\n  digest   {index}\n  manifest {} (this platform's)\n  \
                 layers   2\n  pulled   2026-12-05 08:30:00 UTC\n",
                Digest::of(b"manifest")
            )
        );
        // One manifest (no index): shown once.
        let text = describe(&stored(&reference, index), None);
        assert!(!text.contains("manifest"), "{text}");
    }

    #[test]
    fn an_unpinned_image_says_how_to_pin_it() {
        let index = Digest::of(b"index");
        let text = describe(&stored("docker.io/library/debian:latest", index), None);
        assert!(
            text.contains(&format!(
                "  pin as   docker.io/library/debian:latest@{index}\n"
            )),
            "{text}"
        );
        let pinned = format!("docker.io/library/debian:latest@{index}");
        assert!(!describe(&stored(&pinned, index), None).contains("pin as"));
    }

    #[test]
    fn the_image_the_workload_names_is_marked_in_use_and_no_other() {
        let index = Digest::of(b"index");
        let image = stored("ghcr.io/openclaw/openclaw:2026.9.6", index);
        for (configured, in_use) in [
            (format!("ghcr.io/openclaw/openclaw:2026.9.6@{index}"), true),
            // Pinned by another digest: another image.
            (
                format!("ghcr.io/openclaw/openclaw:2026.9.6@{}", Digest::of(b"x")),
                false,
            ),
            // Unpinned: by its reference.
            ("ghcr.io/openclaw/openclaw:2026.9.6".to_owned(), true),
            ("ghcr.io/openclaw/openclaw:2026.9.5".to_owned(), false),
        ] {
            let configured = ImageRef::parse(&configured).unwrap();
            let text = describe(&image, Some(&configured));
            assert_eq!(text.contains("in use"), in_use, "{configured}: {text}");
        }
        assert!(!describe(&image, None).contains("in use"));
    }
}
