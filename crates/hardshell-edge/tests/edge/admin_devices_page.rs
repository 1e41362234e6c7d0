//! The admin page's devices section in a real headless Chromium
//! (`scripts/browser-admin-devices.mjs` drives it) against the real edge over
//! TLS with its device CA on: a certificate issued and downloaded from the
//! page must be a working identity, and once revoked on the page it must no
//! longer open a connection. The section is hidden on plain HTTP, so the
//! admin page's other test cannot reach it. Screenshots are kept in
//! `<target>/artifacts/browser/admin-devices*.png`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hardshell_auth::TokenScope;
use hardshell_testkit::{browser, free_port};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use serde_json::Value;

use crate::support::{ClientIdentity, HttpsEdge, bearer, owner};

const DEADLINE: Duration = Duration::from_secs(120);

/// An edge on `https://localhost:<port>` (its origin, also its public URL)
/// with the device CA on. Devices are not required, so Chromium, which has
/// none, reaches the page.
async fn start() -> (HttpsEdge, String) {
    let port = free_port();
    let origin = format!("https://localhost:{port}");
    let edge = HttpsEdge::start(
        &format!("listen = \"127.0.0.1:{port}\"\npublic_url = \"{origin}\"\n"),
        "[access.devices]\nenabled = true\n\
         [ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n",
    )
    .await;
    (edge, origin)
}

/// The devices the edge lists, by the admin API.
async fn listed(edge: &HttpsEdge) -> Vec<Value> {
    let admin = bearer(&edge.edge.token(TokenScope::Admin).await);
    let reply = edge
        .request(None, "GET", "/admin/devices", &[&admin], "")
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    body["devices"].as_array().unwrap().clone()
}

