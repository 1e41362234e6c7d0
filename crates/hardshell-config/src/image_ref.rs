//! `[workload] image`: an image reference, split only as far as the config
//! needs to judge it (is it pinned by digest, which repository and tag).
//!
//! Deliberately minimal: the `hardshell-image` crate owns the full grammar,
//! the registry client and digest verification; this parser exists so the
//! config can refuse an unpinned or malformed reference with its line before
//! anything is pulled. The two are to be unified (one parser, in one crate).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The registry a reference without one names, as Docker resolves it.
const DEFAULT_REGISTRY: &str = "docker.io";

/// Longest reference accepted; the distribution spec caps a name at 255.
const MAX_REFERENCE_BYTES: usize = 1024;

/// A `sha256:<64 lower-case hex>` content digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest(String);

impl Digest {
    /// Parses `sha256:` and 64 lower-case hex digits; nothing else.
    pub fn parse(text: &str) -> Result<Self, ImageRefError> {
        let hex = text
            .strip_prefix("sha256:")
            .ok_or(ImageRefError::DigestAlgorithm)?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ImageRefError::DigestFormat);
        }
        Ok(Self(text.to_owned()))
    }

    /// `sha256:…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// A registry: `[registry/]repository[:tag][@sha256:…]`.
    Registry {
        /// Host (and port) of the registry; `docker.io` when none is named.
        registry: String,
        /// The repository path, e.g. `openclaw/openclaw`.
        repository: String,
        /// The tag, if one is named. With a digest it is informative only.
        tag: Option<String>,
        /// The manifest's digest; `None` is an unpinned reference.
        digest: Option<Digest>,
    },
    /// A local OCI layout directory: `oci:/abs/path[@sha256:…]`.
    OciLayout {
        /// The layout's directory (absolute).
        path: PathBuf,
        /// The manifest's digest; `None` is an unpinned reference.
        digest: Option<Digest>,
    },
}

/// Why an image reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// Empty, too long, or with whitespace or control characters.
    #[error(
        "not an image reference (empty, over {MAX_REFERENCE_BYTES} bytes, or with spaces or control characters)"
    )]
    Text,
    /// A digest with another algorithm than sha256.
    #[error("the digest must be sha256:<64 hex digits>")]
    DigestAlgorithm,
    /// `sha256:` but not 64 lower-case hex digits after it.
    #[error("the digest must be sha256: followed by exactly 64 lower-case hex digits")]
    DigestFormat,
    /// `oci:` with a relative path.
    #[error("an OCI layout must be an absolute path: oci:/path/to/layout@sha256:…")]
    LayoutPath,
    /// A registry host that is not a host name (with an optional port).
    #[error("{0:?} is not a registry host")]
    Registry(String),
    /// A repository path outside `[a-z0-9]` components joined by `/`, `.`, `_`, `-`.
    #[error("{0:?} is not a repository (lower-case letters, digits, and . _ - / between them)")]
    Repository(String),
    /// A tag outside `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("{0:?} is not a tag")]
    Tag(String),
}

impl ImageRef {
    /// Parses a registry reference or `oci:PATH`, each with an optional digest.
    pub fn parse(text: &str) -> Result<Self, ImageRefError> {
        if text.is_empty()
            || text.len() > MAX_REFERENCE_BYTES
            || text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ImageRefError::Text);
        }
        let (name, digest) = match text.rsplit_once('@') {
            Some((name, digest)) => (name, Some(Digest::parse(digest)?)),
            None => (text, None),
        };
        if let Some(path) = name.strip_prefix("oci:") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(ImageRefError::LayoutPath);
            }
            return Ok(Self::OciLayout { path, digest });
        }
        // The first component is a registry when Docker would take it as one.
        let (registry, rest) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), rest)
            }
            _ => (DEFAULT_REGISTRY.to_owned(), name),
        };
        if !is_registry(&registry) {
            return Err(ImageRefError::Registry(registry));
        }
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[last_slash..].rsplit_once(':') {
            Some((_, tag)) => (&rest[..rest.len() - tag.len() - 1], Some(tag.to_owned())),
            None => (rest, None),
        };
        if !repository.split('/').all(is_path_component) {
            return Err(ImageRefError::Repository(repository.to_owned()));
        }
        if let Some(tag) = &tag
            && !is_tag(tag)
        {
            return Err(ImageRefError::Tag(tag.clone()));
        }
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_owned()
        };
        Ok(Self::Registry {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The digest that pins it, if any.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            Self::Registry { digest, .. } | Self::OciLayout { digest, .. } => digest.as_ref(),
        }
    }

    /// The last component of the repository (`openclaw` for
    /// `ghcr.io/openclaw/openclaw`), for the advisory table; none for a layout.
    pub fn image_name(&self) -> Option<&str> {
        match self {
            Self::Registry { repository, .. } => repository.rsplit('/').next(),
            Self::OciLayout { .. } => None,
        }
    }

    /// The tag, if it names one.
    pub fn tag(&self) -> Option<&str> {
        match self {
            Self::Registry { tag, .. } => tag.as_deref(),
            Self::OciLayout { .. } => None,
        }
    }

    /// How to find the digest of this reference, for the error that refuses it unpinned.
    pub fn how_to_pin(&self) -> String {
        match self {
            Self::Registry { .. } => format!(
                "find its digest with `hardshell image pull {self}` or \
                 `skopeo inspect --format '{{{{.Digest}}}}' docker://{self}`, and write \
                 the reference as {self}@sha256:<digest>"
            ),
            Self::OciLayout { path, .. } => format!(
                "find the manifest's digest in {}/index.json (`skopeo inspect --format \
                 '{{{{.Digest}}}}' oci:{}`), and write oci:{}@sha256:<digest>",
                path.display(),
                path.display(),
                path.display()
            ),
        }
    }
}

