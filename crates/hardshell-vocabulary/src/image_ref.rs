//! Image references: `[registry/]repository[:tag][@sha256:…]` and
//! `oci:/ABS/PATH[:tag][@sha256:…]`, the one grammar for the config's
//! `[workload] image`, `hardshell import` and `hardshell image pull`, so that
//! `config check` refuses exactly what a pull would.
//!
//! Docker Hub names are normalised (`docker.io`, `library/`) so one image has
//! one spelling in the image store's index; a registry reference with neither
//! tag nor digest names `latest`, as Docker resolves it.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{Digest, DigestError};

/// Docker Hub's canonical name; its API lives at `registry-1.docker.io`.
pub const DOCKER_HUB: &str = "docker.io";

/// Longest reference accepted; the distribution spec caps a name at 255.
const MAX_REFERENCE_BYTES: usize = 1024;
/// How much of a refused text the error repeats.
const SHOWN_CHARS: usize = 100;

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageSource {
    /// A registry speaking the OCI distribution API, over HTTPS only.
    Registry {
        /// Host and optional port, e.g. `ghcr.io`, `127.0.0.1:5000`, `docker.io`.
        registry: String,
        /// e.g. `openclaw/openclaw`, `library/debian`.
        repository: String,
    },
    /// A local OCI image layout directory (air-gapped machines): absolute,
    /// without `..` parts.
    Layout {
        /// The layout's directory.
        path: PathBuf,
    },
}

/// A parsed image reference; only [`ImageRef::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    source: ImageSource,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a text is not an image reference. Each carries the reference as written
/// (no control characters: those are refused first, and cut to 100 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// Empty, too long, or with whitespace or control characters.
    #[error(
        "{reference:?} is not an image reference (empty, over {MAX_REFERENCE_BYTES} bytes, or with spaces or control characters)"
    )]
    Text {
        /// The text, cut to 100 characters.
        reference: String,
    },
    /// The part after `@` is not `sha256:` and 64 lower-case hex digits.
    #[error("image reference {reference:?} has a bad digest: {cause}")]
    Digest {
        /// The reference.
        reference: String,
        /// What is wrong with the digest.
        cause: DigestError,
    },
    /// A tag outside `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error(
        "image reference {reference:?}: {tag:?} is not a tag (1-128 of A-Z a-z 0-9 _ . -, not starting with . or -)"
    )]
    Tag {
        /// The reference.
        reference: String,
        /// The tag.
        tag: String,
    },
    /// A repository outside the distribution spec's grammar.
    #[error(
        "image reference {reference:?}: {repository:?} is not a repository (lower-case [a-z0-9] parts joined by . _ __ or -, separated by /)"
    )]
    Repository {
        /// The reference.
        reference: String,
        /// The repository path.
        repository: String,
    },
    /// A registry that is not a host name or address with an optional port.
    #[error(
        "image reference {reference:?}: {registry:?} is not a registry host (a host name or address, with an optional port 1-65535)"
    )]
    Registry {
        /// The reference.
        reference: String,
        /// The registry part.
        registry: String,
    },
    /// `oci:` with a relative path, `..` parts, or the root alone.
    #[error(
        "image reference {reference:?}: an OCI layout must be an absolute path without .. parts: oci:/path/to/layout@sha256:…"
    )]
    LayoutPath {
        /// The reference.
        reference: String,
    },
}

