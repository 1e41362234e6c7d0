//! Image references: `[registry/]repo[:tag][@sha256:…]` and `oci:/ABS/PATH[:tag][@sha256:…]`,
//! parsed into a typed value. Docker Hub names are normalised (`docker.io`,
//! `library/`) so one image has one spelling in the store's index.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::digest::Digest;

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
    /// A local OCI image layout directory (air-gapped machines).
    Layout { path: PathBuf },
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    pub source: ImageSource,
    /// The tag; `latest` is implied for a registry reference without tag or digest.
    pub tag: Option<String>,
    /// The pinned digest, if any: of a manifest or of an index.
    pub digest: Option<Digest>,
}

/// Why a reference was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("image reference {0:?} is empty")]
    Empty(String),
    #[error("image reference {reference:?} has a bad digest: {cause}")]
    Digest {
        reference: String,
        cause: crate::digest::DigestError,
    },
    #[error(
        "image reference {0:?} has a bad tag (1-128 of [A-Za-z0-9_.-], not starting with . or -)"
    )]
    Tag(String),
    #[error(
        "image reference {0:?} has a bad repository name (lowercase [a-z0-9] parts joined by . _ __ or -, separated by /)"
    )]
    Repository(String),
    #[error("image reference {0:?} has a bad registry host")]
    Registry(String),
    #[error(
        "image reference {0:?}: an oci: layout path must be absolute and plain (no .. or empty parts)"
    )]
    LayoutPath(String),
}

/// Docker Hub's canonical name; its API lives at `registry-1.docker.io`.
pub const DOCKER_HUB: &str = "docker.io";

impl ImageRef {
    /// Parses a reference. A missing registry means Docker Hub.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let err_input = || input.to_owned();
        if input.is_empty() {
            return Err(ReferenceError::Empty(err_input()));
        }
        let (rest, digest) = match input.rsplit_once('@') {
            Some((rest, digest)) => {
                let digest = digest.parse().map_err(|cause| ReferenceError::Digest {
                    reference: err_input(),
                    cause,
                })?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
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
            && !valid_tag(tag)
        {
            return Err(ReferenceError::Tag(err_input()));
        }
        let source = if let Some(path) = name.strip_prefix("oci:") {
            let path = Path::new(path);
            let plain = path.is_absolute()
                && path.components().all(|c| {
                    matches!(
                        c,
                        std::path::Component::RootDir | std::path::Component::Normal(_)
                    )
                });
            if !plain || path.as_os_str().len() <= 1 {
                return Err(ReferenceError::LayoutPath(err_input()));
            }
            ImageSource::Layout {
                path: path.to_owned(),
            }
        } else {
            let (registry, repository) = split_registry(name);
            if !valid_registry(registry) {
                return Err(ReferenceError::Registry(err_input()));
            }
            let registry = if registry == "index.docker.io" {
                DOCKER_HUB
            } else {
                registry
            };
            let repository = if registry == DOCKER_HUB && !repository.contains('/') {
                format!("library/{repository}")
            } else {
                repository.to_owned()
            };
            if !valid_repository(&repository) {
                return Err(ReferenceError::Repository(err_input()));
            }
            ImageSource::Registry {
                registry: registry.to_owned(),
                repository,
            }
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

    /// Whether the reference names its content by digest (the only kind the
    /// configuration accepts without `[dangerous] unpinned_images`).
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some()
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
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

fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => (DOCKER_HUB, name),
    }
}

fn valid_registry(host: &str) -> bool {
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

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The distribution spec's path component grammar:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_repository(repo: &str) -> bool {
    repo.len() <= 255
        && repo.split('/').all(|part| {
            let bytes = part.as_bytes();
            let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
            let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
                return false;
            };
            if !alnum(first) || !alnum(last) || part.contains("..") || part.contains("___") {
                return false;
            }
            bytes
                .iter()
                .all(|&b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
                && !part.contains(".-")
                && !part.contains("-.")
                && !part.contains("._")
                && !part.contains("_.")
                && !part.contains("_-")
                && !part.contains("-_")
        })
}

#[cfg(test)]
mod tests;
