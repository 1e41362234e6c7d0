//! The authentication phase: which credential the request carries, and whether it
//! proves a principal. At most one credential is used, by precedence:
//! `Authorization: Bearer` (API token), then the session cookie.
//!
//! A credential that fails to verify is a failure (limited and audited), not an
//! anonymous request: the caller answers 401 on any route that needs identity.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use hardshell_audit::event::CredentialKind;
use hardshell_auth::tokens::TOKEN_PREFIX;
use hardshell_auth::{Principal, Revoked, SessionHandle};
use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderValue};

pub(crate) use crate::audit::{AuthFailure, FailureCause};
use crate::cookies::{self, CookiePolicy};
use crate::pipeline::watch::CredentialWatch;
use crate::proxy::UpstreamSite;
use crate::state::EdgeState;

/// What the phase found.
#[derive(Debug, Default)]
pub(crate) struct Authentication {
    pub principal: Option<Principal>,
    pub failure: Option<AuthFailure>,
    /// A rotated session id to send back as the new cookie.
    pub set_cookie: Option<HeaderValue>,
    /// The principal was proven by a credential a browser attaches on its own
    /// (the session cookie, Cloudflare's cookie or the header Cloudflare adds to
    /// every browser request): any page the browser shows could have sent it.
    pub ambient: bool,
    /// A watch on the credential that proved the principal, taken when it was
    /// checked: what the request opens ends when it is revoked, or for a
    /// Cloudflare Access token (which this edge cannot revoke) at its `exp`.
    pub watch: CredentialWatch,
    /// The session that proved the principal, when a session cookie did.
    pub session: Option<SessionFacts>,
}

/// What the login hand-over needs of the session that proved the principal.
#[derive(Debug, Clone)]
pub(crate) struct SessionFacts {
    pub handle: SessionHandle,
    pub expires_at: DateTime<Utc>,
}

enum Credential<'a> {
    Bearer(&'a str),
    UnsupportedScheme,
    CloudflareAccess(&'a str),
    Session(&'a str),
}

/// The header Cloudflare Access adds in front of the application.
const CF_ACCESS_HEADER: &str = "cf-access-jwt-assertion";

/// What decides where a request's credential is looked for: the session
/// cookie's name, and whether Cloudflare Access tokens are accepted at all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CredentialSources<'a> {
    pub cookies: CookiePolicy,
    pub cloudflare: bool,
    /// The upstream's own host, when the request is for it: its session
    /// cookie is looked for instead of the edge's, and must be one of its own.
    pub site: Option<&'a UpstreamSite>,
}

impl<'a> CredentialSources<'a> {
    /// Where to look on a connection from `peer`. Cloudflare's token is looked
    /// for only when Access is configured and, with `only_from_trusted_proxies`,
    /// only when the peer is a trusted proxy: from anyone else it is ignored, as
    /// if it were not there.
    pub(crate) fn of(state: &EdgeState, peer: IpAddr, site: Option<&'a UpstreamSite>) -> Self {
        let from_proxy = || state.trusted_proxies.iter().any(|cidr| cidr.contains(peer));
        Self {
            cookies: state.cookies,
            cloudflare: state.cf_access.is_some()
                && (!state.cf_access_only_from_proxies || from_proxy()),
            site,
        }
    }

    /// The name of the session cookie valid on the request's host.
    fn session_cookie(self) -> &'static str {
        match self.site {
            Some(_) => self.cookies.origin_session_name(),
            None => self.cookies.session_name(),
        }
    }
}

fn credential<'a>(
    sources: CredentialSources<'_>,
    headers: &'a HeaderMap,
) -> Option<Credential<'a>> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        return Some(
            match value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
                Some(token) => Credential::Bearer(token.trim()),
                None => Credential::UnsupportedScheme,
            },
        );
    }
    let cloudflare = sources.cloudflare;
    if cloudflare && let Some(jwt) = headers.get(CF_ACCESS_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(Credential::CloudflareAccess(jwt));
    }
    if let Some(session) = cookies::find(headers, sources.session_cookie()) {
        return Some(Credential::Session(session));
    }
    if cloudflare && let Some(jwt) = cookies::find(headers, cookies::CF_AUTHORIZATION) {
        return Some(Credential::CloudflareAccess(jwt));
    }
    None
}

/// Whether the request presents any credential at all.
pub(crate) fn presents_credential(sources: CredentialSources<'_>, headers: &HeaderMap) -> bool {
    credential(sources, headers).is_some()
}

/// The account a credential claims, for per-account failure limits and the
/// audit record: a token's id, only when it has the exact shape of one (16
/// lower-case hex digits), so that no other client text is ever recorded.
pub(crate) fn claimed_account(
    sources: CredentialSources<'_>,
    headers: &HeaderMap,
) -> Option<String> {
    match credential(sources, headers)? {
        Credential::Bearer(token) => token_id(token).map(|id| format!("token:{id}")),
        _ => None,
    }
}

