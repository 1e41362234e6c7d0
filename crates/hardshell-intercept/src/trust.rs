//! What a shell is given to trust the egress CA: its certificate alone (for
//! Node's `NODE_EXTRA_CA_CERTS`, which adds to Node's own roots), and a bundle
//! of the system's roots with it (for everything that replaces its roots with
//! a file: OpenSSL's `SSL_CERT_FILE`, curl, Python's requests, git). Both are
//! public certificates only; the CA's key never leaves the secret store.
//!
//! The files are written under the edge's run directory at each start and
//! bound read-only into shells ([`TrustFiles`]); the system bundle the shell
//! would read by default is covered by the same bundle, so a client that
//! reads no variable trusts the CA too.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::EgressCa;

/// The system CA bundles clients read when told nothing: Debian and Ubuntu,
/// Fedora and RHEL, Alpine and Arch's compatibility path. The first that is
/// a regular file is the bundle's source; every one that is, is covered in a
/// shell.
pub const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The CA's file, and the bundle of the system's roots and the CA, on the host.
#[derive(Debug, Clone)]
pub struct TrustFiles {
    /// The directory holding both (bound into shells whole); absolute,
    /// without symlinks.
    pub dir: PathBuf,
    /// The CA certificate's PEM.
    pub ca: PathBuf,
    /// The system's roots, then the CA.
    pub bundle: PathBuf,
    /// The system bundles found on this host (absolute, regular files, no
    /// symlink on the way), each to be covered by `bundle` in a shell.
    pub covers: Vec<PathBuf>,
}

/// Why the trust files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("reading the system's CA bundle {path}: {source}")]
    ReadSystem {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The CA's file's name in [`TrustFiles::dir`].
pub const CA_FILE: &str = "egress-ca.pem";
/// The bundle's name in [`TrustFiles::dir`].
pub const BUNDLE_FILE: &str = "ca-bundle.pem";

impl TrustFiles {
    /// Writes the files for `ca` into `dir` (made 0755 if missing; each file
    /// replaced whole, 0644), the bundle from the first of `system` that is
    /// a plain file: [`SYSTEM_BUNDLES`] in production.
    pub fn write(dir: &Path, ca: &EgressCa, system: &[&str]) -> Result<Self, TrustError> {
        let failed = |path: &Path| {
            let path = path.to_owned();
            move |source| TrustError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(failed(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(failed(dir))?;
        // Absolute and without symlinks: shells bind exactly these paths.
        let dir = &dir.canonicalize().map_err(failed(dir))?;
        let covers: Vec<PathBuf> = system
            .iter()
            .map(PathBuf::from)
            .filter(|path| plain_file(path))
            .collect();
        let mut bundle = match covers.first() {
            Some(path) => std::fs::read(path).map_err(|source| TrustError::ReadSystem {
                path: path.clone(),
                source,
            })?,
            None => {
                tracing::warn!(
                    "no system CA bundle found ({}): shells trust the egress CA alone through \
                     SSL_CERT_FILE, so only inspected routes verify",
                    system.join(", ")
                );
                Vec::new()
            }
        };
        if !bundle.is_empty() && !bundle.ends_with(b"\n") {
            bundle.push(b'\n');
        }
        bundle.extend_from_slice(ca.ca_pem().as_bytes());
        let files = Self {
            ca: dir.join(CA_FILE),
            bundle: dir.join(BUNDLE_FILE),
            dir: dir.to_owned(),
            covers,
        };
        replace(&files.ca, ca.ca_pem().as_bytes()).map_err(failed(&files.ca))?;
        replace(&files.bundle, &bundle).map_err(failed(&files.bundle))?;
        Ok(files)
    }
}

/// Whether `path` is absolute, a regular file, and reached through no
/// symlink: a bind over it in a shell then covers exactly that file, and
/// cannot be led elsewhere by a link.
fn plain_file(path: &Path) -> bool {
    if !path.is_absolute() {
        return false;
    }
    let mut walked = PathBuf::from("/");
    for part in path.components().skip(1) {
        walked.push(part);
        match walked.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => return false,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    walked.symlink_metadata().is_ok_and(|meta| meta.is_file())
}

/// Writes `bytes` beside `path` and renames it over: a shell starting
/// meanwhile reads the old file or the new one, never half of one.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::InstallId;

    #[test]
    fn the_bundle_is_the_system_roots_then_the_ca_and_symlinked_bundles_are_not_covered() {
        let dir = tempfile::tempdir().unwrap();
        let roots = dir.path().join("roots.crt");
        std::fs::write(
            &roots,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        )
        .unwrap();
        let linked = dir.path().join("linked.crt");
        std::os::unix::fs::symlink(&roots, &linked).unwrap();
        let ca = EgressCa::generate(&InstallId::parse("test").unwrap()).unwrap();
        let out = dir.path().join("trust");
        let (linked, roots) = (linked.to_str().unwrap(), roots.to_str().unwrap());
        let files =
            TrustFiles::write(&out, &ca, &["/nonexistent/bundle.crt", linked, roots]).unwrap();
        assert_eq!(files.covers, [PathBuf::from(roots)]);
        assert_eq!(std::fs::read_to_string(&files.ca).unwrap(), ca.ca_pem());
        let bundle = std::fs::read_to_string(&files.bundle).unwrap();
        assert!(
            bundle.starts_with("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        );
        assert!(bundle.ends_with(ca.ca_pem()));
        assert!(!bundle.contains("PRIVATE KEY"));
        for file in [&files.ca, &files.bundle] {
            let mode = file.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "{}", file.display());
        }

        // Written again for a new CA: the files are replaced, not appended to.
        let next = EgressCa::generate(&InstallId::parse("test").unwrap()).unwrap();
        let files = TrustFiles::write(&out, &next, &[roots]).unwrap();
        let bundle = std::fs::read_to_string(&files.bundle).unwrap();
        assert!(bundle.ends_with(next.ca_pem()) && !bundle.contains(ca.ca_pem()));
    }
}
