//! Pulling, in order: the reference's manifest (checked against the pinned
//! digest, if any), this platform's manifest when that is an index, the config,
//! every layer (each streamed to the store and checked against its digest and
//! size), then the unpacked root and the reference's entry. Any failure stops
//! the pull before the root is renamed into place or the reference recorded.

use crate::ImageRef;
use crate::config::ImageConfig;
use crate::credential::RegistryCredential;
use crate::digest::{Digest, DigestOf};
use crate::error::ImageError;
use crate::manifest::{
    ImageManifest, MAX_MANIFEST_BYTES, ManifestDoc, Platform, host_platform, select_platform,
};
use crate::registry::RegistryClient;
use crate::source::{ManifestKey, Resolved, Source};
use crate::store::{ImageStore, PulledImage, StoredImage};

/// How to reach the image.
#[derive(Debug)]
pub struct PullOptions<'a> {
    pub client: &'a RegistryClient,
    /// For registries that need one; never sent to a layout or over plain HTTP.
    pub credential: Option<&'a RegistryCredential>,
    /// The platform to resolve an index to: this machine's by default.
    pub platform: Platform,
}

impl<'a> PullOptions<'a> {
    pub fn new(client: &'a RegistryClient) -> Self {
        Self {
            client,
            credential: None,
            platform: host_platform(),
        }
    }
}

/// What a pull is doing, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// The reference resolved to this digest.
    Resolved { digest: Digest },
    /// A layer download starts (`index` of `count`, `size` bytes); `cached`
    /// when it is already in the store and will not be fetched.
    Layer {
        index: usize,
        count: usize,
        digest: Digest,
        size: u64,
        cached: bool,
    },
    /// Bytes of the current layer received.
    Bytes(u64),
    /// Unpacking starts (skipped when the root is already here).
    Unpacking,
}

impl ImageStore {
    /// Pulls `reference` and returns it ready to run. The reference's own
    /// digest, when pinned, must match what the source serves.
    pub async fn pull(
        &self,
        reference: &ImageRef,
        options: &PullOptions<'_>,
        progress: &mut (dyn FnMut(PullEvent) + Send),
    ) -> Result<PulledImage, ImageError> {
        let _lock = self.lock()?;
        let mut source = Source::of(reference, options.client, options.credential);

        // 1. The reference's manifest or index.
        let Resolved {
            bytes: top,
            digest: resolved,
            media_type: content_type,
        } = source.resolve(reference, MAX_MANIFEST_BYTES).await?;
        progress(PullEvent::Resolved { digest: resolved });
        let doc = ManifestDoc::parse(&top, content_type.as_deref()).map_err(|source| {
            ImageError::Manifest {
                digest: resolved,
                source,
            }
        })?;

        // 2. This platform's manifest.
        let (manifest_digest, manifest_bytes, manifest) = match doc {
            ManifestDoc::Image(manifest) => (resolved, None, manifest),
            ManifestDoc::Index(entries) => {
                let entry = select_platform(&entries, &options.platform).map_err(|source| {
                    ImageError::Manifest {
                        digest: resolved,
                        source,
                    }
                })?;
                let limit = entry.size.min(MAX_MANIFEST_BYTES);
                let (bytes, content_type) = source
                    .manifest(ManifestKey::Digest(&entry.digest), limit)
                    .await?;
                let actual = Digest::of(&bytes);
                if actual != entry.digest {
                    return Err(ImageError::DigestMismatch {
                        what: "platform manifest".into(),
                        expected: entry.digest,
                        actual,
                    });
                }
                if bytes.len() as u64 != entry.size {
                    return Err(ImageError::SizeMismatch {
                        what: "manifest",
                        digest: entry.digest,
                        expected: entry.size,
                        actual: bytes.len() as u64,
                    });
                }
                let content_type = content_type.unwrap_or_else(|| entry.media_type.clone());
                match ManifestDoc::parse(&bytes, Some(&content_type)).map_err(|source| {
                    ImageError::Manifest {
                        digest: entry.digest,
                        source,
                    }
                })? {
                    ManifestDoc::Image(manifest) => (entry.digest, Some(bytes), manifest),
                    ManifestDoc::Index(_) => {
                        return Err(ImageError::NestedIndex {
                            digest: entry.digest,
                        });
                    }
                }
            }
        };

        // 3. The config: bounded, checked, parsed, and for this platform.
        let config = self
            .fetch_config(&mut source, &manifest, &options.platform)
            .await?;

        // 4. Layers.
        let count = manifest.layers.len();
        for (index, (layer, _)) in manifest.layers.iter().enumerate() {
            let cached = self.has_blob(&layer.digest)?;
            progress(PullEvent::Layer {
                index,
                count,
                digest: layer.digest,
                size: layer.size,
                cached,
            });
            if !cached {
                let stream = source.blob(&layer.digest).await?;
                self.put_stream("layer", &layer.digest, layer.size, stream, &mut |n| {
                    progress(PullEvent::Bytes(n))
                })
                .await?;
            }
        }

        // Only now, with everything verified, do the manifests enter the store.
        self.put_verified_bytes(&resolved, &top)?;
        if let Some(bytes) = &manifest_bytes {
            self.put_verified_bytes(&manifest_digest, bytes)?;
        }

        // 5. The root.
        let root = self.root_path(&manifest_digest);
        if !root.is_dir() {
            progress(PullEvent::Unpacking);
            self.unpack(&manifest_digest, &manifest).await?;
        }

        // 6. The reference's entry.
        self.upsert_ref(StoredImage {
            reference: reference.to_string(),
            resolved,
            manifest: manifest_digest,
            config: manifest.config.digest,
            layers: manifest.layers.iter().map(|(l, _)| l.digest).collect(),
            pulled_at: chrono::Utc::now(),
        })?;
        Ok(PulledImage {
            reference: reference.clone(),
            resolved,
            manifest: manifest_digest,
            config,
            config_digest: manifest.config.digest,
            root,
        })
    }

    async fn fetch_config(
        &self,
        source: &mut Source<'_>,
        manifest: &ImageManifest,
        platform: &Platform,
    ) -> Result<ImageConfig, ImageError> {
        let descriptor = &manifest.config;
        if descriptor.size > MAX_MANIFEST_BYTES {
            return Err(ImageError::TooLarge {
                what: format!("image config {}", descriptor.digest),
                limit: MAX_MANIFEST_BYTES,
            });
        }
        if !self.has_blob(&descriptor.digest)? {
            let stream = source.blob(&descriptor.digest).await?;
            self.put_stream(
                "image config",
                &descriptor.digest,
                descriptor.size,
                stream,
                &mut |_| {},
            )
            .await?;
        }
        let path = self.blob_path(&descriptor.digest);
        let bytes = std::fs::read(&path).map_err(ImageError::store("read", &path))?;
        let config = ImageConfig::parse(&bytes).map_err(|source| ImageError::Config {
            digest: descriptor.digest,
            source,
        })?;
        if config.os != platform.os || config.architecture != platform.architecture {
            return Err(ImageError::Platform {
                want: format!("{}/{}", platform.os, platform.architecture),
                got: format!("{}/{}", config.os, config.architecture),
            });
        }
        Ok(config)
    }
}