/// The id a presented token names, when it has the exact shape of one.
fn token_id(token: &str) -> Option<&str> {
    token
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id)
        .filter(|id| id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

pub(crate) async fn authenticate(
    state: &EdgeState,
    sources: CredentialSources<'_>,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Authentication {
    let fail = |kind, reason, account| Authentication {
        failure: Some(AuthFailure {
            kind,
            reason,
            account,
            cause: FailureCause::Credential,
        }),
        ..Authentication::default()
    };
    match credential(sources, headers) {
        None => Authentication::default(),
        Some(Credential::UnsupportedScheme) => {
            fail(CredentialKind::ApiToken, "unsupported_scheme", None)
        }
        Some(Credential::Bearer(token)) => {
            // Watched before it is checked, so that no revocation falls between.
            let watch =
                token_id(token).map(|id| state.revocations.watch(Revoked::Token(id.to_owned())));
            match (state.tokens.verify(token, now).await, watch) {
                (Ok(principal), Some(watch)) => {
                    let mut authentication = Authentication {
                        principal: Some(principal),
                        ..Authentication::default()
                    };
                    authentication.watch.add(watch);
                    authentication
                }
                // A token verified without the shape of one: not one this edge
                // could ever revoke, so not accepted.
                (Ok(_), None) => fail(CredentialKind::ApiToken, "malformed", None),
                (Err(e), _) => {
                    if matches!(
                        e,
                        hardshell_auth::TokenError::Storage(_)
                            | hardshell_auth::TokenError::Corrupt { .. }
                    ) {
                        tracing::error!(error = %e, "token verification failed");
                    }
                    fail(
                        CredentialKind::ApiToken,
                        e.reason(),
                        claimed_account(sources, headers),
                    )
                }
            }
        }
        Some(Credential::CloudflareAccess(jwt)) => match &state.cf_access {
            None => Authentication::default(),
            Some(verifier) => match verifier.verify(jwt).await {
                Ok(principal) => {
                    // Not revocable here: what it opens ends at its `exp`. The
                    // verifier requires one; a token without a readable one
                    // (which it would not have accepted) ends at once.
                    let mut watch = CredentialWatch::default();
                    watch.expire_at(jwt_expiry(jwt).unwrap_or_else(Utc::now));
                    Authentication {
                        principal: Some(principal),
                        ambient: true,
                        watch,
                        ..Authentication::default()
                    }
                }
                Err(e) => {
                    if e.is_unavailable() {
                        tracing::error!(error = %e, "Cloudflare Access keys unavailable");
                    }
                    let mut failed = fail(CredentialKind::CloudflareAccess, e.reason(), None);
                    if let Some(failure) = &mut failed.failure
                        && e.is_unavailable()
                    {
                        // Our outage is not the client's failed attempt.
                        failure.cause = FailureCause::Unavailable;
                    }
                    failed
                }
            },
        },
        Some(Credential::Session(cookie)) => match state
            .sessions
            .resolve_for(
                cookie,
                sources.site.map(|site| site.authority.as_str()),
                now,
            )
            .await
        {
            Ok(resolved) => {
                // The chain's handle is known only once it is resolved: a
                // logout that completes between the two is not seen (see the
                // threat model's "Long-lived connections").
                let mut watch = CredentialWatch::default();
                watch.add(
                    state
                        .revocations
                        .watch(Revoked::Session(resolved.handle.clone())),
                );
                let max_age = state.session_max_age_secs;
                Authentication {
                    set_cookie: resolved.rotated_to.and_then(|id| match sources.site {
                        Some(_) => state.cookies.origin_session(id.expose(), max_age),
                        None => state.cookies.session(id.expose(), max_age),
                    }),
                    principal: Some(resolved.principal),
                    failure: None,
                    ambient: true,
                    watch,
                    session: Some(SessionFacts {
                        handle: resolved.handle,
                        expires_at: resolved.expires_at,
                    }),
                }
            }
            Err(e) => {
                if matches!(
                    e,
                    hardshell_auth::SessionError::Storage(_)
                        | hardshell_auth::SessionError::Corrupt
                ) {
                    tracing::error!(error = %e, "session lookup failed");
                }
                fail(CredentialKind::Session, e.reason(), None)
            }
        },
    }
}

/// The `exp` of a JWT whose signature and claims were verified already.
fn jwt_expiry(jwt: &str) -> Option<DateTime<Utc>> {
    use base64::Engine as _;

    #[derive(serde::Deserialize)]
    struct Expiry {
        exp: i64,
    }
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let Expiry { exp } = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(exp, 0)
}

/// The metrics label for a kind of credential.
pub(crate) fn label(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::ApiToken => "api_token",
        CredentialKind::Session => "session",
        CredentialKind::CloudflareAccess => "cloudflare_access",
    }
}
