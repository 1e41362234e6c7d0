//! Cloudflare Access tokens, as any client can put them in
//! `Cf-Access-Jwt-Assertion` or the `CF_Authorization` cookie, through the whole
//! of `CfAccessVerifier::verify`.
//!
//! The verifier fetches its keys once from a key set served on 127.0.0.1 by this
//! target (an RSA key generated at start, never stored), so after the first input
//! verification makes no request: the refresh interval is longer than any run.
//!
//! The first byte chooses the input's kind:
//! - 0: a token as received. `parse_unverified_header` and `verify` never panic,
//!   and `verify` never accepts one: its signature cannot be valid.
//! - 1: a JOSE header and claims, separated by a 0xff byte, which this target
//!   signs with the published key. `verify` accepts only an RS256 header naming
//!   the published key, claims from the configured team for the configured
//!   application, unexpired, with a subject and an issue time not in the future.
//! - 2: a key set document, given to the key-set parser.
#![no_main]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hardshell_auth::{
    CfAccessError, CfAccessSettings, CfAccessVerifier, KeySetPolicy, MAX_TOKEN_BYTES, Method,
    parse_unverified_header,
};
use hardshell_fuzz::{runtime, split_at_byte};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use url::Url;

const TEAM: &str = "fuzz.cloudflareaccess.com";
const ISSUER: &str = "https://fuzz.cloudflareaccess.com";
const AUDIENCE: &str = "32eafc7626e974616deaf0dc3ce63d7bcbed58a2731e84d06bc3cdf1b53c4228";
const KID: &str = "fuzz-key";
const LEEWAY_SECS: i64 = 60;

struct Fixture {
    key: KeyPair,
    verifier: CfAccessVerifier,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = KeyPair::generate(KeySize::Rsa2048)
            .unwrap_or_else(|e| panic!("fuzz fixture: rsa key: {e}"));
        let certs_url = serve_key_set(&key);
        let mut settings = CfAccessSettings::new(TEAM, AUDIENCE);
        settings.leeway = Duration::from_secs(LEEWAY_SECS as u64);
        settings.certs_url = Some(certs_url);
        // One fetch per run: unknown key ids must not refetch during fuzzing.
        settings.key_set = KeySetPolicy {
            min_refresh_interval: Duration::from_secs(365 * 24 * 3600),
            max_age: Duration::from_secs(365 * 24 * 3600),
        };
        let verifier = CfAccessVerifier::new(settings)
            .unwrap_or_else(|e| panic!("fuzz fixture: verifier: {e}"));
        let fixture = Fixture { key, verifier };
        // Fetch the keys now, and check the fixture accepts what it should.
        let now = chrono::Utc::now().timestamp();
        let claims = format!(
            r#"{{"aud":["{AUDIENCE}"],"iss":"{ISSUER}","sub":"owner","iat":{now},"exp":{}}}"#,
            now + 300
        );
        let header = format!(r#"{{"alg":"RS256","kid":"{KID}"}}"#);
        let token = sign(&fixture.key, header.as_bytes(), claims.as_bytes());
        runtime()
            .block_on(fixture.verifier.verify(&token))
            .unwrap_or_else(|e| panic!("fuzz fixture: a valid token was refused: {e}"));
        fixture
    })
}

/// Serves the key set on 127.0.0.1 from a thread, one response per connection.
fn serve_key_set(key: &KeyPair) -> Url {
    let public = key.public_key();
    let body = serde_json::json!({"keys": [{
        "kid": KID, "kty": "RSA", "alg": "RS256", "use": "sig",
        "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
    }]})
    .to_string();
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("fuzz fixture: key set listener: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("fuzz fixture: key set address: {e}"));
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    Url::parse(&format!("http://{addr}/cdn-cgi/access/certs"))
        .unwrap_or_else(|e| panic!("fuzz fixture: key set url: {e}"))
}

fn sign(key: &KeyPair, header: &[u8], claims: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap_or_else(|e| panic!("fuzz fixture: signing: {e}"));
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(&signature))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 => as_received(rest),
        1 => signed(rest),
        2 => {
            let _ = hardshell_auth::fuzzing::parse_cf_access_key_set(rest);
        }
        _ => {}
    }
});

fn as_received(bytes: &[u8]) {
    let Ok(token) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(header) = parse_unverified_header(token) {
        assert!(token.len() <= MAX_TOKEN_BYTES);
        assert_eq!(token.split('.').count(), 3, "{token:?}");
        assert!(header.kid.as_ref().is_none_or(|kid| kid.len() <= 256));
    }
    let verified = runtime().block_on(fixture().verifier.verify(token));
    assert!(
        verified.is_err(),
        "accepted a token no one signed: {token:?}"
    );
    if let Err(err) = verified {
        assert_no_token_in(&err, token);
    }
}

fn signed(bytes: &[u8]) {
    let (header, claims) = split_at_byte(bytes, 0xff);
    let fixture = fixture();
    let token = sign(&fixture.key, header, claims);
    let now = chrono::Utc::now();
    let verified = runtime().block_on(fixture.verifier.verify(&token));
    let principal = match verified {
        Ok(principal) => principal,
        Err(err) => {
            assert!(
                !err.is_unavailable(),
                "the key set became unavailable: {err}"
            );
            assert_no_token_in(&err, &token);
            return;
        }
    };
    // Lossy: serde_json skips a field it does not read without checking that
    // its string is UTF-8, so an accepted token may hold invalid UTF-8 in a
    // field nothing uses. Every field read below was parsed, hence valid.
    let header: Value = serde_json::from_str(&String::from_utf8_lossy(header))
        .unwrap_or_else(|e| panic!("accepted a header that is not JSON: {e}"));
    assert_eq!(header["alg"], "RS256", "accepted header {header}");
    assert_eq!(header["kid"], KID, "accepted header {header}");
    assert!(header.get("crit").is_none(), "accepted header {header}");
    let claims: Value = serde_json::from_str(&String::from_utf8_lossy(claims))
        .unwrap_or_else(|e| panic!("accepted claims that are not JSON: {e}"));
    assert_eq!(claims["iss"], ISSUER, "accepted claims {claims}");
    let for_us = match &claims["aud"] {
        Value::String(aud) => aud == AUDIENCE,
        Value::Array(auds) => auds.iter().any(|aud| aud == AUDIENCE),
        _ => false,
    };
    assert!(for_us, "accepted claims for another audience: {claims}");
    let exp = claims["exp"]
        .as_f64()
        .unwrap_or_else(|| panic!("no exp: {claims}"));
    assert!(
        exp + LEEWAY_SECS as f64 >= now.timestamp() as f64,
        "expired: {claims}"
    );
    assert!(
        claims["iat"].is_i64() || claims["iat"].is_u64(),
        "no iat: {claims}"
    );

    assert!(!principal.subject.is_empty());
    assert_eq!(principal.method, Method::CloudflareAccess);
    assert!(principal.authenticated_at <= chrono::Utc::now());
    assert!(principal.token_scope.is_none());
    if let Some(email) = &principal.email {
        assert_eq!(email, &email.to_lowercase());
    }
}

/// Errors are logged: they must not carry the token, a bearer credential.
fn assert_no_token_in(err: &CfAccessError, token: &str) {
    if token.len() >= 16 {
        let shown = err.to_string();
        assert!(
            !shown.contains(token),
            "the error repeats the token: {shown}"
        );
    }
}
