//! Packages published to an OCI registry, as an OCI artifact (image spec
//! 1.1): an image manifest with `artifactType` [`ARTIFACT_TYPE`], the empty
//! config, and exactly one layer of media type [`PACKAGE_MEDIA_TYPE`] whose
//! bytes are the package file itself, byte for byte what `module add FILE`
//! would read. `scripts/module-push.sh` publishes one.
//!
//! A source is `oci://` and an image reference as `hardshell image pull`
//! takes it (`oci://ghcr.io/example/web-search:1.2.0`, or pinned,
//! `…@sha256:<manifest>`). The registry is only the transport, as HTTPS is:
//! the layer's digest proves the bytes are the manifest's, and the
//! publisher's signature, checked afterwards exactly as for a file, proves
//! whose they are.

use std::sync::Arc;
use std::time::Duration;

use hardshell_image::{ArtifactKind, ImageError, ImageRef, ImageSource, RegistryCredential};

use crate::error::{causes, shown};
use crate::package::MAX_PACKAGE_BYTES;
use crate::{ModuleError, Package};

/// The `artifactType` of a module package's manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.hardshell.module.v1";
/// The media type of its one layer: the package file (a plain tar archive).
pub const PACKAGE_MEDIA_TYPE: &str = "application/vnd.hardshell.module.layer.v1.tar";
/// How long a pull may take in all, unless the client says otherwise.
pub(crate) const PULL_DEADLINE: Duration = Duration::from_secs(600);
/// The scheme that marks a source as a registry reference.
pub(crate) const SCHEME: &str = "oci://";

/// What a module artifact must be.
const MODULE: ArtifactKind<'static> = ArtifactKind {
    artifact_type: ARTIFACT_TYPE,
    layer_media_type: PACKAGE_MEDIA_TYPE,
    max_layer_bytes: MAX_PACKAGE_BYTES,
};

/// `text` after `oci://`: a registry reference. A local OCI layout
/// (`oci:/path`) is not a package source: the package file itself is.
pub(crate) fn parse(text: &str) -> Result<ImageRef, ModuleError> {
    let refused = |detail: String| ModuleError::OciReference {
        source_text: shown(text, 200),
        detail,
    };
    let reference = text
        .get(SCHEME.len()..)
        .ok_or_else(|| refused("it is empty".to_owned()))?;
    let reference = ImageRef::parse(reference).map_err(|e| refused(shown(&e.to_string(), 300)))?;
    match reference.source() {
        ImageSource::Registry { .. } => Ok(reference),
        ImageSource::Layout { .. } => Err(refused(
            "it names a local OCI layout; add the package file itself".to_owned(),
        )),
    }
}

/// The registry client and the credential packages are pulled with.
#[derive(Debug, Clone)]
pub(crate) struct RegistryAccess {
    pub(crate) client: hardshell_image::RegistryClient,
    pub(crate) credential: Option<Arc<RegistryCredential>>,
    pub(crate) deadline: Duration,
}

/// A package pulled from a registry, and the manifest its reference
/// resolved to.
pub(crate) async fn pull(
    access: &RegistryAccess,
    reference: &ImageRef,
) -> Result<(Package, hardshell_image::Digest), ModuleError> {
    let pulled = access
        .client
        .pull_artifact(reference, access.credential.as_deref(), &MODULE);
    let artifact = tokio::time::timeout(access.deadline, pulled)
        .await
        .map_err(|_| ModuleError::Registry {
            reference: format!("{SCHEME}{reference}"),
            detail: format!(
                "the pull did not finish within {} seconds",
                access.deadline.as_secs_f64()
            ),
        })?
        .map_err(|e| pull_error(reference, e))?;
    Ok((Package::parse(artifact.layer)?, artifact.manifest))
}

/// The image crate's error in the words of a module source: what the
/// registry served that is not a module package is a refusal; a registry
/// that could not be reached, or has no such tag, refuses nothing.
fn pull_error(reference: &ImageRef, error: ImageError) -> ModuleError {
    let reference = format!("{SCHEME}{reference}");
    let detail = shown(&causes(&error), 500);
    match error {
        ImageError::TooLarge { .. } => ModuleError::ArtifactTooLarge { reference, detail },
        ImageError::Artifact { .. }
        | ImageError::DigestMismatch { .. }
        | ImageError::SizeMismatch { .. } => ModuleError::Artifact { reference, detail },
        ImageError::Unauthorized { .. } => ModuleError::Registry {
            reference,
            detail: format!(
                "{detail}; give the registry's user:password as a secret with \
                 --credential secret:NAME"
            ),
        },
        _ => ModuleError::Registry { reference, detail },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_registry_reference_by_tag_or_digest_is_taken() {
        let by_tag = parse("oci://127.0.0.1:5000/modules/web-search:1.0").unwrap();
        assert_eq!(by_tag.to_string(), "127.0.0.1:5000/modules/web-search:1.0");
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = parse(&format!("oci://ghcr.io/example/fetch@{digest}")).unwrap();
        assert_eq!(pinned.digest().unwrap().to_string(), digest);
        // As `hardshell image pull` names it: no registry is Docker Hub.
        let hub = parse("oci://example/fetch").unwrap();
        assert_eq!(hub.to_string(), "docker.io/example/fetch:latest");
    }

    #[test]
    fn a_layout_or_a_broken_reference_is_refused() {
        for text in [
            "oci://",
            "oci://oci:/srv/layout:1",
            "oci://ghcr.io/Example/Upper:1",
            "oci://ghcr.io/example/x@sha256:short",
            "oci://ghcr.io/example/x:bad tag",
        ] {
            let error = parse(text).unwrap_err();
            assert!(
                matches!(error, ModuleError::OciReference { .. }),
                "{text}: {error:?}"
            );
        }
    }
}
