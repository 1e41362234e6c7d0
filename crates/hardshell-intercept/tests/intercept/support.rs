//! A real TLS server using an issuer, and a real client trusting one PEM.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::ResolvesServerCert;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A client that trusts `ca_pem` and nothing else (no system roots).
pub fn client_trusting(ca_pem: &str, sni: bool) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.enable_sni = sni;
    config
}

/// What each side of one connection saw.
#[derive(Debug)]
pub struct Outcome {
    pub client: Result<Vec<u8>, std::io::Error>,
    pub server: Result<(), std::io::Error>,
}

/// Serves one TLS connection on 127.0.0.1 with `resolver`, connects `client`
/// to it as `name`, and reports both ends. The server writes a greeting the
/// client reads, so success means a completed handshake and real bytes.
pub async fn handshake(
    resolver: Arc<dyn ResolvesServerCert>,
    client: ClientConfig,
    name: ServerName<'static>,
) -> Outcome {
    let server_config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = acceptor.accept(tcp).await?;
        tls.write_all(b"hello from the broker").await?;
        tls.shutdown().await
    });
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let client = async {
        let tcp = TcpStream::connect(address).await?;
        let mut tls = connector.connect(name, tcp).await?;
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await?;
        Ok(got)
    }
    .await;
    let server = server.await.unwrap();
    Outcome { client, server }
}

/// The rustls error inside an I/O error, if that is what it is.
pub fn tls_error(error: &std::io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

pub fn dns(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_owned()).unwrap()
}
