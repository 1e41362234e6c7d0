//! Where manifests and blobs are read from: a registry session or a local OCI
//! layout directory. Both hand back unverified bytes; the store checks them.

use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;
use serde::Deserialize;

use crate::credential::RegistryCredential;
use crate::digest::{Digest, DigestOf, DigestWriter};
use crate::error::ImageError;
use crate::registry::{RegistryClient, Session};
use crate::{ImageRef, ImageSource};

/// Chunks of a blob as they arrive.
pub(crate) type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, ImageError>> + Send>>;

/// A blob checked as its chunks arrive, whatever the source says of its
/// length: never more bytes than its descriptor's size (a hostile registry
/// can send forever), and at the end exactly that many, hashing to its
/// digest.
pub(crate) struct BlobCheck<'a> {
    what: &'static str,
    digest: &'a Digest,
    size: u64,
    hasher: DigestWriter,
}

impl<'a> BlobCheck<'a> {
    /// For the blob `digest` of `size` bytes, named `what` in errors.
    pub(crate) fn new(what: &'static str, digest: &'a Digest, size: u64) -> Self {
        Self {
            what,
            digest,
            size,
            hasher: DigestWriter::default(),
        }
    }

    /// Counts and hashes `chunk`; refused as soon as the blob is longer
    /// than its size.
    pub(crate) fn take(&mut self, chunk: &[u8]) -> Result<(), ImageError> {
        self.hasher.update(chunk);
        if self.hasher.written() > self.size {
            return Err(self.size_mismatch());
        }
        Ok(())
    }

    /// Refused unless exactly its size came, hashing to its digest.
    pub(crate) fn finish(self) -> Result<(), ImageError> {
        if self.hasher.written() != self.size {
            return Err(self.size_mismatch());
        }
        let actual = self.hasher.finish();
        if actual != *self.digest {
            return Err(ImageError::DigestMismatch {
                what: format!("{} {}", self.what, self.digest),
                expected: *self.digest,
                actual,
            });
        }
        Ok(())
    }

    fn size_mismatch(&self) -> ImageError {
        ImageError::SizeMismatch {
            what: self.what,
            digest: *self.digest,
            expected: self.size,
            actual: self.hasher.written(),
        }
    }
}

pub(crate) enum Source<'a> {
    Registry(Session<'a>),
    Layout(PathBuf),
}

