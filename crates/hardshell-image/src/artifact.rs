//! OCI artifacts (image spec 1.1): an image manifest whose `artifactType`
//! says what it holds, whose config is the empty descriptor, and whose one
//! layer is a file of the caller's own media type (a module package), not a
//! file system. Pulled in order: the manifest (bounded, checked against the
//! pinned digest if any), its type and layer checked against what the caller
//! expects, then the layer (refused unread when its descriptor is over the
//! caller's limit, never read past its size, checked against its digest).
//! Nothing is stored: the caller gets the verified bytes and decides.

use futures::StreamExt as _;
use serde::Deserialize;

use crate::ImageRef;
use crate::credential::RegistryCredential;
use crate::digest::Digest;
use crate::error::ImageError;
use crate::manifest::OCI_MANIFEST;
use crate::registry::RegistryClient;
use crate::source::{BlobCheck, Resolved, Source};

/// The largest artifact manifest read. One config, one layer and a few
/// annotations are well under a KiB.
pub const MAX_ARTIFACT_MANIFEST_BYTES: u64 = 64 << 10;

/// The spec's empty config (`{}`): what an artifact with nothing to
/// configure names as its config.
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

/// What the caller accepts: the artifact type, its one layer's media type,
/// and the most bytes that layer may hold.
#[derive(Debug, Clone, Copy)]
pub struct ArtifactKind<'a> {
    pub artifact_type: &'a str,
    pub layer_media_type: &'a str,
    pub max_layer_bytes: u64,
}

/// A pulled artifact: its manifest's digest (what a tag resolved to) and its
/// one layer's bytes, which hash to the layer's digest.
#[derive(Clone)]
pub struct Artifact {
    pub manifest: Digest,
    pub layer_digest: Digest,
    pub layer: Vec<u8>,
}

impl std::fmt::Debug for Artifact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifact")
            .field("manifest", &self.manifest)
            .field("layer_digest", &self.layer_digest)
            .field("layer", &self.layer.len())
            .finish()
    }
}

/// Why an artifact's manifest was refused: it is not one of the kind asked for.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("the manifest is not valid JSON of an OCI image manifest")]
    Json(#[from] serde_json::Error),
    #[error("the manifest's media type is {0:?}, not an OCI image manifest ({OCI_MANIFEST})")]
    MediaType(String),
    #[error("the artifact type is {}, not {expected:?}", type_named(found.as_deref()))]
    ArtifactType {
        expected: String,
        found: Option<String>,
    },
    #[error("the config's media type is {0:?}, not the empty config ({EMPTY_CONFIG})")]
    Config(String),
    #[error("the artifact has {0} layers; it must have exactly one")]
    LayerCount(usize),
    #[error("the layer's media type is {found:?}, not {expected:?}")]
    LayerMediaType { expected: String, found: String },
}