/// Runs one phase of the script on the edge at `origin` with `session` as
/// the owner's cookie.
async fn page(origin: &str, phase: &str, session: &str, device: &str, extra: &[String]) -> Value {
    let mut args = vec![
        format!("--edge={origin}"),
        format!("--phase={phase}"),
        format!("--session={session}"),
        format!("--device={device}"),
        format!("--screenshot-dir={}", browser::artifacts().display()),
    ];
    args.extend_from_slice(extra);
    let run = tokio::task::spawn_blocking(move || {
        browser::run_script("browser-admin-devices.mjs", &args, DEADLINE)
    })
    .await
    .unwrap();
    let report = run.report();
    serde_json::from_str(report).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// The downloaded file the page's link `link` saved.
fn downloaded(run: &Value, link: &str) -> std::path::PathBuf {
    let file = run["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|file| file["link"] == link)
        .unwrap_or_else(|| panic!("no {link} download: {run}"));
    file["path"].as_str().unwrap().into()
}

/// Whether `ca.crt` as the only root verifies the device's certificate: the
/// CA file the page offers is the one that signed it.
fn ca_verifies(ca: &Path, cert: &Path) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
    let leaf = CertificateDer::from_pem_file(cert).unwrap();
    verifier
        .verify_client_cert(&leaf, &[], UnixTime::now())
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_issues_and_revokes_a_device_certificate_on_the_admin_page() {
    browser::playwright_home();
    let (edge, origin) = start().await;
    let shots = browser::artifacts();
    for name in [
        "admin-devices.png",
        "admin-devices-revoked.png",
        "admin-devices-failure.png",
    ] {
        let _ = std::fs::remove_file(shots.join(name));
    }
    let fresh = edge.edge.session(owner()).await;
    let downloads = tempfile::tempdir().unwrap();

    // Issued on the page, its files downloaded as the owner would.
    let issued = page(
        &origin,
        "issue",
        &fresh,
        "phone",
        &[
            "--days=30".to_owned(),
            format!("--download-dir={}", downloads.path().display()),
        ],
    )
    .await;
    // A visitor is sent to the login, which comes back here.
    assert_eq!(issued["denied_without_session"], "/login?next=/admin");
    // The section is shown on TLS with the CA on, and says devices are optional.
    assert_eq!(issued["section"]["hidden"], false, "{issued}");
    assert_eq!(issued["section"]["access"], "on, not required", "{issued}");
    assert_eq!(issued["before"], serde_json::json!([]), "{issued}");
    let shown = issued["listed"].as_array().unwrap();
    assert_eq!(shown.len(), 1, "{issued}");
    assert_eq!(shown[0]["name"], "phone");
    assert_eq!(shown[0]["status"], "active");
    assert_eq!(shown[0]["revoke_button"], true);
    assert!(
        issued["status"].as_str().unwrap().contains("phone"),
        "{issued}"
    );
    // Done takes the links away, and the form is ready for the next one.
    assert_eq!(issued["links_after_done"], 0, "{issued}");
    assert_eq!(issued["name_field_after"], "");
    // Every request stayed on the edge (the script fails on any other origin).
    let requests = issued["requests"].as_array().unwrap();
    assert!(
        requests.contains(&Value::from("POST /admin/devices")),
        "{requests:?}"
    );

    // The days asked for are the certificate's life.
    let not_after: DateTime<Utc> = issued["response"]["not_after"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let days = (not_after - Utc::now()).num_hours() as f64 / 24.0;
    assert!((29.0..=30.1).contains(&days), "valid for {days} days");

    // The three files, under the names the page gave them.
    let names: Vec<&str> = issued["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["file"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["phone.crt", "phone.key", "ca.crt"], "{issued}");
    let cert = downloaded(&issued, "device-download-certificate");
    let key = downloaded(&issued, "device-download-key");
    let ca = downloaded(&issued, "device-download-ca");
    assert!(ca_verifies(&ca, &cert), "ca.crt does not verify phone.crt");
    let phone = ClientIdentity {
        cert_pem: std::fs::read_to_string(&cert).unwrap(),
        key_pem: std::fs::read_to_string(&key).unwrap(),
    };

    // They are a working identity: the edge takes the handshake and names the
    // device on the request.
    let chat = bearer(&edge.edge.token(TokenScope::Chat).await);
    let whoami = edge
        .request(Some(&phone), "GET", "/auth/whoami", &[&chat], "")
        .await
        .unwrap();
    assert_eq!(whoami.status, 200, "{whoami:?}");
    let whoami: Value = serde_json::from_str(&whoami.body).unwrap();
    assert_eq!(whoami["device"], "phone", "{whoami}");
    let serial = issued["response"]["serial"].as_str().unwrap();
    let records = edge.edge.audit_records().await;
    assert!(
        records.iter().any(|r| r["event"]["type"] == "device_issued"
            && r["event"]["device"] == "phone"
            && r["event"]["serial"] == serial
            && r["event"]["actor"] == "owner"),
        "{records:?}"
    );

    // Revoked on the page: the first click only asks.
    let revoked = page(&origin, "revoke", &fresh, "phone", &[]).await;
    assert_eq!(revoked["before"][0]["status"], "active", "{revoked}");
    assert_eq!(revoked["confirm_label"], "Confirm revoke", "{revoked}");
    assert_eq!(revoked["deletes"], 1, "{revoked}");
    let shown = revoked["listed"].as_array().unwrap();
    assert_eq!(shown.len(), 1, "{revoked}");
    assert_eq!(shown[0]["name"], "phone");
    assert_eq!(shown[0]["status"], "revoked");
    assert_eq!(shown[0]["revoke_button"], false, "{revoked}");
    assert_eq!(revoked["badge"], "revoked", "{revoked}");

    // The certificate no longer opens a connection; one without any still does.
    assert!(
        edge.request(Some(&phone), "GET", "/healthz", &[], "")
            .await
            .is_err(),
        "the revoked device still connects"
    );
    let anonymous = edge
        .request(None, "GET", "/healthz", &[], "")
        .await
        .unwrap();
    assert_eq!(anonymous.status, 200, "{anonymous:?}");
    let devices = listed(&edge).await;
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert!(devices[0]["revoked_at"].is_string(), "{devices:?}");
    let records = edge.edge.audit_records().await;
    assert!(
        records
            .iter()
            .any(|r| r["event"]["type"] == "device_revoked"
                && r["event"]["serial"] == serial
                && r["event"]["actor"] == "owner"),
        "{records:?}"
    );

    for name in ["admin-devices.png", "admin-devices-revoked.png"] {
        let size = std::fs::metadata(shots.join(name)).unwrap().len();
        assert!(size > 1_000, "{name} is {size} bytes");
    }
    edge.edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_an_hour_old_cannot_issue_a_device_certificate_on_the_admin_page() {
    browser::playwright_home();
    let (edge, origin) = start().await;
    let stale = edge
        .edge
        .session(hardshell_auth::Principal {
            authenticated_at: Utc::now() - chrono::Duration::hours(1),
            ..owner()
        })
        .await;
    let run = page(
        &origin,
        "stale",
        &stale,
        "tablet",
        &["--days=30".to_owned()],
    )
    .await;
    assert_eq!(run["status"], 403, "{run}");
    assert!(
        run["message"]
            .as_str()
            .unwrap()
            .contains("needs a recent login"),
        "{run}"
    );
    assert_eq!(run["sign_in_again"], true, "{run}");
    assert_eq!(run["files_offered"], 0, "{run}");
    assert_eq!(run["before"], run["after"], "{run}");
    assert_eq!(listed(&edge).await, Vec::<Value>::new());
    let records = edge.edge.audit_records().await;
    assert!(
        !records
            .iter()
            .any(|r| r["event"]["type"] == "device_issued"),
        "{records:?}"
    );
    edge.edge.stop().await;
}
