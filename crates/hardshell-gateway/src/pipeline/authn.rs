//! The authentication phase: which credential the request carries, and whether it
//! proves a principal. At most one credential is used, by precedence:
//! `Authorization: Bearer` (API token), then the session cookie.
//!
//! A credential that fails to verify is a failure (limited and audited), not an
//! anonymous request: the caller answers 401 on any route that needs identity.

use chrono::{DateTime, Utc};
use hardshell_auth::tokens::TOKEN_PREFIX;
use hardshell_auth::{Method, Principal};
use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderValue};

use crate::cookies::{self, CookiePolicy};
use crate::state::EdgeState;

/// What the phase found.
#[derive(Debug, Default)]
pub(crate) struct Authentication {
    pub principal: Option<Principal>,
    pub failure: Option<AuthFailure>,
    /// A rotated session id to send back as the new cookie.
    pub set_cookie: Option<HeaderValue>,
    /// The principal was proven by a cookie (so the browser sent it on its own).
    pub via_cookie: bool,
}

/// A credential that did not verify. `account` names what it claimed to be (a
/// token id), never anything secret.
#[derive(Debug, Clone)]
pub(crate) struct AuthFailure {
    /// `api_token`, `session`, ...: which kind of credential failed.
    pub method: &'static str,
    pub reason: &'static str,
    pub account: Option<String>,
}

enum Credential<'a> {
    Bearer(&'a str),
    UnsupportedScheme,
    Session(&'a str),
}

fn credential<'a>(cookies: CookiePolicy, headers: &'a HeaderMap) -> Option<Credential<'a>> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        return Some(
            match value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
                Some(token) => Credential::Bearer(token.trim()),
                None => Credential::UnsupportedScheme,
            },
        );
    }
    cookies::find(headers, cookies.session_name()).map(Credential::Session)
}

/// Whether the request presents any credential at all.
pub(crate) fn presents_credential(state: &EdgeState, headers: &HeaderMap) -> bool {
    credential(state.cookies, headers).is_some()
}

/// The account a credential claims, for per-account failure limits: a token's id.
pub(crate) fn claimed_account(cookies: CookiePolicy, headers: &HeaderMap) -> Option<String> {
    match credential(cookies, headers)? {
        Credential::Bearer(token) => token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, _)| format!("token:{}", &id[..id.len().min(16)])),
        _ => None,
    }
}

pub(crate) async fn authenticate(
    state: &EdgeState,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Authentication {
    let fail = |method, reason, account| Authentication {
        failure: Some(AuthFailure {
            method,
            reason,
            account,
        }),
        ..Authentication::default()
    };
    match credential(state.cookies, headers) {
        None => Authentication::default(),
        Some(Credential::UnsupportedScheme) => {
            fail(Method::ApiToken.as_str(), "unsupported_scheme", None)
        }
        Some(Credential::Bearer(token)) => match state.tokens.verify(token, now).await {
            Ok(principal) => Authentication {
                principal: Some(principal),
                ..Authentication::default()
            },
            Err(e) => {
                if matches!(
                    e,
                    hardshell_auth::TokenError::Storage(_)
                        | hardshell_auth::TokenError::Corrupt { .. }
                ) {
                    tracing::error!(error = %e, "token verification failed");
                }
                fail(
                    Method::ApiToken.as_str(),
                    e.reason(),
                    claimed_account(state.cookies, headers),
                )
            }
        },
        Some(Credential::Session(cookie)) => match state.sessions.resolve(cookie, now).await {
            Ok(resolved) => Authentication {
                set_cookie: resolved.rotated_to.and_then(|id| {
                    state
                        .cookies
                        .session(id.expose(), state.session_max_age_secs)
                }),
                principal: Some(resolved.principal),
                failure: None,
                via_cookie: true,
            },
            Err(e) => {
                if matches!(
                    e,
                    hardshell_auth::SessionError::Storage(_)
                        | hardshell_auth::SessionError::Corrupt
                ) {
                    tracing::error!(error = %e, "session lookup failed");
                }
                fail("session", e.reason(), None)
            }
        },
    }
}