/// An artifact type as an error names it: quoted, or "missing".
fn type_named(found: Option<&str>) -> String {
    found.map_or_else(|| "missing".to_owned(), |found| format!("{found:?}"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArtifactManifest {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    config: RawDescriptor,
    layers: Vec<RawDescriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: String,
    digest: Digest,
    size: u64,
}

/// The one layer an artifact manifest of `kind` names.
struct Layer {
    digest: Digest,
    size: u64,
}

/// Parses an artifact manifest and checks it is of `kind`, layer and all.
fn parse(bytes: &[u8], kind: &ArtifactKind<'_>) -> Result<Layer, ArtifactError> {
    let raw: RawArtifactManifest = serde_json::from_slice(bytes)?;
    // The document must say what it is: an index or a Docker manifest that
    // happens to parse is not an artifact.
    let media_type = raw.media_type.unwrap_or_default();
    if raw.schema_version != 2 || media_type != OCI_MANIFEST {
        return Err(ArtifactError::MediaType(media_type));
    }
    if raw.artifact_type.as_deref() != Some(kind.artifact_type) {
        return Err(ArtifactError::ArtifactType {
            expected: kind.artifact_type.to_owned(),
            found: raw.artifact_type,
        });
    }
    if raw.config.media_type != EMPTY_CONFIG {
        return Err(ArtifactError::Config(raw.config.media_type));
    }
    let mut layers = raw.layers;
    if layers.len() != 1 {
        return Err(ArtifactError::LayerCount(layers.len()));
    }
    let layer = layers.remove(0);
    if layer.media_type != kind.layer_media_type {
        return Err(ArtifactError::LayerMediaType {
            expected: kind.layer_media_type.to_owned(),
            found: layer.media_type,
        });
    }
    Ok(Layer {
        digest: layer.digest,
        size: layer.size,
    })
}

impl RegistryClient {
    /// Pulls the artifact `reference` names, which must be of `kind`. A
    /// reference pinned by digest must match the manifest served; one by tag
    /// resolves to the returned [`Artifact::manifest`].
    pub async fn pull_artifact(
        &self,
        reference: &ImageRef,
        credential: Option<&RegistryCredential>,
        kind: &ArtifactKind<'_>,
    ) -> Result<Artifact, ImageError> {
        let mut source = Source::of(reference, self, credential);

        // 1. The manifest, bounded, and the pinned digest.
        let Resolved {
            bytes,
            digest: manifest,
            ..
        } = source
            .resolve(reference, MAX_ARTIFACT_MANIFEST_BYTES)
            .await?;

        // 2. Its kind and its one layer.
        let layer = parse(&bytes, kind).map_err(|source| ImageError::Artifact {
            digest: manifest,
            source,
        })?;
        if layer.size > kind.max_layer_bytes {
            return Err(ImageError::TooLarge {
                what: format!("layer {} ({} bytes)", layer.digest, layer.size),
                limit: kind.max_layer_bytes,
            });
        }

        // 3. The layer: never more than its descriptor's size, and its digest.
        let bytes = read_blob(&mut source, &layer).await?;
        Ok(Artifact {
            manifest,
            layer_digest: layer.digest,
            layer: bytes,
        })
    }
}

/// The layer's bytes: exactly `layer.size` of them, hashing to `layer.digest`.
async fn read_blob(source: &mut Source<'_>, layer: &Layer) -> Result<Vec<u8>, ImageError> {
    let mut stream = source.blob(&layer.digest).await?;
    let mut check = BlobCheck::new("layer", &layer.digest, layer.size);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        check.take(&chunk)?;
        bytes.extend_from_slice(&chunk);
    }
    check.finish()?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::DigestOf as _;

    const KIND: ArtifactKind<'static> = ArtifactKind {
        artifact_type: "application/vnd.example.thing.v1",
        layer_media_type: "application/vnd.example.thing.layer.v1.tar",
        max_layer_bytes: 1024,
    };

    fn manifest(media_type: &str, artifact_type: &str, config: &str, layers: &[&str]) -> Vec<u8> {
        let descriptor = |media_type: &str| serde_json::json!({"mediaType": media_type, "digest": Digest::of(b"x").to_string(), "size": 1});
        serde_json::json!({
            "schemaVersion": 2, "mediaType": media_type, "artifactType": artifact_type,
            "config": descriptor(config),
            "layers": layers.iter().map(|l| descriptor(l)).collect::<Vec<_>>(),
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn an_artifact_of_the_kind_asked_for_names_its_one_layer() {
        let bytes = manifest(
            OCI_MANIFEST,
            KIND.artifact_type,
            EMPTY_CONFIG,
            &[KIND.layer_media_type],
        );
        let layer = parse(&bytes, &KIND).unwrap();
        assert_eq!(layer.digest, Digest::of(b"x"));
        assert_eq!(layer.size, 1);
    }

    #[test]
    fn every_other_shape_is_refused() {
        let layer = KIND.layer_media_type;
        let artifact = KIND.artifact_type;
        let image_layer = "application/vnd.oci.image.layer.v1.tar";
        for (bytes, refused) in [
            (
                manifest(
                    "application/vnd.oci.image.index.v1+json",
                    artifact,
                    EMPTY_CONFIG,
                    &[layer],
                ),
                "MediaType",
            ),
            (
                manifest(
                    OCI_MANIFEST,
                    "application/vnd.other",
                    EMPTY_CONFIG,
                    &[layer],
                ),
                "ArtifactType",
            ),
            (
                manifest(
                    OCI_MANIFEST,
                    artifact,
                    "application/vnd.oci.image.config.v1+json",
                    &[layer],
                ),
                "Config",
            ),
            (
                manifest(OCI_MANIFEST, artifact, EMPTY_CONFIG, &[layer, layer]),
                "LayerCount",
            ),
            (
                manifest(OCI_MANIFEST, artifact, EMPTY_CONFIG, &[]),
                "LayerCount",
            ),
            (
                manifest(OCI_MANIFEST, artifact, EMPTY_CONFIG, &[image_layer]),
                "LayerMediaType",
            ),
            (b"{\"schemaVersion\":2}".to_vec(), "Json"),
        ] {
            let error = parse(&bytes, &KIND).err().unwrap();
            assert!(format!("{error:?}").starts_with(refused), "{error:?}");
        }
        // No artifactType at all is not ours either.
        let untyped = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": EMPTY_CONFIG, "digest": Digest::of(b"{}").to_string(), "size": 2},
            "layers": [{"mediaType": layer, "digest": Digest::of(b"x").to_string(), "size": 1}],
        });
        assert!(matches!(
            parse(untyped.to_string().as_bytes(), &KIND),
            Err(ArtifactError::ArtifactType { found: None, .. })
        ));
    }
}
