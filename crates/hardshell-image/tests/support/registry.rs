//! A real OCI registry (Debian's `docker-registry`, distribution 2.8) on
//! 127.0.0.1 with TLS from a fresh test CA, optionally behind htpasswd Basic
//! auth, killed by its pid on drop. Images reach it with `skopeo copy`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::token::{ISSUER, SERVICE, TokenServer};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};

pub struct Registry {
    child: Child,
    pub addr: SocketAddr,
    /// The registry's storage, to corrupt a blob behind its back.
    pub storage: PathBuf,
    /// The test CA, PEM: what a client must trust.
    pub ca_pem: String,
    /// `ca.crt` for skopeo's --dest-cert-dir.
    cert_dir: PathBuf,
    credentials: Option<(String, String)>,
    /// The token service, when the registry uses Bearer tokens.
    pub token: Option<TokenServer>,
    _dir: tempfile::TempDir,
}

enum Auth {
    Anonymous,
    Basic,
    Token,
    /// Token auth whose challenge names this realm, and no token service.
    Realm(String),
}

impl Registry {
    pub fn start() -> Self {
        Self::start_with(Auth::Anonymous, None)
    }

    /// With htpasswd auth for `user:password`.
    pub fn with_basic_auth(user: &str, password: &str) -> Self {
        Self::start_with(Auth::Basic, Some((user.to_owned(), password.to_owned())))
    }

    /// With Bearer tokens from a token service (anonymous pulls allowed,
    /// pushes for `user:password`), as ghcr.io and Docker Hub do.
    pub fn with_token_auth(user: &str, password: &str) -> Self {
        Self::start_with(Auth::Token, Some((user.to_owned(), password.to_owned())))
    }

    /// With token auth whose challenge names `realm` (e.g. a plain-HTTP one).
    pub fn with_token_realm(realm: &str) -> Self {
        Self::start_with(Auth::Realm(realm.to_owned()), None)
    }

    fn start_with(mode: Auth, credentials: Option<(String, String)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = test_pki();
        let (ca_pem, cert_pem, key_pem) = (
            pki.ca_pem.clone(),
            pki.cert_pem.clone(),
            pki.key_pem.clone(),
        );
        let cert_dir = dir.path().join("certs");
        std::fs::create_dir(&cert_dir).unwrap();
        std::fs::write(cert_dir.join("ca.crt"), &ca_pem).unwrap();
        std::fs::write(dir.path().join("server.crt"), &cert_pem).unwrap();
        std::fs::write(dir.path().join("server.key"), &key_pem).unwrap();
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).unwrap();
        let port = free_port();
        let mut token = None;
        let auth = match (&mode, &credentials) {
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
                "auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                cert_dir.join("ca.crt").display()
            ),
            _ => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
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
            // Its request log (every skopeo probe is an "error") goes to a file.
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("registry.log")).unwrap(),
            ))
            .spawn()
            .expect("docker-registry is installed (scripts/install.sh)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut registry = Self {
            child,
            addr,
            storage,
            ca_pem,
            cert_dir,
            credentials,
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

    /// Pushes tag `tag` of the OCI layout at `layout` as `name:tag` (every
    /// platform of an index, with `--all`).
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

    /// The registry's own copy of a blob.
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

/// A CA and a server certificate for 127.0.0.1 and localhost it signed.
fn test_pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hardshell image test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&server_key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: server_key.serialize_pem(),
        cert_der: cert.der().to_vec(),
        key_der: server_key.serialize_der(),
    }
}
