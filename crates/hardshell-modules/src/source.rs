//! Where a package comes from: a local file, an HTTPS URL, or an OCI
//! registry (see `oci.rs`). Every way the bytes are only bytes until
//! [`crate::TrustPolicy::verify`] has checked them: the transport is not
//! what is trusted, the publisher's signature is. HTTPS still matters (it keeps a network attacker from
//! learning what is installed, and from serving an older, validly signed
//! package the owner would be asked to accept), so plain `http://` is
//! refused, and so is every redirect off HTTPS; registries are reached over
//! HTTPS only, as images are.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hardshell_image::{ImageRef, RegistryCredential};
use hardshell_vocabulary::Digest;
use url::Url;

use crate::oci::{self, RegistryAccess};
use crate::package::MAX_PACKAGE_BYTES;
use crate::{ModuleError, Package};

/// Redirects followed at most (each must stay on HTTPS).
const MAX_REDIRECTS: usize = 5;
/// The longest URL taken.
const MAX_URL_BYTES: usize = 2048;

/// A `SOURCE` as the owner gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A package file on this machine.
    File(PathBuf),
    /// A package at an `https://` URL.
    Https(Url),
    /// A package published to an OCI registry, `oci://REFERENCE`.
    Oci(ImageRef),
}

/// A package as read from its source, and the source as the lock records it.
#[derive(Debug)]
pub struct Fetched {
    pub package: Package,
    /// For an OCI source, the digest of the manifest its reference
    /// resolved to (a tag can move; this cannot).
    pub manifest: Option<Digest>,
}

impl Fetched {
    /// The source as the lock records it: `given`, or for an OCI source,
    /// the reference pinned to the manifest it resolved to
    /// (`oci://REGISTRY/REPOSITORY:TAG@sha256:…`), so the lock says which
    /// artifact was reviewed.
    pub fn recorded_source(&self, source: &Source, given: &str) -> String {
        match (source, self.manifest) {
            (Source::Oci(reference), Some(manifest)) if reference.digest().is_none() => {
                format!("{}{reference}@{manifest}", oci::SCHEME)
            }
            (Source::Oci(reference), _) => format!("{}{reference}", oci::SCHEME),
            _ => given.to_owned(),
        }
    }
}

impl Source {
    /// `text` as a source: an `https://` URL, an `oci://` registry
    /// reference, else a local path; plain HTTP, `docker://` and `oci:`
    /// without `//` (a local OCI layout in image references) are refused.
    pub fn parse(text: &str) -> Result<Self, ModuleError> {
        let lower = text.to_ascii_lowercase();
        let shown = || crate::error::shown(text, 200);
        if lower.starts_with("https://") {
            return https(text).map(Self::Https);
        }
        if lower.starts_with("http://") {
            return Err(ModuleError::PlainHttp {
                source_text: shown(),
            });
        }
        if lower.starts_with(oci::SCHEME) {
            return oci::parse(text).map(Self::Oci);
        }
        let remote = ["oci:", "docker://"]
            .iter()
            .any(|scheme| lower.starts_with(scheme));
        if remote || text.is_empty() {
            return Err(ModuleError::UnknownSource {
                source_text: shown(),
            });
        }
        Ok(Self::File(PathBuf::from(text)))
    }

    /// Reads the package, bounded (see [`Package::read_file`],
    /// [`SourceClient`] and `oci.rs`).
    pub async fn read(&self, client: &SourceClient) -> Result<Fetched, ModuleError> {
        let (package, manifest) = match self {
            Source::File(path) => (Package::read_file(path)?, None),
            Source::Https(url) => (client.fetch(url).await?, None),
            Source::Oci(reference) => {
                let (package, manifest) = oci::pull(&client.registry, reference).await?;
                (package, Some(manifest))
            }
        };
        Ok(Fetched { package, manifest })
    }
}

/// `text` as a package URL: HTTPS, a host, no credentials (they would be
/// kept in the lock as the source, and shown), no fragment.
fn https(text: &str) -> Result<Url, ModuleError> {
    let refused = |why: &str| ModuleError::SourceUrl {
        detail: why.to_owned(),
    };
    if text.len() > MAX_URL_BYTES {
        return Err(refused("it is longer than 2048 bytes"));
    }
    let url = Url::parse(text).map_err(|e| refused(&e.to_string()))?;
    if url.scheme() != "https" || url.host().is_none() {
        return Err(refused("it is not an https:// URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused(
            "it carries credentials; a package URL must not hold any",
        ));
    }
    if url.fragment().is_some() {
        return Err(refused("it has a #fragment"));
    }
    Ok(url)
}

/// The HTTPS clients packages are fetched with: TLS verified against the
/// system's roots (and any extra ones given), HTTPS only through every
/// redirect, bounded in time and in size; for registries, the image
/// puller's client and the registry credential, if one is given.
#[derive(Debug, Clone)]
pub struct SourceClient {
    http: reqwest::Client,
    registry: RegistryAccess,
}

