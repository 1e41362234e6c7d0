//! API tokens as presented in `Authorization: Bearer`, through the real
//! `TokenStore::verify` over a sealed local store holding one real token.
//!
//! The first byte chooses the input's kind:
//! - 0: a presented token. Parsed by the store's own parser; never accepted.
//! - 1: edits to the real token (flip, cut, append, replace). Accepted exactly
//!   when the edits left it unchanged: a token one byte off is refused, and by
//!   a reason that names at most its id.
//!
//! For every input the parser's answer has the documented shape:
//! `hs_tok_<16 lower-case hex>_<43 base64url>`.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use chrono::{DateTime, TimeZone, Utc};
use hardshell_auth::fuzzing::parse_api_token;
use hardshell_auth::{Method, TokenScope, TokenStore};
use hardshell_fuzz::{local_store, runtime};
use hardshell_storage::ObjectKey;
use libfuzzer_sys::fuzz_target;

struct Fixture {
    store: TokenStore,
    token: String,
}

fn created() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("fuzz fixture: fixed time"))
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tokens = ObjectKey::parse("tokens").unwrap_or_else(|e| panic!("fuzz fixture: {e}"));
        let scope = local_store("api_token")
            .scope(&tokens)
            .unwrap_or_else(|e| panic!("fuzz fixture: {e}"));
        let store = TokenStore::new(scope);
        let (_, token) = runtime()
            .block_on(store.create(
                "fuzz",
                TokenScope::Chat,
                Duration::from_secs(24 * 3600),
                created(),
            ))
            .unwrap_or_else(|e| panic!("fuzz fixture: token: {e}"));
        Fixture {
            store,
            token: token.expose().to_owned(),
        }
    })
}

#[derive(Debug, Arbitrary)]
enum Edit {
    Flip { at: u8, mask: u8 },
    Cut { len: u8 },
    Append { bytes: Vec<u8> },
    Replace { at: u8, bytes: Vec<u8> },
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    let presented = match mode {
        0 => rest.to_vec(),
        1 => {
            let Ok(edits) = Vec::<Edit>::arbitrary_take_rest(Unstructured::new(rest)) else {
                return;
            };
            let mut token = fixture.token.clone().into_bytes();
            for edit in &edits {
                apply(&mut token, edit);
            }
            token
        }
        _ => return,
    };
    let Ok(presented) = String::from_utf8(presented) else {
        return;
    };

    if let Some((id, secret)) = parse_api_token(&presented) {
        assert_eq!(presented, format!("hs_tok_{id}_{secret}"));
        assert!(id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        assert!(
            secret.len() == 43
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    let now = created() + chrono::Duration::hours(1);
    match runtime().block_on(fixture.store.verify(&presented, now)) {
        Ok(principal) => {
            assert_eq!(
                presented, fixture.token,
                "accepted a token that is not the one made"
            );
            assert_eq!(principal.method, Method::ApiToken);
            assert_eq!(principal.token_scope, Some(TokenScope::Chat));
        }
        Err(err) => {
            assert_ne!(presented, fixture.token, "refused the real token: {err}");
            // Only a token-shaped input has a secret part to leak; any other
            // input may well be a substring of a fixed message.
            if let Some((_, secret)) = parse_api_token(&presented) {
                let shown = err.to_string();
                assert!(
                    !shown.contains(secret),
                    "the error repeats the secret: {shown}"
                );
            }
        }
    }
});

fn apply(token: &mut Vec<u8>, edit: &Edit) {
    match edit {
        Edit::Flip { at, mask } => {
            if let Some(byte) = token.get_mut(usize::from(*at)) {
                *byte ^= mask;
            }
        }
        Edit::Cut { len } => token.truncate(usize::from(*len)),
        Edit::Append { bytes } => token.extend_from_slice(bytes),
        Edit::Replace { at, bytes } => {
            for (offset, byte) in bytes.iter().enumerate() {
                if let Some(slot) = token.get_mut(usize::from(*at) + offset) {
                    *slot = *byte;
                }
            }
        }
    }
}
