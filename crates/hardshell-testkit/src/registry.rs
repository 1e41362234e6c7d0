//! A real OCI registry (Debian's `docker-registry`, distribution 2.8) on
//! 127.0.0.1 with TLS from a fresh test CA, optionally behind htpasswd Basic
//! auth or Bearer tokens (`registry-token`: a token service of its own, as
//! ghcr.io and Docker Hub have), killed by its pid on drop; OCI layouts
//! written by hand ([`Layout`]), honest or not, that `skopeo copy` pushes
//! to it byte for byte; and a registry that lies
//! ([`hostile::HostileRegistry`]). Module packages are published through
//! these in tests ([`Registry::push_module`]).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod hostile;
#[cfg(feature = "registry-token")]
pub mod token;
#[cfg(feature = "registry-token")]
use token::{ISSUER, SERVICE, TokenServer};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The registry, listening on loopback.
pub struct Registry {
    child: Child,
    pub addr: SocketAddr,
    /// The registry's storage, to change a blob behind its back.
    pub storage: PathBuf,
    /// The test CA, PEM: what a client must trust.
    pub ca_pem: String,
    /// The test CA as a file, for `SSL_CERT_FILE`.
    pub ca_file: PathBuf,
    /// The directory of `ca.crt`, for skopeo's --dest-cert-dir.
    pub cert_dir: PathBuf,
    credentials: Option<(String, String)>,
    /// The token service, when the registry uses Bearer tokens.
    #[cfg(feature = "registry-token")]
    pub token: Option<TokenServer>,
    _dir: tempfile::TempDir,
}

enum Auth {
    Anonymous,
    Basic,
    #[cfg(feature = "registry-token")]
    Token,
    /// Token auth whose challenge names this realm, and no token service.
    Realm(String),
}

impl Registry {
    /// Anonymous pulls and pushes.
    pub fn start() -> Self {
        Self::start_with(Auth::Anonymous, None)
    }

    /// Every request needs Basic auth as `user:password`.
    pub fn with_basic_auth(user: &str, password: &str) -> Self {
        Self::start_with(Auth::Basic, Some((user.to_owned(), password.to_owned())))
    }

    /// With Bearer tokens from a token service (anonymous pulls allowed,
    /// pushes for `user:password`), as ghcr.io and Docker Hub do.
    #[cfg(feature = "registry-token")]
    pub fn with_token_auth(user: &str, password: &str) -> Self {
        Self::start_with(Auth::Token, Some((user.to_owned(), password.to_owned())))
    }

    /// With token auth whose challenge names `realm` (e.g. a plain-HTTP
    /// one), and no token service behind it.
    pub fn with_token_realm(realm: &str) -> Self {
        Self::start_with(Auth::Realm(realm.to_owned()), None)
    }

