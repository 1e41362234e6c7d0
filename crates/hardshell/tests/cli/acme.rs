//! `[edge.tls] acme` against Let's Encrypt's own test server (Debian's
//! pebble, with pebble-challtestsrv as its DNS) on loopback: the real
//! `hardshell up` gets a certificate by TLS-ALPN-01 on its own listener,
//! serves it, keeps it sealed in its storage, renews it without a restart,
//! serves the stored one after a restart with the ACME server gone, and
//! when a challenge fails says why and keeps serving the one it has.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hardshell_testkit::free_port;
use hardshell_testkit::instance::{Instance, contains};
use hardshell_testkit::pebble::Pebble;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

const NAME: &str = "agent.hs.test";
const START_DEADLINE: Duration = Duration::from_secs(60);

/// An initialised instance whose edge listens on `port` with its
/// certificate from `pebble` for `domains`.
fn instance(port: u16, pebble: &Pebble, domains: &[&str]) -> Instance {
    let hs = Instance::initialised(crate::HARDSHELL);
    configure(&hs, port, pebble, domains);
    hs
}

fn configure(hs: &Instance, port: u16, pebble: &Pebble, domains: &[&str]) {
    configure_with(hs, port, pebble, domains, "");
}

/// Like [`configure`], with `extra` keys in the acme table.
fn configure_with(hs: &Instance, port: u16, pebble: &Pebble, domains: &[&str], extra: &str) {
    let domains = domains
        .iter()
        .map(|d| format!("\"{d}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let directory = pebble.directory();
    let ca = pebble.https_ca();
    hs.edit_config(|text| {
        let text = match text.find("\n[edge.tls]") {
            Some(at) => text[..at].to_owned() + "\n",
            None => text,
        };
        text.replace(
            "listen = \"127.0.0.1:8787\"",
            &format!("listen = \"127.0.0.1:{port}\"\npublic_url = \"https://{NAME}:{port}\""),
        ) + &format!(
            "\n[edge.tls]\nacme = {{ email = \"owner@hs.test\", domains = [{domains}], \
                 directory = \"{directory}\", directory_ca = \"{}\"{extra} }}\n",
            ca.display()
        )
    });
}

/// A running `up`; killed by its pid if a failing test leaves it running.
struct Running(hardshell_testkit::instance::Up);

impl std::ops::Deref for Running {
    type Target = hardshell_testkit::instance::Up;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.child.try_wait() {
            let _ = self.0.child.kill();
            let _ = self.0.child.wait();
        }
    }
}

fn up(hs: &Instance) -> Running {
    let mut command = hs.command(&["up"]);
    command.env("RUST_LOG", "info").stdout(Stdio::null());
    Running(hardshell_testkit::instance::Up::start(
        command,
        START_DEADLINE,
    ))
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// The certificate the edge on `port` shows for `name`, verified against
/// `root` (pebble's issuing root), and the connection it was shown on.
fn handshake(port: u16, name: &str, root: &str) -> Result<(Vec<u8>, Tls), String> {
    handshake_as_of(port, name, root, None)
}

/// A server-certificate check that is WebPKI's, judged at a fixed time: a
/// certificate that was valid when it was stored still proves it is the
/// one served after its (sixty-second) life ran out.
#[derive(Debug)]
struct AsOf {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    now: UnixTime,
}

impl ServerCertVerifier for AsOf {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, self.now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Like [`handshake`], the certificate judged valid at `as_of` when given.
fn handshake_as_of(
    port: u16,
    name: &str,
    root: &str,
    as_of: Option<UnixTime>,
) -> Result<(Vec<u8>, Tls), String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(root.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let mut config = match as_of {
        None => builder.with_root_certificates(roots),
        Some(now) => {
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AsOf { webpki, now }))
        }
    }
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server = ServerName::try_from(name.to_owned()).unwrap();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), server).map_err(|e| e.to_string())?;
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| e.to_string())?;
    }
    let leaf = conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or("no certificate")?
        .to_vec();
    Ok((leaf, rustls::StreamOwned::new(conn, tcp)))
}

