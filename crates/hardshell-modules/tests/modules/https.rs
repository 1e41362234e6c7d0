//! Packages over HTTPS from a real TLS server (`scripts/package-host.py`:
//! Python's http.server over OpenSSL, with a certificate from a fresh test
//! CA): fetched, they verify exactly as the same file does; plain HTTP, a
//! redirect off HTTPS, an untrusted certificate, an error status and a
//! body over the limit are each refused, and no error shows a query.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use hardshell_modules::{MAX_PACKAGE_BYTES, ModuleError, Package, Source, SourceClient};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};

use crate::Fixture;

/// The package host on 127.0.0.1, killed by its pid when dropped.
struct PackageHost {
    child: Child,
    port: u16,
    /// The test CA, PEM: what a client must trust.
    ca_pem: String,
    dir: tempfile::TempDir,
}

impl PackageHost {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (ca_pem, cert_pem, key_pem) = test_pki();
        let cert = dir.path().join("server.crt");
        let key = dir.path().join("server.key");
        std::fs::write(&cert, cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        let served = dir.path().join("served");
        std::fs::create_dir(&served).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/package-host.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("127.0.0.1")
            .arg(&served)
            .arg(&cert)
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs scripts/package-host.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("ready ")
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("the package host did not start: {line:?}"));
        Self {
            child,
            port,
            ca_pem,
            dir,
        }
    }

    /// Serves `bytes` as `/name`.
    fn serve(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.dir.path().join("served").join(name), bytes).unwrap();
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/{path}", self.port)
    }

    fn client(&self) -> SourceClient {
        SourceClient::new(Some(self.ca_pem.as_bytes())).unwrap()
    }

    async fn read(&self, path: &str) -> Result<Package, ModuleError> {
        let fetched = Source::parse(&self.url(path))?.read(&self.client()).await?;
        Ok(fetched.package)
    }
}

impl Drop for PackageHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh CA and a certificate for 127.0.0.1 it signed: (CA, cert, key),
/// PEM.
fn test_pki() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hardshell modules test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn a_package_over_https_verifies_as_the_same_file_does() {
    let host = PackageHost::start();
    let fixture = Fixture::official();
    let bytes = fixture.package("web-search", "1.0.0");
    host.serve("web-search.tar", &bytes);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bytes).unwrap();
    let from_file = Source::parse(file.path().to_str().unwrap())
        .unwrap()
        .read(&host.client())
        .await
        .unwrap()
        .package;
    for path in ["web-search.tar", "redirect/web-search.tar"] {
        let fetched = host.read(path).await.unwrap();
        assert_eq!(fetched.digest(), from_file.digest(), "{path}");
        let verified = fixture.policy().verify(fetched).unwrap();
        assert_eq!(verified.manifest().name.as_str(), "web-search");
    }
}

#[tokio::test]
async fn a_redirect_off_https_an_untrusted_certificate_and_an_error_status_are_refused() {
    let host = PackageHost::start();
    let fixture = Fixture::official();
    host.serve("web-search.tar", &fixture.package("web-search", "1.0.0"));
    let off_https = host.read("redirect-http/web-search.tar").await;
    assert!(
        matches!(&off_https, Err(ModuleError::Fetch { location, .. })
            if location == &host.url("redirect-http/web-search.tar")),
        "{off_https:?}"
    );
    let untrusted = Source::parse(&host.url("web-search.tar"))
        .unwrap()
        .read(&SourceClient::new(None).unwrap())
        .await
        .map(|fetched| fetched.package);
    let Err(ModuleError::Fetch { detail, .. }) = &untrusted else {
        panic!("{untrusted:?}");
    };
    assert!(detail.contains("certificate"), "{detail}");
    let missing = host.read("missing.tar?X-Amz-Signature=s3cr3t").await;
    let Err(error @ ModuleError::Fetch { detail, .. }) = &missing else {
        panic!("{missing:?}");
    };
    assert!(detail.contains("404"), "{detail}");
    assert!(!error.to_string().contains("s3cr3t"), "{error}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_whether_it_says_so_or_not() {
    let host = PackageHost::start();
    let liar = host.read("liar").await;
    assert!(
        matches!(liar, Err(ModuleError::PackageTooLarge { size, .. }) if size == 1 << 40),
        "{liar:?}"
    );
    let endless = host.read("endless").await;
    assert!(
        matches!(endless, Err(ModuleError::PackageTooLarge { size, limit })
            if limit == MAX_PACKAGE_BYTES && size > MAX_PACKAGE_BYTES && size <= MAX_PACKAGE_BYTES + (1 << 20)),
        "{endless:?}"
    );
}

#[tokio::test]
async fn plain_http_is_refused_before_anything_is_fetched() {
    let host = PackageHost::start();
    let result = Source::parse(&format!("http://127.0.0.1:{}/web-search.tar", host.port));
    assert!(
        matches!(result, Err(ModuleError::PlainHttp { .. })),
        "{result:?}"
    );
}
