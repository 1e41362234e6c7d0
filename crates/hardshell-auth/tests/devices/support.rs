use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hardshell_auth::Device;
use hardshell_auth::devices::{DeviceAuthority, IssuedDevice, device_from_peer_certificates};
use hardshell_storage::Scope;
use hardshell_testkit::TestStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::danger::ClientCertVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub const DAY: Duration = Duration::from_secs(24 * 60 * 60);

pub struct Fixture {
    _store: TestStore,
    pub scope: Scope,
    pub authority: DeviceAuthority,
}

pub async fn fixture() -> Fixture {
    let store = TestStore::new().await;
    let scope = store.scope("auth/devices");
    let authority = DeviceAuthority::load_or_create(&scope, Utc::now())
        .await
        .unwrap();
    Fixture {
        _store: store,
        scope,
        authority,
    }
}

pub fn name(text: &str) -> hardshell_auth::devices::DeviceName {
    hardshell_auth::devices::DeviceName::parse(text).unwrap()
}

pub async fn issue(authority: &DeviceAuthority, device: &str, now: DateTime<Utc>) -> IssuedDevice {
    authority.issue(&name(device), 30 * DAY, now).await.unwrap()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The edge's TLS server side: a certificate for `localhost` and the device verifier.
pub struct Edge {
    config: Arc<ServerConfig>,
    server_certificate: CertificateDer<'static>,
}

impl Edge {
    pub fn new(verifier: Arc<dyn ClientCertVerifier>) -> Self {
        let server = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let certificate = server.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(server.signing_key.serialize_der().into());
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![certificate.clone()], key)
            .unwrap();
        Self {
            config: Arc::new(config),
            server_certificate: certificate,
        }
    }
}

/// What each side saw of one connection.
#[derive(Debug)]
pub struct Outcome {
    /// The device the server identified, or why it failed the handshake.
    pub server: Result<Option<Device>, String>,
    /// Whether the client got the server's greeting after the handshake.
    pub client: Result<(), String>,
}

impl Outcome {
    pub fn refused_by_server(&self, reason: &str) {
        let err = self.server.as_ref().expect_err("the server must refuse");
        assert!(
            err.contains(reason),
            "server error {err:?} should mention {reason}"
        );
        assert!(self.client.is_err(), "the client must see the refusal");
    }
}

/// One TLS connection on 127.0.0.1: the client presents `identity` (a device's
/// PEM certificate and key) or nothing. The server greets after its handshake;
/// the client reads the greeting, because under TLS 1.3 a client finishes its
/// handshake before the server has judged the client's certificate.
pub async fn connect(edge: &Edge, identity: Option<&IssuedDevice>) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(edge.config.clone());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        match acceptor.accept(tcp).await {
            Ok(mut tls) => {
                let device = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(device_from_peer_certificates);
                tls.write_all(b"hello").await.unwrap();
                tls.shutdown().await.unwrap();
                Ok(device)
            }
            Err(e) => Err(e.to_string()),
        }
    });

    let mut roots = RootCertStore::empty();
    roots.add(edge.server_certificate.clone()).unwrap();
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some(device) => {
            let chain = vec![CertificateDer::from_pem_slice(device.cert_pem.as_bytes()).unwrap()];
            let key = PrivateKeyDer::from_pem_slice(device.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(address).await.unwrap();
    let client = async {
        let mut tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        let mut greeting = [0u8; 5];
        tls.read_exact(&mut greeting)
            .await
            .map_err(|e| e.to_string())?;
        assert_eq!(&greeting, b"hello");
        Ok(())
    }
    .await;
    let server = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server task must finish")
        .unwrap();
    Outcome { server, client }
}