fn is_registry(text: &str) -> bool {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0));
    port_ok && hardshell_vocabulary::Host::parse(host).is_ok()
}

fn is_path_component(part: &str) -> bool {
    let separator = |b: u8| matches!(b, b'.' | b'_' | b'-');
    !part.is_empty()
        && part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || separator(b))
        && !part.starts_with(|c: char| separator(c as u8))
        && !part.ends_with(|c: char| separator(c as u8))
}

fn is_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registry {
                registry,
                repository,
                tag,
                digest,
            } => {
                write!(f, "{registry}/{repository}")?;
                if let Some(tag) = tag {
                    write!(f, ":{tag}")?;
                }
                if let Some(digest) = digest {
                    write!(f, "@{}", digest.as_str())?;
                }
                Ok(())
            }
            Self::OciLayout { path, digest } => {
                write!(f, "oci:{}", path.display())?;
                if let Some(digest) = digest {
                    write!(f, "@{}", digest.as_str())?;
                }
                Ok(())
            }
        }
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_pinned_registry_reference_splits_into_its_parts() {
        let text = format!("ghcr.io/openclaw/openclaw:2026.9.6@sha256:{HEX}");
        let image = ImageRef::parse(&text).unwrap();
        let ImageRef::Registry {
            registry,
            repository,
            tag,
            digest,
        } = &image
        else {
            panic!("{image:?}");
        };
        assert_eq!(registry, "ghcr.io");
        assert_eq!(repository, "openclaw/openclaw");
        assert_eq!(tag.as_deref(), Some("2026.9.6"));
        assert_eq!(digest.as_ref().unwrap().as_str(), format!("sha256:{HEX}"));
        assert_eq!(image.to_string(), text);
        assert_eq!(image.image_name(), Some("openclaw"));
    }

    #[test]
    fn docker_hub_short_names_and_registry_ports_resolve_as_docker_does() {
        let image = ImageRef::parse("node:24").unwrap();
        assert_eq!(image.to_string(), "docker.io/library/node:24");
        assert!(image.digest().is_none());
        let image = ImageRef::parse(&format!("localhost:5000/app@sha256:{HEX}")).unwrap();
        assert_eq!(
            image.to_string(),
            format!("localhost:5000/app@sha256:{HEX}")
        );
        assert_eq!(image.tag(), None);
    }

    #[test]
    fn an_oci_layout_needs_an_absolute_path() {
        let image = ImageRef::parse(&format!("oci:/srv/images/openclaw@sha256:{HEX}")).unwrap();
        assert!(matches!(image, ImageRef::OciLayout { .. }));
        assert!(image.digest().is_some());
        assert_eq!(
            ImageRef::parse("oci:images/openclaw"),
            Err(ImageRefError::LayoutPath)
        );
    }

    #[test]
    fn malformed_references_and_digests_are_refused() {
        for (text, error) in [
            ("", ImageRefError::Text),
            ("a b", ImageRefError::Text),
            ("ghcr.io/a/b@sha512:00", ImageRefError::DigestAlgorithm),
            // The seed's own placeholder digest.
            (
                "ghcr.io/openclaw/openclaw:v2.4.1@sha256:abc123...",
                ImageRefError::DigestFormat,
            ),
            (
                &format!("a@sha256:{}", HEX.to_uppercase()),
                ImageRefError::DigestFormat,
            ),
            (
                "ghcr.io/Open/claw",
                ImageRefError::Repository("Open/claw".into()),
            ),
            ("ghcr.io//claw", ImageRefError::Repository("/claw".into())),
            ("a:-bad", ImageRefError::Tag("-bad".into())),
            (
                "bad_host.io:0/a",
                ImageRefError::Registry("bad_host.io:0".into()),
            ),
        ] {
            assert_eq!(ImageRef::parse(text), Err(error), "{text}");
        }
    }

    #[test]
    fn what_is_accepted_prints_as_a_reference_that_parses_back() {
        for text in [
            "node",
            "node:24",
            "localhost:5000",
            "localhost:5000/a/b:c",
            "registry.example.com:443/team/app_1.x-y:v1.2_3",
            "ghcr.io/openclaw/openclaw@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "oci:/srv/a//b/",
        ] {
            let image = ImageRef::parse(text).unwrap();
            assert_eq!(
                ImageRef::parse(&image.to_string()).unwrap(),
                image,
                "{text}"
            );
        }
    }
}