    fn start_with(mode: Auth, credentials: Option<(String, String)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::pki::test_pki("hardshell registry test CA");
        let (ca_pem, cert_pem, key_pem) = (
            pki.ca_pem.clone(),
            pki.cert_pem.clone(),
            pki.key_pem.clone(),
        );
        let cert_dir = dir.path().join("certs");
        std::fs::create_dir(&cert_dir).unwrap();
        let ca_file = cert_dir.join("ca.crt");
        std::fs::write(&ca_file, &ca_pem).unwrap();
        std::fs::write(dir.path().join("server.crt"), &cert_pem).unwrap();
        std::fs::write(dir.path().join("server.key"), &key_pem).unwrap();
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).unwrap();
        #[cfg(feature = "registry-token")]
        let mut token = None;
        let auth = match (&mode, &credentials) {
            #[cfg(feature = "registry-token")]
            (Auth::Token, Some((user, password))) => {
                let server =
                    TokenServer::start(pki.cert_der.clone(), pki.key_der.clone(), user, password);
                let bundle = dir.path().join("token-signer.pem");
                std::fs::write(&bundle, &server.signing_cert_pem).unwrap();
                let auth = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    server.realm(),
                    bundle.display()
                );
                token = Some(server);
                auth
            }
            (Auth::Basic, Some((user, password))) => {
                let hash = bcrypt::hash(password, 4).unwrap();
                std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                )
            }
            (Auth::Realm(realm), _) => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: hardshell-test-registry\n    issuer: hardshell-test-issuer\n    rootcertbundle: {}\n",
                ca_file.display()
            ),
            _ => String::new(),
        };
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {}\n    key: {}\n{auth}",
            storage.display(),
            dir.path().join("server.crt").display(),
            dir.path().join("server.key").display(),
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("registry.log")).unwrap(),
            ))
            .spawn()
            .expect("docker-registry is installed (scripts/install.sh)");
        let mut registry = Self {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            storage,
            ca_pem,
            ca_file,
            cert_dir,
            credentials,
            #[cfg(feature = "registry-token")]
            token,
            _dir: dir,
        };
        registry.wait_listening();
        registry
    }

    /// Listening is enough: distribution opens its listener only when it is
    /// about to serve.
    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(self.addr).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT/name`
    pub fn repo(&self, name: &str) -> String {
        format!("{}/{name}", self.addr)
    }

    /// Pushes tag `tag` of the layout at `layout` as `name:tag` (every
    /// platform of an index), digests preserved.
    pub fn push(&self, layout: &Path, tag: &str, name: &str) {
        let mut command = Command::new("skopeo");
        command
            .args(["copy", "--quiet", "--all", "--preserve-digests"])
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}:{tag}", self.repo(name)))
            .arg("--dest-cert-dir")
            .arg(&self.cert_dir);
        if let Some((user, password)) = &self.credentials {
            command
                .arg("--dest-creds")
                .arg(format!("{user}:{password}"));
        }
        let out = command
            .output()
            .expect("skopeo is installed (scripts/install.sh)");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The registry's own copy of the blob `sha256:<hex>`.
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.storage.join(format!(
            "docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request's head read over TLS from `tcp` (at most 16 KiB, up to its
/// blank line) by the test's own HTTPS servers; `None` when the client
/// closed first. The stream is left for the answer.
fn tls_request_head(
    tls: std::sync::Arc<rustls::ServerConfig>,
    tcp: TcpStream,
) -> std::io::Result<
    Option<(
        rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
        String,
    )>,
> {
    use std::io::Read as _;
    let connection = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 << 10 {
        if stream.read(&mut byte)? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(Some((stream, String::from_utf8_lossy(&head).into_owned())))
}

pub use crate::free_port;

/// A blob written to a layout.
#[derive(Clone, Debug)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
}

impl Blob {
    /// Its descriptor, of `media_type`.
    pub fn descriptor(&self, media_type: &str) -> Value {
        json!({"mediaType": media_type, "digest": self.digest, "size": self.size})
    }
}

/// An OCI image layout written directly: blobs by digest, indexes, and
/// `index.json` tags, any manifest a test writes (hostile ones included).
pub struct Layout {
    pub dir: PathBuf,
    tags: Vec<Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let layout = Self {
            dir: dir.to_owned(),
            tags: Vec::new(),
        };
        layout.write_index();
        layout
    }

    pub fn blob(&self, bytes: &[u8]) -> Blob {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
        std::fs::write(self.blob_path(&digest), bytes).unwrap();
        Blob {
            digest,
            size: bytes.len() as u64,
        }
    }

    /// Where the blob `sha256:<hex>` is kept, to read or change it.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    }

    /// Writes an index of `(manifest, architecture)` (all linux).
    pub fn index(&self, manifests: &[(&Blob, &str)]) -> Blob {
        let entries: Vec<Value> = manifests
            .iter()
            .map(|(manifest, architecture)| {
                json!({"mediaType": OCI_MANIFEST, "digest": manifest.digest, "size": manifest.size,
                "platform": {"architecture": architecture, "os": "linux"}})
            })
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
        self.blob(index.to_string().as_bytes())
    }

    /// Points `tag` at `blob` (a manifest or an index, of `media_type`) in
    /// `index.json`.
    pub fn tag(&mut self, tag: &str, blob: &Blob, media_type: &str) {
        self.tags
            .retain(|t| t["annotations"]["org.opencontainers.image.ref.name"] != tag);
        self.tags.push(json!({
            "mediaType": media_type, "digest": blob.digest, "size": blob.size,
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }));
        self.write_index();
    }

    /// Writes `manifest` (an OCI image manifest) and tags it `tag`.
    pub fn tag_manifest(&mut self, tag: &str, manifest: &Value) -> Blob {
        let blob = self.blob(manifest.to_string().as_bytes());
        self.tag(tag, &blob, OCI_MANIFEST);
        blob
    }

    fn write_index(&self) {
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.tags});
        std::fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }
}

/// A module package's `artifactType` (hardshell-modules' `ARTIFACT_TYPE`).
pub const MODULE_ARTIFACT_TYPE: &str = "application/vnd.hardshell.module.v1";
/// Its one layer's media type (hardshell-modules' `PACKAGE_MEDIA_TYPE`).
pub const MODULE_LAYER: &str = "application/vnd.hardshell.module.layer.v1.tar";
/// The image spec's empty config, `{}`.
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

/// An artifact manifest of `artifact_type` with the empty config (written
/// to `layout`) and `layers` (descriptors of blobs already in it).
pub fn artifact_manifest(layout: &Layout, artifact_type: &str, layers: &[Value]) -> Value {
    let config = layout.blob(b"{}");
    json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": config.descriptor(EMPTY_CONFIG),
        "layers": layers,
    })
}

/// A module artifact of `package`, as a publisher writes it
/// (`scripts/module-push.sh`): the manifest, and its one layer, the
/// package file itself, written to `layout`.
pub fn module_manifest(layout: &Layout, package: &[u8]) -> (Value, Blob) {
    let layer = layout.blob(package);
    let manifest = artifact_manifest(
        layout,
        MODULE_ARTIFACT_TYPE,
        &[layer.descriptor(MODULE_LAYER)],
    );
    (manifest, layer)
}

/// What [`Registry::push_module`] published.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// The manifest: what the tag resolves to.
    pub manifest: Blob,
    /// The layer: the package file.
    pub layer: Blob,
}

impl Registry {
    /// Publishes `package` as `name:tag`, as a publisher does
    /// (`scripts/module-push.sh`): one layer, the file itself.
    pub fn push_module(&self, package: &[u8], name: &str, tag: &str) -> Pushed {
        self.push_artifact(name, tag, |layout| module_manifest(layout, package))
    }

    /// Pushes the manifest `build` writes into a fresh layout as `name:tag`
    /// (any shape, for the tests that must refuse it); `build` returns the
    /// manifest and the blob the test cares about.
    pub fn push_artifact(
        &self,
        name: &str,
        tag: &str,
        build: impl FnOnce(&Layout) -> (Value, Blob),
    ) -> Pushed {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = Layout::new(dir.path());
        let (manifest, layer) = build(&layout);
        let manifest = layout.tag_manifest(tag, &manifest);
        self.push(&layout.dir, tag, name);
        Pushed { manifest, layer }
    }
}