/// What to ask for: a tag (resolved by the source) or a digest.
pub(crate) enum ManifestKey<'a> {
    Tag(&'a str),
    Digest(&'a Digest),
}

/// The document a reference names: its bytes, their digest (what a tag
/// resolved to), and the media type the source gave.
pub(crate) struct Resolved {
    pub(crate) bytes: Vec<u8>,
    pub(crate) digest: Digest,
    pub(crate) media_type: Option<String>,
}

impl<'a> Source<'a> {
    /// Where `reference` is read from: its registry (with `credential`, if
    /// any) or its local layout.
    pub(crate) fn of(
        reference: &ImageRef,
        client: &'a RegistryClient,
        credential: Option<&'a RegistryCredential>,
    ) -> Self {
        match reference.source() {
            ImageSource::Registry {
                registry,
                repository,
            } => Self::Registry(Session::new(client, registry, repository, credential)),
            ImageSource::Layout { path } => Self::Layout(path.clone()),
        }
    }

    /// The manifest or index `reference` names, at most `limit` bytes: by
    /// its digest when pinned (and refused unless the bytes hash to it),
    /// else by its tag.
    pub(crate) async fn resolve(
        &mut self,
        reference: &ImageRef,
        limit: u64,
    ) -> Result<Resolved, ImageError> {
        let key = match (reference.digest(), reference.tag()) {
            (Some(digest), _) => ManifestKey::Digest(digest),
            (None, Some(tag)) => ManifestKey::Tag(tag),
            (None, None) => return Err(ImageError::NothingToResolve(reference.to_string())),
        };
        let (bytes, media_type) = self.manifest(key, limit).await?;
        let digest = Digest::of(&bytes);
        if let Some(pinned) = reference.digest()
            && *pinned != digest
        {
            return Err(ImageError::DigestMismatch {
                what: format!("manifest of {reference}"),
                expected: *pinned,
                actual: digest,
            });
        }
        Ok(Resolved {
            bytes,
            digest,
            media_type,
        })
    }
}

impl Source<'_> {
    /// A manifest's bytes (at most `limit`) and the media type the source gave.
    pub(crate) async fn manifest(
        &mut self,
        key: ManifestKey<'_>,
        limit: u64,
    ) -> Result<(Vec<u8>, Option<String>), ImageError> {
        match self {
            Self::Registry(session) => {
                let reference = match key {
                    ManifestKey::Tag(tag) => tag.to_owned(),
                    ManifestKey::Digest(digest) => digest.to_string(),
                };
                session.manifest(&reference, limit).await
            }
            Self::Layout(path) => {
                let (digest, media_type) = match key {
                    ManifestKey::Digest(digest) => (*digest, None),
                    ManifestKey::Tag(tag) => {
                        let found = layout_tag(path, tag).await?;
                        (found.0, Some(found.1))
                    }
                };
                let blob = layout_blob_path(path, &digest);
                let bytes = read_limited(&blob, limit).await?;
                Ok((bytes, media_type))
            }
        }
    }

    pub(crate) async fn blob(&mut self, digest: &Digest) -> Result<BlobStream, ImageError> {
        match self {
            Self::Registry(session) => session.blob(digest).await,
            Self::Layout(path) => {
                let file_path = layout_blob_path(path, digest);
                let file =
                    tokio::fs::File::open(&file_path)
                        .await
                        .map_err(|e| ImageError::Layout {
                            path: file_path.clone(),
                            reason: e.to_string(),
                        })?;
                let stream =
                    futures::stream::unfold((file, file_path), |(mut file, path)| async move {
                        let mut buf = vec![0u8; 256 << 10];
                        match tokio::io::AsyncReadExt::read(&mut file, &mut buf).await {
                            Ok(0) => None,
                            Ok(n) => {
                                buf.truncate(n);
                                Some((Ok(Bytes::from(buf)), (file, path)))
                            }
                            Err(e) => {
                                let err = ImageError::Layout {
                                    path: path.clone(),
                                    reason: e.to_string(),
                                };
                                Some((Err(err), (file, path)))
                            }
                        }
                    });
                Ok(Box::pin(stream))
            }
        }
    }
}

fn layout_blob_path(layout: &Path, digest: &Digest) -> PathBuf {
    // The hex is validated by `Digest`, so it is a plain file name.
    layout.join("blobs").join("sha256").join(digest.hex())
}

async fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ImageError> {
    let layout_err = |reason: String| ImageError::Layout {
        path: path.to_owned(),
        reason,
    };
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| layout_err(e.to_string()))?;
    if meta.len() > limit {
        return Err(ImageError::TooLarge {
            what: path.display().to_string(),
            limit,
        });
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| layout_err(e.to_string()))
}

/// The descriptor `index.json` names with `org.opencontainers.image.ref.name = tag`.
async fn layout_tag(layout: &Path, tag: &str) -> Result<(Digest, String), ImageError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Index {
        manifests: Vec<Entry>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Entry {
        media_type: String,
        digest: Digest,
        #[serde(default)]
        annotations: std::collections::BTreeMap<String, String>,
    }
    let path = layout.join("index.json");
    let bytes = read_limited(&path, crate::manifest::MAX_MANIFEST_BYTES).await?;
    let index: Index = serde_json::from_slice(&bytes).map_err(|e| ImageError::Layout {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    index
        .manifests
        .into_iter()
        .find(|m| {
            m.annotations
                .get("org.opencontainers.image.ref.name")
                .map(String::as_str)
                == Some(tag)
        })
        .map(|m| (m.digest, m.media_type))
        .ok_or_else(|| ImageError::Layout {
            path,
            reason: format!("no manifest tagged {tag:?}"),
        })
}
