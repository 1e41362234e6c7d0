//! Session cookies as a browser (or anyone) sends them: `Cookie` headers, read
//! by the edge's cookie parser, then resolved by the real `SessionStore` over a
//! sealed local store holding one real session.
//!
//! Input: `Cookie` header values separated by newlines. The first byte chooses:
//! - 0: the headers as given.
//! - 1: the headers given, then `hs_session=<the real id>` appended to the last
//!   one: the fuzzer explores what surrounds a real cookie (duplicates,
//!   shadowing, stray spaces and separators).
//!
//! Properties: never panics; the parser returns a cookie only if the request
//! carries that exact `name=value` pair; the session resolves exactly when the
//! value is the real id, and a value without the shape of an id is unknown.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use hardshell_auth::fuzzing::is_session_cookie_shaped;
use hardshell_auth::{Method, Principal, SessionError, SessionStore};
use hardshell_fuzz::{local_store, runtime};
use hardshell_edge::fuzzing::{find_cookie, session_cookie_name};
use hardshell_storage::ObjectKey;
use http::HeaderMap;
use http::header::{COOKIE, HeaderValue};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    store: SessionStore,
    id: String,
}

fn login() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("fuzz fixture: fixed time"))
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let sessions = ObjectKey::parse("sessions").unwrap_or_else(|e| panic!("fuzz fixture: {e}"));
        let scope = local_store("session_cookie")
            .scope(&sessions)
            .unwrap_or_else(|e| panic!("fuzz fixture: {e}"));
        let store = SessionStore::new(scope, Duration::from_secs(12 * 3600));
        let owner = Principal {
            subject: "owner".to_owned(),
            email: None,
            groups: Vec::new(),
            method: Method::Passkey,
            authenticated_at: login(),
            token_scope: None,
        };
        let id = runtime()
            .block_on(store.create(owner, login()))
            .unwrap_or_else(|e| panic!("fuzz fixture: session: {e}"));
        Fixture {
            store,
            id: id.expose().to_owned(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    let name = session_cookie_name(false);
    let mut values: Vec<Vec<u8>> = rest.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    match mode {
        0 => {}
        1 => {
            if let Some(last) = values.last_mut() {
                last.extend_from_slice(format!("{name}={}", fixture.id).as_bytes());
            }
        }
        _ => return,
    }
    let mut headers = HeaderMap::new();
    for value in &values {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(COOKIE, value);
        }
    }

    let Some(cookie) = find_cookie(&headers, name) else {
        return;
    };
    let pair = format!("{name}={cookie}");
    assert!(
        !cookie.contains(';'),
        "a cookie value spans pairs: {cookie:?}"
    );
    assert!(
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|text| text.contains(&pair)),
        "found {pair:?}, which the request does not carry"
    );

    // Within the first rotation interval: no rotation, no storage write.
    let now = login() + chrono::Duration::minutes(1);
    let resolved = runtime().block_on(fixture.store.resolve(cookie, now));
    match resolved {
        Ok(session) => {
            assert_eq!(
                cookie, fixture.id,
                "resolved a cookie that is not the session's"
            );
            assert_eq!(session.principal.subject, "owner");
        }
        Err(err) => {
            assert_ne!(cookie, fixture.id, "refused the real session: {err}");
            if !is_session_cookie_shaped(cookie) {
                assert!(matches!(err, SessionError::Unknown), "{err}");
            }
        }
    }
});