impl SourceClient {
    /// `extra_roots_pem`: PEM certificates trusted besides the system's
    /// roots (a private host's CA; tests' CA).
    pub fn new(extra_roots_pem: Option<&[u8]>) -> Result<Self, ModuleError> {
        let failed = |e: reqwest::Error| ModuleError::Fetch {
            location: "(no request made)".to_owned(),
            detail: format!("the HTTPS client could not be made: {e}"),
        };
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(60))
            .timeout(Duration::from_secs(600))
            .user_agent(concat!("hardshell/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = extra_roots_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(failed)?;
            builder = builder.tls_certs_merge(certs);
        }
        let registry = hardshell_image::RegistryClient::new(extra_roots_pem).map_err(|e| {
            ModuleError::Fetch {
                location: "(no request made)".to_owned(),
                detail: format!("the registry client could not be made: {e}"),
            }
        })?;
        Ok(Self {
            http: builder.build().map_err(failed)?,
            registry: RegistryAccess {
                client: registry,
                credential: None,
                deadline: oci::PULL_DEADLINE,
            },
        })
    }

    /// Pulls from registries with `credential` (`user:password`, as
    /// `hardshell image pull --credential` takes it); never sent elsewhere.
    pub fn with_registry_credential(mut self, credential: RegistryCredential) -> Self {
        self.registry.credential = Some(Arc::new(credential));
        self
    }

    /// Abandons a registry pull still running after `deadline` (by
    /// default 10 minutes, as an HTTPS fetch): the registry client bounds
    /// each wait for a byte, this bounds a registry that sends them slowly.
    pub fn with_registry_deadline(mut self, deadline: Duration) -> Self {
        self.registry.deadline = deadline;
        self
    }

    /// The package at `url`: refused unread when it says it is larger
    /// than a package may be, and never read past the limit whatever it
    /// says.
    async fn fetch(&self, url: &Url) -> Result<Package, ModuleError> {
        let location = location(url);
        let failed = |e: reqwest::Error| ModuleError::Fetch {
            location: location.clone(),
            detail: causes(e),
        };
        let mut response = self.http.get(url.clone()).send().await.map_err(failed)?;
        let status = response.status();
        if !status.is_success() {
            return Err(ModuleError::Fetch {
                location,
                detail: format!("the server answered {status}"),
            });
        }
        if let Some(size) = response.content_length()
            && size > MAX_PACKAGE_BYTES
        {
            return Err(ModuleError::PackageTooLarge {
                size,
                limit: MAX_PACKAGE_BYTES,
            });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            let size = bytes.len() as u64 + chunk.len() as u64;
            if size > MAX_PACKAGE_BYTES {
                return Err(ModuleError::PackageTooLarge {
                    size,
                    limit: MAX_PACKAGE_BYTES,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Package::parse(bytes)
    }
}

/// What went wrong, with its causes (the certificate's fault is one of
/// them), and without the URL reqwest's errors repeat, query and all.
fn causes(error: reqwest::Error) -> String {
    crate::error::shown(&crate::error::causes(&error.without_url()), 500)
}

/// The URL as errors show it: scheme, host, port and path, never the
/// query (a signed download link's query is its key).
fn location(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    crate::error::shown(shown.as_str(), 300)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_path_is_a_file_and_https_a_url() {
        assert_eq!(
            Source::parse("./web-search.tar").unwrap(),
            Source::File(PathBuf::from("./web-search.tar"))
        );
        let Source::Https(url) = Source::parse("HTTPS://Modules.example/w.tar?x=1").unwrap() else {
            panic!("not a URL");
        };
        assert_eq!(url.as_str(), "https://modules.example/w.tar?x=1");
        let Source::Oci(reference) = Source::parse("oci://registry.example/w:1").unwrap() else {
            panic!("not a registry reference");
        };
        assert_eq!(reference.to_string(), "registry.example/w:1");
    }

    #[test]
    fn plain_http_credentials_fragments_and_other_schemes_are_refused() {
        for (text, refused) in [
            ("http://modules.example/w.tar", "PlainHttp"),
            ("https://user:pass@modules.example/w.tar", "SourceUrl"),
            ("https://token@modules.example/w.tar", "SourceUrl"),
            ("https://modules.example/w.tar#x", "SourceUrl"),
            ("https://", "SourceUrl"),
            ("oci:/srv/layout:1", "UnknownSource"),
            ("docker://registry.example/w:1", "UnknownSource"),
            ("oci://registry.example/W:1", "OciReference"),
            ("", "UnknownSource"),
        ] {
            let error = Source::parse(text).unwrap_err();
            assert!(
                format!("{error:?}").starts_with(refused),
                "{text}: {error:?}"
            );
        }
        let long = format!("https://modules.example/{}", "a".repeat(MAX_URL_BYTES));
        assert!(matches!(
            Source::parse(&long),
            Err(ModuleError::SourceUrl { .. })
        ));
    }

    #[test]
    fn an_error_shows_no_query_and_no_controls() {
        let url = Url::parse("https://modules.example/w.tar?X-Amz-Signature=abc").unwrap();
        assert_eq!(location(&url), "https://modules.example/w.tar");
        let error = Source::parse("http://x/\u{1b}[2J").unwrap_err().to_string();
        assert!(!error.contains('\u{1b}'), "{error}");
    }
}