/// The status line of `GET /auth/whoami` over `tls`.
fn whoami(mut tls: Tls, port: u16) -> String {
    write!(
        tls,
        "GET /auth/whoami HTTP/1.1\r\nHost: {NAME}:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response);
    String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until the edge shows a certificate for `name` that `root` verifies
/// and that is not `other`, and answers a request over it; its DER.
fn wait_for_certificate(
    port: u16,
    root: &str,
    other: Option<&[u8]>,
    up: &hardshell_testkit::instance::Up,
    within: Duration,
) -> Vec<u8> {
    let deadline = Instant::now() + within;
    loop {
        let outcome = handshake(port, NAME, root);
        match outcome {
            Ok((leaf, tls)) if Some(leaf.as_slice()) != other => {
                // Served for real: the edge answers a request over it.
                let status = whoami(tls, port);
                assert!(status.starts_with("HTTP/1.1 401"), "{status}");
                return leaf;
            }
            outcome => assert!(
                Instant::now() < deadline,
                "no new certificate within {}s ({:?}); up's log:\n{}",
                within.as_secs(),
                outcome.map(|(leaf, _)| leaf.len()),
                up.log().join("\n")
            ),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn stop(mut up: Running) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &up.0.child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while up.0.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "up did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_certificate_is_issued_served_sealed_renewed_and_reused_after_a_restart() {
    let port = free_port();
    // Sixty seconds of life: renewed with a third of it left, so within the test.
    let mut pebble = Pebble::start(port, Duration::from_secs(60));
    let root = pebble.issuing_root_pem();
    let hs = instance(port, &pebble, &[NAME]);
    let running = up(&hs);

    let first = wait_for_certificate(port, &root, None, &running, Duration::from_secs(60));
    let proving = running.log_through("proving a name", Duration::from_secs(1));
    assert!(
        proving.last().unwrap().contains("tls-alpn-01"),
        "{}",
        proving.join("\n")
    );
    // A validation handshake (only acme-tls/1 offered) with no challenge
    // pending gets no certificate at all, and nothing is served over it.
    // Refused by the edge (an alert), not failing for a reason of the client's.
    let refused = acme_only_handshake(port).unwrap_err();
    assert!(refused.contains("received fatal alert"), "{refused}");
    // Renewed without a restart, ahead of the end.
    let second = wait_for_certificate(port, &root, Some(&first), &running, Duration::from_secs(60));
    // It was valid and served now: the restart below is judged as of now.
    let renewed_at = UnixTime::now();
    let issued = running
        .log()
        .iter()
        .filter(|line| line.contains("certificate issued"))
        .count();
    assert_eq!(issued, 2, "{}", running.log().join("\n"));
    stop(running);

    // Kept sealed: no file holds the certificate or a private key as PEM.
    for (path, bytes) in hs.all_file_bytes() {
        if path.ends_with("hardshell.toml") {
            continue;
        }
        for marker in [&b"-----BEGIN CERTIFICATE"[..], b"PRIVATE KEY-----"] {
            assert!(
                !contains(&bytes, marker),
                "{} holds {}",
                path.display(),
                String::from_utf8_lossy(marker)
            );
        }
    }

    // The ACME server gone, a restart serves the stored certificate: judged
    // as of when it was served before, as a slow restart may outlive its
    // sixty seconds.
    pebble.stop();
    let running = up(&hs);
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        match handshake_as_of(port, NAME, &root, Some(renewed_at)) {
            Ok((leaf, _)) => break leaf,
            Err(e) => assert!(
                Instant::now() < deadline,
                "no certificate after the restart ({e}); up's log:\n{}",
                running.log().join("\n")
            ),
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(after, second);
    assert!(
        running
            .log()
            .iter()
            .any(|line| line.contains("serving the stored ACME certificate")),
        "{}",
        running.log().join("\n")
    );
    stop(running);
}

/// A handshake offering only `acme-tls/1`, as a validation does; `Ok` if a
/// certificate came back.
fn acme_only_handshake(port: u16) -> Result<(), String> {
    #[derive(Debug)]
    struct AnyCertificate;
    impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    let server = ServerName::try_from(NAME.to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), server).unwrap();
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[test]
fn a_failed_challenge_is_said_and_the_certificate_it_has_is_kept() {
    let port = free_port();
    let pebble = Pebble::start(port, Duration::from_secs(3600));
    let root = pebble.issuing_root_pem();
    let hs = instance(port, &pebble, &[NAME]);
    let running = up(&hs);
    let first = wait_for_certificate(port, &root, None, &running, Duration::from_secs(60));
    stop(running);
    // doctor reads the stored certificate: an hour of life, renewed with a
    // third of it left, so nothing to say yet.
    let doctor = hs.run(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap();
    assert!(
        !report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "tls.certificate"),
        "{report:#}"
    );

    // A second name that resolves where nothing listens: its challenge fails.
    pebble.resolve("nowhere.hs.test", "127.0.0.2");
    configure(&hs, port, &pebble, &[NAME, "nowhere.hs.test"]);
    let running = up(&hs);
    let said = running.log_through(
        "getting a certificate from the ACME server failed",
        Duration::from_secs(90),
    );
    let line = said.last().unwrap();
    assert!(
        line.contains("nowhere.hs.test") && line.contains("did not accept the challenge"),
        "{line}"
    );
    // Meanwhile the edge serves the certificate it had.
    let (leaf, tls) = handshake(port, NAME, &root).unwrap();
    assert_eq!(leaf, first);
    let status = whoami(tls, port);
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    stop(running);
}

/// A plain-HTTP request to 127.0.0.1:`port`; the whole answer.
fn plain_http(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // A connection the listener closed at once may refuse the write.
    let _ = stream.write_all(request.as_bytes());
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn http_01_is_answered_on_the_plain_listener_which_redirects_the_rest_to_https() {
    let (port, http_port) = (free_port(), free_port());
    let pebble = Pebble::start_with(port, http_port, Duration::from_secs(3600));
    let root = pebble.issuing_root_pem();
    let hs = Instance::initialised(crate::HARDSHELL);
    configure_with(
        &hs,
        port,
        &pebble,
        &[NAME],
        &format!(", challenge = \"http-01\", http_listen = \"127.0.0.1:{http_port}\""),
    );
    let running = up(&hs);
    wait_for_certificate(port, &root, None, &running, Duration::from_secs(60));
    let proving = running.log_through("proving a name", Duration::from_secs(1));
    assert!(
        proving.last().unwrap().contains("http-01"),
        "{}",
        proving.join("\n")
    );
    let refused = acme_only_handshake(port).unwrap_err();
    assert!(refused.contains("received fatal alert"), "{refused}");

    // Everything else on the plain listener goes to https, on the public origin
    // whatever the request named.
    let answer = plain_http(
        http_port,
        "GET http://evil.example/next?x=1 HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 308"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains(&format!("location: https://{NAME}:{port}/next?x=1\r\n")),
        "{answer}"
    );
    // A token not pending is not found; only GET and HEAD are answered; a
    // head past the limit is refused.
    let unknown = plain_http(
        http_port,
        "GET /.well-known/acme-challenge/nope HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    let post = plain_http(
        http_port,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    let huge = plain_http(
        http_port,
        &format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(32 * 1024)
        ),
    );
    assert!(!huge.contains("308"), "{huge}");
    // One address holds eight connections at most: a ninth is closed
    // unanswered, and a place given back is taken again.
    let idle: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(("127.0.0.1", http_port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let ninth = plain_http(http_port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(ninth.is_empty(), "the ninth was answered: {ninth}");
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    let again = plain_http(http_port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(again.starts_with("HTTP/1.1 308"), "{again}");
    stop(running);
}
