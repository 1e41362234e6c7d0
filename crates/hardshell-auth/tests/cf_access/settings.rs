//! Settings that would weaken verification are refused when the verifier is built.

use hardshell_auth::{CfAccessError, CfAccessSettings, CfAccessVerifier};
use url::Url;

use crate::support::{AUD, TEAM};

fn build(settings: CfAccessSettings) -> Result<CfAccessVerifier, CfAccessError> {
    CfAccessVerifier::new(settings)
}

#[test]
fn team_domain_with_or_without_scheme_is_accepted() {
    build(CfAccessSettings::new(TEAM, AUD)).unwrap();
    build(CfAccessSettings::new(format!("https://{TEAM}/"), AUD)).unwrap();
}

#[test]
fn team_domain_that_is_not_a_bare_host_is_refused() {
    for domain in [
        "",
        "team.cloudflareaccess.com/path",
        "team.cloudflareaccess.com:8443",
        "user@team.cloudflareaccess.com",
        "http://team.cloudflareaccess.com",
        "team.cloudflareaccess.com?x=1",
    ] {
        let err = build(CfAccessSettings::new(domain, AUD)).unwrap_err();
        assert!(
            matches!(err, CfAccessError::Settings { .. }),
            "{domain}: {err}"
        );
    }
}

#[test]
fn empty_audience_is_refused() {
    let err = build(CfAccessSettings::new(TEAM, " ")).unwrap_err();
    assert!(matches!(err, CfAccessError::Settings { .. }), "{err}");
}

#[test]
fn plain_http_certs_url_off_loopback_is_refused() {
    let mut settings = CfAccessSettings::new(TEAM, AUD);
    settings.certs_url = Some(Url::parse("http://keys.example.com/certs").unwrap());
    let err = build(settings).unwrap_err();
    assert!(matches!(err, CfAccessError::Settings { .. }), "{err}");
}

#[test]
fn http_certs_url_on_loopback_is_accepted() {
    let mut settings = CfAccessSettings::new(TEAM, AUD);
    settings.certs_url = Some(Url::parse("http://127.0.0.1:9/certs").unwrap());
    build(settings).unwrap();
}
