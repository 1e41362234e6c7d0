//! The CA and its leaves as OpenSSL sees them: curl, Python and Node verify
//! with OpenSSL, so what it accepts (strictly, as a TLS server certificate
//! for the host) is what those clients accept. Needs the `openssl` command;
//! without it these tests fail rather than pass unseen.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use hardshell_intercept::{EgressCa, InstallId, LeafIssuer};

fn new_ca() -> Arc<EgressCa> {
    Arc::new(EgressCa::generate(&InstallId::parse("openssl-test").unwrap()).unwrap())
}

fn leaf_pem(issuer: &LeafIssuer, host: &str) -> String {
    let leaf = issuer.leaf_for(Some(host)).unwrap();
    pem::encode(&pem::Pem::new("CERTIFICATE", leaf.cert[0].to_vec()))
}

/// `openssl verify`, strict X.509, for a TLS server named `host`.
fn openssl_verify(dir: &Path, ca_pem: &str, leaf_pem: &str, host: &str) -> (bool, String) {
    let ca_file = dir.join("ca.pem");
    let leaf_file = dir.join("leaf.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    std::fs::write(&leaf_file, leaf_pem).unwrap();
    let output = Command::new("openssl")
        .arg("verify")
        .arg("-x509_strict")
        .args(["-purpose", "sslserver", "-verify_hostname", host])
        .arg("-CAfile")
        .arg(&ca_file)
        .arg(&leaf_file)
        .output()
        .expect("the openssl command is installed (apt-get install openssl)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn openssl_accepts_a_leaf_for_its_own_host_only() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca();
    let issuer = LeafIssuer::new(ca.clone());
    let leaf = leaf_pem(&issuer, "api.example.test");

    let (ok, text) = openssl_verify(dir.path(), ca.ca_pem(), &leaf, "api.example.test");
    assert!(ok, "{text}");
    assert!(text.contains("OK"), "{text}");

    let (ok, text) = openssl_verify(dir.path(), ca.ca_pem(), &leaf, "other.example.test");
    assert!(
        !ok,
        "a leaf for api.example.test passed for another host: {text}"
    );
    assert!(text.contains("hostname mismatch"), "{text}");
}

#[test]
fn openssl_refuses_a_leaf_of_another_ca() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = new_ca();
    let other = LeafIssuer::new(new_ca());
    let leaf = leaf_pem(&other, "api.example.test");
    let (ok, text) = openssl_verify(dir.path(), trusted.ca_pem(), &leaf, "api.example.test");
    assert!(!ok, "{text}");
}

#[test]
fn openssl_reads_the_ca_as_a_leaf_only_ca_without_ip_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca();
    let file = dir.path().join("ca.pem");
    std::fs::write(&file, ca.ca_pem()).unwrap();
    let output = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&file)
        .output()
        .expect("the openssl command is installed");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("Certificate Sign"), "{text}");
    assert!(text.contains("hardshell egress CA openssl-test"), "{text}");
    assert!(text.contains("Excluded:"), "{text}");
    assert!(text.contains("IP:0.0.0.0/0.0.0.0"), "{text}");
    assert!(text.contains("ecdsa-with-SHA256"), "{text}");
}
