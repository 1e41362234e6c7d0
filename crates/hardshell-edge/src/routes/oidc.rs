//! Login through an OpenID Connect provider: authorization code flow with PKCE.
//!
//! `/auth/oidc/start` keeps the pending login (state, nonce, PKCE verifier)
//! server-side, single use, and gives the browser only its id in a short-lived
//! `SameSite=Lax` cookie (`__Host-` prefixed under https) — Lax because the
//! provider's redirect back is a cross-site navigation, on which a Strict
//! cookie would not be sent.
//! `/auth/oidc/callback` takes the pending login, checks everything, refuses an
//! identity that no access rule admits, and starts a session.
//!
//! `?next=` on the start (the login page passes its own: the hand-over back to
//! the upstream's host) is kept with the pending login, server-side, and is
//! where the callback lands: only a path on the edge's host, checked when the
//! login starts and again when it lands. The callback's own query is never
//! read for it, so the provider's redirect cannot name where a login goes.

use std::time::Duration;

use axum::body::Body;
use chrono::Utc;
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{LoginFailed, RequestId};
use hardshell_auth::{
    Chat, EphemeralError, Method as AuthMethod, OidcClient, PendingLogin, Permit, Public, Subject,
    authorize,
};
use http::header::{HeaderValue, LOCATION, SET_COOKIE};
use http::{Method, Request, StatusCode};
use serde::{Deserialize, Serialize};

use crate::cookies;
use crate::response::{self, HttpResponse};
use crate::routes::handoff::is_local_path;
use crate::routes::{Context, RoutesBuilder, start_session};

/// How long a login may take at the provider.
const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes.route(Method::GET, "/auth/oidc/start", start).route(
        Method::GET,
        "/auth/oidc/callback",
        callback,
    )
}

/// What is kept server-side while the provider has the browser: the login,
/// and where it lands. `next` is absent in logins started before it existed.
#[derive(Serialize, Deserialize)]
struct Pending {
    #[serde(flatten)]
    login: PendingLogin,
    #[serde(default)]
    next: Option<String>,
}

async fn client(cx: &Context) -> Option<&OidcClient> {
    let oidc = cx.state.oidc.as_ref()?;
    match oidc
        .client
        .get_or_try_init(|| OidcClient::discover(oidc.settings.clone()))
        .await
    {
        Ok(client) => Some(client),
        Err(e) => {
            tracing::error!(error = %e, "OIDC discovery failed");
            None
        }
    }
}

async fn start(_: Permit<Public>, cx: Context, request: Request<Body>) -> HttpResponse {
    if cx.state.oidc.is_none() {
        return response::not_found();
    }
    let next = request.uri().query().and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "next")
            .map(|(_, value)| value.into_owned())
    });
    if next.as_deref().is_some_and(|next| !is_local_path(next)) {
        return response::bad_request("next must be a path on this host\n");
    }
    if cx.state.rate_limits.check_lockout(cx.client).is_err() {
        return response::too_many_requests(60);
    }
    let Some(client) = client(&cx).await else {
        return response::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "identity provider unavailable\n",
        );
    };
    let (url, login) = client.begin();
    let pending = Pending { login, next };
    let id = match cx
        .state
        .oidc_pending
        .put(&pending, LOGIN_TTL, Utc::now())
        .await
    {
        Ok(id) => id,
        Err(e @ EphemeralError::Full { .. }) => {
            tracing::warn!(error = %e, "refusing an OIDC login");
            return response::busy();
        }
        Err(e) => {
            tracing::error!(error = %e, "storing a pending OIDC login failed");
            return response::internal_error();
        }
    };
    let mut response = response::text(StatusCode::FOUND, "");
    if let (Ok(location), Some(cookie)) = (
        HeaderValue::from_str(url.as_str()),
        cx.state.cookies.lax(
            cx.state.cookies.oidc_pending_name(),
            &id,
            LOGIN_TTL.as_secs(),
        ),
    ) {
        response.headers_mut().insert(LOCATION, location);
        response.headers_mut().append(SET_COOKIE, cookie);
        return response;
    }
    response::internal_error()
}

