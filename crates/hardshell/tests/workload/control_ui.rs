//! The OpenClaw test's second machine as deployed: the edge serving https on
//! `hs.test` and the workload on its sibling host, and OpenClaw's Control UI
//! opened there in a real headless Chromium (`scripts/browser-workload.mjs`
//! drives it) before and after the owner signs in with a passkey.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use hardshell_testkit::browser;
use hardshell_testkit::instance::Instance;

use crate::Running;

/// The whole browser run: a passkey, a login, the hand-over, the Control UI
/// loading and connecting.
const BROWSER_DEADLINE: Duration = Duration::from_secs(240);

/// A port free now, for the edge: the browser reaches it by the public URL,
/// whose port must be the listener's.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Makes `hs` serve https on 127.0.0.1:`port` as `https://{edge}:{port}`
/// with a certificate for `edge` and its subdomains, its workload on
/// `claw`; the certificate (PEM), for the test's clients to trust.
pub(crate) fn serve_over_tls(hs: &Instance, port: u16, edge: &str, claw: &str) -> String {
    let cert =
        rcgen::generate_simple_self_signed(vec![edge.to_owned(), format!("*.{edge}")]).unwrap();
    let cert_path = hs.path("edge-cert.pem");
    let key_path = hs.path("edge-key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    std::fs::set_permissions(
        &key_path,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap();
    hs.edit_config(|text| {
        let text = text
            .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
            .replace(
                "public_url = \"http://localhost:8787\"",
                &format!("public_url = \"https://{edge}:{port}\""),
            )
            .replace(
                "host = \"openclaw.localhost\"",
                &format!("host = \"{claw}\""),
            );
        format!(
            "{text}\n[edge.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            cert_path.display(),
            key_path.display()
        )
    });
    cert.cert.pem()
}

/// An https client that trusts only `cert` and finds `host` at `addr`.
pub(crate) fn https_client(cert: &str, host: &str, addr: &str) -> reqwest::blocking::Client {
    let addr: SocketAddr = addr.parse().unwrap();
    reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert.as_bytes()).unwrap()])
        .resolve(host, addr)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The one-time setup link `up` printed (a fresh data directory has no
/// owner passkey yet).
pub(crate) fn setup_link(up: &Running, origin: &str) -> String {
    let printed = up.log_through("/login#setup=", Duration::from_secs(60));
    let line = printed.last().unwrap();
    let at = line
        .find(origin)
        .unwrap_or_else(|| panic!("the setup link is not on {origin}: {line}"));
    line[at..].trim().to_owned()
}

/// Runs `scripts/browser-workload.mjs` to completion (or to the deadline);
/// its one line of JSON, or the test fails with what it said.
pub(crate) fn open_control_ui(
    edge: &str,
    app: &str,
    setup_link: &str,
    client_addr: &str,
) -> serde_json::Value {
    let mut command = Command::new("node");
    command
        .arg(browser::script("browser-workload.mjs"))
        .args(["--edge", edge, "--app", app, "--setup-link", setup_link])
        .args(["--forwarded-for", client_addr]);
    let run = browser::run(command, BROWSER_DEADLINE);
    assert!(
        run.ok,
        "the browser run failed:\n{}\n{}",
        run.stderr, run.stdout
    );
    serde_json::from_str(run.stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}
