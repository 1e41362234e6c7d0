//! `X-Hardshell-Identity` assertions, as a workload verifies them with
//! `hardshell_auth::identity::verify`. A workload that trusts the header is only
//! as safe as this function on whatever arrives in it.
//!
//! The first byte chooses the input's kind:
//! - 0: a header value as received. Never panics, never accepted: the key is
//!   generated at start and only this target signs with it.
//! - 1: the claims part as the edge would sign it (JSON, signed here with the
//!   key). Accepted only within the claims' own validity window.
//! - 2: a principal and request id, signed by the edge's `IdentitySigner`. Always
//!   accepted at signing time, and the claims say exactly what was signed.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};
use hardshell_auth::identity::{self, IdentitySigner};
use hardshell_auth::{Method, Principal, TokenScope};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    signer: IdentitySigner,
    raw: Ed25519KeyPair,
    public_key: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pkcs8 = IdentitySigner::generate_pkcs8()
            .unwrap_or_else(|e| panic!("fuzz fixture: identity key: {e}"));
        let signer = IdentitySigner::from_pkcs8(&pkcs8)
            .unwrap_or_else(|e| panic!("fuzz fixture: identity signer: {e}"));
        let raw = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .unwrap_or_else(|e| panic!("fuzz fixture: ed25519 key: {e}"));
        let public_key = signer.public_key();
        Fixture {
            signer,
            raw,
            public_key,
        }
    })
}

/// A fixed "now", so every input replays the same way.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("fuzz fixture: fixed time"))
}

#[derive(Debug, Arbitrary)]
struct Signed {
    subject: String,
    email: Option<String>,
    groups: Vec<String>,
    method: u8,
    scope: Option<bool>,
    seconds_from_now: i32,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    match mode {
        0 => {
            let Ok(header) = std::str::from_utf8(rest) else {
                return;
            };
            let verified = identity::verify(header, &fixture.public_key, now());
            assert!(verified.is_err(), "accepted an assertion no one signed");
        }
        1 => {
            let signed_part = format!("v1.{}", URL_SAFE_NO_PAD.encode(rest));
            let signature = fixture.raw.sign(signed_part.as_bytes());
            let header = format!(
                "{signed_part}.{}",
                URL_SAFE_NO_PAD.encode(signature.as_ref())
            );
            if let Ok(claims) = identity::verify(&header, &fixture.public_key, now()) {
                let now = now().timestamp();
                assert!(now < claims.exp, "accepted an expired assertion");
                assert!(
                    i128::from(now) >= i128::from(claims.iat) - 5,
                    "accepted an assertion issued in the future"
                );
            }
        }
        2 => {
            let Ok(input) = Signed::arbitrary_take_rest(Unstructured::new(rest)) else {
                return;
            };
            round_trip(fixture, input);
        }
        _ => {}
    }
});

fn round_trip(fixture: &Fixture, input: Signed) {
    let method = match input.method % 4 {
        0 => Method::Passkey,
        1 => Method::CloudflareAccess,
        2 => Method::Oidc,
        _ => Method::ApiToken,
    };
    let at = now() + chrono::Duration::seconds(i64::from(input.seconds_from_now));
    let principal = Principal {
        subject: input.subject,
        email: input.email,
        groups: input.groups,
        method,
        authenticated_at: at,
        token_scope: input.scope.map(|admin| {
            if admin {
                TokenScope::Admin
            } else {
                TokenScope::Chat
            }
        }),
    };
    let header = fixture.signer.sign(&principal, at);
    let claims = identity::verify(&header, &fixture.public_key, at)
        .unwrap_or_else(|e| panic!("the edge's own assertion was refused: {e}"));
    assert_eq!(claims.sub, principal.subject);
    assert_eq!(claims.email, principal.email);
    assert_eq!(claims.groups, principal.groups);
    assert_eq!(claims.method, principal.method);
    assert_eq!(claims.scope, principal.token_scope);
    assert_eq!(claims.iat, at.timestamp());
    let expired = at + chrono::Duration::seconds(identity::ASSERTION_LIFETIME_SECS);
    assert!(identity::verify(&header, &fixture.public_key, expired).is_err());
}