/// One body for every refusal; the reason goes to the log and the audit record.
fn refused(cx: &Context, reason: String, charge: bool) -> HttpResponse {
    tracing::info!(reason, "OIDC login refused");
    if charge {
        cx.state.rate_limits.charge_failure(cx.client, None);
    }
    if let Ok(request_id) = RequestId::new(&cx.request_id) {
        cx.state.audit.note(AuditEvent::LoginFailed(LoginFailed {
            request_id,
            client: cx.client,
            auth_method: AuthMethod::Oidc,
            reason,
        }));
    }
    let mut response = response::text(StatusCode::FORBIDDEN, "login refused\n");
    response.headers_mut().append(
        SET_COOKIE,
        cx.state.cookies.clear(cx.state.cookies.oidc_pending_name()),
    );
    response
}

/// The page a login lands on, going on to `next` (a checked path, escaped
/// for the double-quoted attributes it stands in).
fn landing_page(next: &str) -> String {
    let next = html_escape::encode_double_quoted_attribute(next);
    format!(
        "<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={next}\">\
         <title>Signed in</title><p>Signed in. <a href=\"{next}\">Continue</a></p>\n"
    )
}

async fn callback(_: Permit<Public>, cx: Context, request: Request<Body>) -> HttpResponse {
    if cx.state.oidc.is_none() {
        return response::not_found();
    }
    if cx.state.rate_limits.check_lockout(cx.client).is_err() {
        return response::too_many_requests(60);
    }
    let query = request.uri().query().unwrap_or("");
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    if let Some(error) = param("error") {
        // The provider said no (the person cancelled, or was not allowed there).
        let reason: String = error
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(64)
            .collect();
        return refused(&cx, format!("provider returned error {reason}"), false);
    }
    let (Some(code), Some(state)) = (param("code"), param("state")) else {
        return refused(&cx, "callback without code or state".to_owned(), true);
    };
    let Some(pending_id) = cookies::find(request.headers(), cx.state.cookies.oidc_pending_name())
    else {
        return refused(
            &cx,
            "callback without a pending login cookie".to_owned(),
            true,
        );
    };
    let Pending { login, next } = match cx.state.oidc_pending.take(pending_id, Utc::now()).await {
        Ok(pending) => pending,
        Err(e) => return refused(&cx, format!("pending login: {e}"), true),
    };
    let Some(client) = client(&cx).await else {
        return response::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "identity provider unavailable\n",
        );
    };
    let principal = match client.complete(login, &code, &state).await {
        Ok(principal) => principal,
        Err(e) if e.is_unavailable() => {
            tracing::error!(error = %e, "OIDC provider unavailable");
            return response::text(
                StatusCode::SERVICE_UNAVAILABLE,
                "identity provider unavailable\n",
            );
        }
        Err(e) => return refused(&cx, format!("completing the login: {e}"), true),
    };
    // A proven identity that no rule admits gets no session at all.
    let subject = Subject {
        principal: Some(&principal),
        device: cx.device.as_ref(),
        now: Utc::now(),
    };
    if let Err(denied) = authorize::<Chat>(&cx.state.policy, &subject) {
        return refused(&cx, format!("{}: {denied}", principal.subject), false);
    }
    let started = start_session(&cx, principal, AuthMethod::Oidc).await;
    if started.status() != StatusCode::NO_CONTENT {
        return started;
    }
    // Land with a same-site navigation, so the new Strict session cookie is
    // sent (it would not be on a redirect that began cross-site).
    let landing = next.filter(|next| is_local_path(next));
    let mut response = response::text(StatusCode::OK, "");
    *response.body_mut() = Body::from(landing_page(landing.as_deref().unwrap_or("/")));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    for cookie in started.headers().get_all(SET_COOKIE) {
        response.headers_mut().append(SET_COOKIE, cookie.clone());
    }
    response.headers_mut().append(
        SET_COOKIE,
        cx.state.cookies.clear(cx.state.cookies.oidc_pending_name()),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_landing_page_escapes_its_target() {
        // A checked path may still hold `&`, `'` and quotes in its query.
        let page = landing_page("/auth/handoff?next=%2F&state=a\"><script>'");
        assert!(
            page.contains("url=/auth/handoff?next=%2F&amp;state=a&quot;&gt;&lt;script&gt;'\""),
            "{page}"
        );
        assert!(!page.contains("<script>"), "{page}");
    }
}