impl ImageRef {
    /// Parses a registry reference (no registry means Docker Hub) or
    /// `oci:PATH`, each with an optional tag and digest.
    pub fn parse(text: &str) -> Result<Self, ImageRefError> {
        if text.is_empty()
            || text.len() > MAX_REFERENCE_BYTES
            || text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ImageRefError::Text {
                reference: text.chars().take(SHOWN_CHARS).collect(),
            });
        }
        let reference = || text.to_owned();
        let (rest, digest) = match text.rsplit_once('@') {
            Some((rest, digest)) => {
                let digest = Digest::parse(digest).map_err(|cause| ImageRefError::Digest {
                    reference: reference(),
                    cause,
                })?;
                (rest, Some(digest))
            }
            None => (text, None),
        };
        // `oci:` first, so that `oci:relative` is a bad path, not Docker Hub's `oci`.
        let layout_path = rest.strip_prefix("oci:");
        let rest = layout_path.unwrap_or(rest);
        // The tag is after the last ':' that follows the last '/', so a
        // registry port (`host:5000/repo`) is not mistaken for a tag.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let (name, tag) = rest.split_at(last_slash + i);
                (name, Some(tag[1..].to_owned()))
            }
            None => (rest, None),
        };
        if let Some(tag) = &tag
            && !is_tag(tag)
        {
            return Err(ImageRefError::Tag {
                reference: reference(),
                tag: tag.clone(),
            });
        }
        let source = match layout_path {
            Some(_) => layout(name).ok_or_else(|| ImageRefError::LayoutPath {
                reference: reference(),
            })?,
            None => registry_source(name, text)?,
        };
        let tag = match (&source, tag, digest) {
            (ImageSource::Registry { .. }, None, None) => Some("latest".to_owned()),
            (_, tag, _) => tag,
        };
        Ok(Self {
            source,
            tag,
            digest,
        })
    }

    /// Where the image comes from.
    pub fn source(&self) -> &ImageSource {
        &self.source
    }

    /// The tag: as written, or `latest` for a registry reference with neither
    /// tag nor digest. With a digest it is informative only.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest that pins it (of a manifest or of an index), if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Whether the reference names its content by digest (the only kind the
    /// configuration accepts without `[dangerous] unpinned_images`).
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some()
    }

    /// The last component of the repository (`openclaw` for
    /// `ghcr.io/openclaw/openclaw`), as advisories name an image; none for a layout.
    pub fn image_name(&self) -> Option<&str> {
        match &self.source {
            ImageSource::Registry { repository, .. } => repository.rsplit('/').next(),
            ImageSource::Layout { .. } => None,
        }
    }

    /// How to find the digest of this reference, for the error that refuses it unpinned.
    pub fn how_to_pin(&self) -> String {
        match &self.source {
            ImageSource::Registry { .. } => format!(
                "find its digest with `hardshell image pull {self}` or \
                 `skopeo inspect --format '{{{{.Digest}}}}' docker://{self}`, and write \
                 the reference as {self}@sha256:<digest>"
            ),
            ImageSource::Layout { path } => format!(
                "find the manifest's digest in {}/index.json (`skopeo inspect --format \
                 '{{{{.Digest}}}}' oci:{}`), and write oci:{}@sha256:<digest>",
                path.display(),
                path.display(),
                path.display()
            ),
        }
    }
}

/// An `oci:` path: absolute, only normal parts, not the root alone.
fn layout(path: &str) -> Option<ImageSource> {
    let path = Path::new(path);
    let plain = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    (plain && path.as_os_str().len() > 1).then(|| ImageSource::Layout {
        path: path.to_owned(),
    })
}

/// `[registry/]repository`, normalised as Docker names Docker Hub images.
fn registry_source(name: &str, text: &str) -> Result<ImageSource, ImageRefError> {
    // The first component is a registry when Docker would take it as one.
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => (DOCKER_HUB, name),
    };
    if !is_registry(registry) {
        return Err(ImageRefError::Registry {
            reference: text.to_owned(),
            registry: registry.to_owned(),
        });
    }
    let registry = if registry == "index.docker.io" {
        DOCKER_HUB
    } else {
        registry
    };
    let normalised = if registry == DOCKER_HUB && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository.to_owned()
    };
    if !is_repository(&normalised) {
        return Err(ImageRefError::Repository {
            reference: text.to_owned(),
            repository: repository.to_owned(),
        });
    }
    Ok(ImageSource::Registry {
        registry: registry.to_owned(),
        repository: normalised,
    })
}

fn is_registry(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0));
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    port_ok && name_ok
}

fn is_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The distribution spec's path component grammar,
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, `/`-separated, at most 255 bytes.
fn is_repository(repository: &str) -> bool {
    repository.len() <= 255 && repository.split('/').all(is_path_component)
}

fn is_path_component(part: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = part.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    alnum(first)
        && alnum(last)
        && bytes
            .iter()
            .all(|&b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
        && !["..", "___", ".-", "-.", "._", "_.", "_-", "-_"]
            .iter()
            .any(|pair| part.contains(pair))
}

impl FromStr for ImageRef {
    type Err = ImageRefError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            ImageSource::Registry {
                registry,
                repository,
            } => write!(f, "{registry}/{repository}")?,
            ImageSource::Layout { path } => write!(f, "oci:{}", path.display())?,
        }
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ImageRef::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for ImageRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests;
