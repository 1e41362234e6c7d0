//! Manifests, indexes and descriptors of the OCI image spec and Docker's schema2,
//! parsed from untrusted bytes into closed types; anything else is refused.

use serde::Deserialize;

use crate::digest::Digest;

/// The largest manifest, index or image config accepted. Real ones are a few KiB;
/// the bound keeps a hostile registry from making us buffer without end.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// What the registry is asked to return, in order of preference.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// How a layer is compressed. zstd and "foreign" layers are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    None,
    Gzip,
}

impl LayerCompression {
    fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Self::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip" => Some(Self::Gzip),
            _ => None,
        }
    }
}

/// A content descriptor: what to fetch, how big it must be, what it must hash to.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// A manifest document: an index (several platforms) or one image.
#[derive(Debug, Clone)]
pub enum ManifestDoc {
    Index(Vec<Descriptor>),
    Image(ImageManifest),
}

/// One platform's image: its config and its layers, bottom first.
#[derive(Debug, Clone)]
pub struct ImageManifest {
    pub config: Descriptor,
    pub layers: Vec<(Descriptor, LayerCompression)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON of a known shape")]
    Json(#[from] serde_json::Error),
    #[error("manifest schema version {0:?} is not 2")]
    SchemaVersion(Option<u32>),
    #[error("manifest media type {0:?} is not an OCI or Docker schema2 manifest or index")]
    MediaType(String),
    #[error("manifest of type {0} lacks its {1}")]
    Missing(&'static str, &'static str),
    #[error("image config media type {0:?} is not an OCI or Docker image config")]
    ConfigMediaType(String),
    #[error(
        "layer {digest} has media type {media_type:?}: only tar and gzip-compressed tar layers are supported"
    )]
    LayerMediaType { digest: Digest, media_type: String },
    #[error("index has no image for {0}")]
    NoPlatform(String),
}

impl ManifestDoc {
    /// Parses a manifest; `content_type` is what the registry (or the layout's
    /// descriptor) said, used when the document does not name its own type.
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self, ManifestError> {
        let raw: RawManifest = serde_json::from_slice(bytes)?;
        if raw.schema_version != Some(2) {
            return Err(ManifestError::SchemaVersion(raw.schema_version));
        }
        // The document's own mediaType wins; OCI lets it be absent.
        let media_type = raw
            .media_type
            .clone()
            .or_else(|| content_type.map(|c| c.split(';').next().unwrap_or(c).trim().to_owned()))
            .unwrap_or_else(|| {
                if raw.manifests.is_some() {
                    OCI_INDEX.to_owned()
                } else {
                    OCI_MANIFEST.to_owned()
                }
            });
        match media_type.as_str() {
            OCI_INDEX | DOCKER_LIST => {
                let manifests = raw
                    .manifests
                    .ok_or(ManifestError::Missing("index", "manifests"))?;
                Ok(Self::Index(manifests))
            }
            OCI_MANIFEST | DOCKER_MANIFEST => {
                let config = raw
                    .config
                    .ok_or(ManifestError::Missing("manifest", "config"))?;
                if config.media_type != OCI_CONFIG && config.media_type != DOCKER_CONFIG {
                    return Err(ManifestError::ConfigMediaType(config.media_type));
                }
                let layers = raw
                    .layers
                    .ok_or(ManifestError::Missing("manifest", "layers"))?
                    .into_iter()
                    .map(
                        |layer| match LayerCompression::from_media_type(&layer.media_type) {
                            Some(c) => Ok((layer, c)),
                            None => Err(ManifestError::LayerMediaType {
                                digest: layer.digest,
                                media_type: layer.media_type,
                            }),
                        },
                    )
                    .collect::<Result<_, _>>()?;
                Ok(Self::Image(ImageManifest { config, layers }))
            }
            other => Err(ManifestError::MediaType(other.to_owned())),
        }
    }
}

/// This machine's platform, as image indexes name it.
pub fn host_platform() -> Platform {
    let (architecture, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", Some("v8")),
        "arm" => ("arm", Some("v7")),
        "x86" => ("386", None),
        "powerpc64" => ("ppc64le", None),
        other => (other, None),
    };
    Platform {
        architecture: architecture.to_owned(),
        os: "linux".to_owned(),
        variant: variant.map(str::to_owned),
    }
}

/// Picks the index entry for `platform`. A variant is compared only where the
/// entry names one (arm64 images often omit `v8`); attestation entries
/// (`unknown/unknown`) never match.
pub fn select_platform<'a>(
    entries: &'a [Descriptor],
    platform: &Platform,
) -> Result<&'a Descriptor, ManifestError> {
    entries
        .iter()
        .filter(|d| d.media_type == OCI_MANIFEST || d.media_type == DOCKER_MANIFEST)
        .find(|d| {
            d.platform.as_ref().is_some_and(|p| {
                p.os == platform.os
                    && p.architecture == platform.architecture
                    && match (&p.variant, &platform.variant) {
                        (Some(want), Some(have)) => want == have,
                        _ => true,
                    }
            })
        })
        .ok_or_else(|| {
            ManifestError::NoPlatform(format!(
                "{}/{}{}",
                platform.os,
                platform.architecture,
                platform
                    .variant
                    .as_deref()
                    .map(|v| format!("/{v}"))
                    .unwrap_or_default()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::DigestOf;

    fn desc(arch: &str, variant: Option<&str>, byte: u8) -> String {
        let variant = variant
            .map(|v| format!(r#","variant":"{v}""#))
            .unwrap_or_default();
        format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":10,"platform":{{"architecture":"{arch}","os":"linux"{variant}}}}}"#,
            Digest::of(&[byte])
        )
    }

    #[test]
    fn index_resolves_to_the_requested_platform_only() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{},{},{}]}}"#,
            desc("arm", Some("v6"), 1),
            desc("arm", Some("v7"), 2),
            desc("amd64", None, 3)
        );
        let ManifestDoc::Index(entries) = ManifestDoc::parse(json.as_bytes(), None).unwrap() else {
            panic!("not an index");
        };
        let arm7 = Platform {
            architecture: "arm".into(),
            os: "linux".into(),
            variant: Some("v7".into()),
        };
        assert_eq!(
            select_platform(&entries, &arm7).unwrap().digest,
            Digest::of(&[2])
        );
        let amd = Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
        };
        assert_eq!(
            select_platform(&entries, &amd).unwrap().digest,
            Digest::of(&[3])
        );
        let riscv = Platform {
            architecture: "riscv64".into(),
            os: "linux".into(),
            variant: None,
        };
        assert!(matches!(
            select_platform(&entries, &riscv),
            Err(ManifestError::NoPlatform(_))
        ));
    }

    #[test]
    fn zstd_layer_and_unknown_types_are_refused() {
        let cfg = format!(
            r#"{{"mediaType":"{OCI_CONFIG}","digest":"{}","size":2}}"#,
            Digest::of(b"{}")
        );
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{cfg},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"{}","size":1}}]}}"#,
            Digest::of(b"x")
        );
        let err = ManifestDoc::parse(json.as_bytes(), None).unwrap_err();
        assert!(matches!(err, ManifestError::LayerMediaType { .. }), "{err}");
        let v1 = r#"{"schemaVersion":1,"name":"x"}"#;
        assert!(matches!(
            ManifestDoc::parse(v1.as_bytes(), None),
            Err(ManifestError::SchemaVersion(Some(1)))
        ));
        let other = r#"{"schemaVersion":2,"mediaType":"text/html"}"#;
        assert!(matches!(
            ManifestDoc::parse(other.as_bytes(), None),
            Err(ManifestError::MediaType(_))
        ));
    }
}
