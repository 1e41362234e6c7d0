//! The edge's cookies. With https every cookie the edge sets is `__Host-`
//! prefixed (so no subdomain can set or shadow it), `Secure` and `Path=/`; on
//! plain-http loopback it cannot be either, and browsers treat localhost as a
//! secure context anyway.

use http::HeaderMap;
use http::header::{COOKIE, HeaderValue};

const SECURE_SESSION: &str = "__Host-hs_session";
const PLAIN_SESSION: &str = "hs_session";
const SECURE_OIDC_PENDING: &str = "__Host-hs_oidc";
const PLAIN_OIDC_PENDING: &str = "hs_oidc";
/// The session on the upstream's own host (`[upstream] host`): a name of the
/// edge's namespace, so the upstream neither sees nor sets it.
const SECURE_ORIGIN_SESSION: &str = "__Host-hs_origin";
const PLAIN_ORIGIN_SESSION: &str = "hs_origin";
/// The hand-over's `state`, on the upstream's own host: which browser asked.
const SECURE_HANDOFF_STATE: &str = "__Host-hs_handoff";
const PLAIN_HANDOFF_STATE: &str = "hs_handoff";
/// Every cookie the edge sets is named in this namespace.
const PLAIN_PREFIX: &[u8] = b"hs_";
const SECURE_PREFIX: &[u8] = b"__Host-hs_";
/// Set by Cloudflare Access on the application's domain.
pub(crate) const CF_AUTHORIZATION: &str = "CF_Authorization";

/// How cookies are written for this edge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    pub fn session_name(self) -> &'static str {
        if self.secure {
            SECURE_SESSION
        } else {
            PLAIN_SESSION
        }
    }

    /// The session cookie of the upstream's own host.
    pub fn origin_session_name(self) -> &'static str {
        if self.secure {
            SECURE_ORIGIN_SESSION
        } else {
            PLAIN_ORIGIN_SESSION
        }
    }

    /// The cookie naming the hand-over a browser asked for on the upstream's
    /// own host (written with [`CookiePolicy::lax`]: it must come back on the
    /// hand-over's return even when the navigation began on another site).
    pub fn handoff_state_name(self) -> &'static str {
        if self.secure {
            SECURE_HANDOFF_STATE
        } else {
            PLAIN_HANDOFF_STATE
        }
    }

    /// `Set-Cookie` for a session on the upstream's own host, written by that
    /// host's answers only, so host-only there: HttpOnly, `SameSite=Strict`
    /// like the edge's own (no request another site starts carries it, so the
    /// upstream's GET handlers are not reachable with it from elsewhere; the
    /// hand-over that sets it is a chain of same-site redirects, which Strict
    /// allows).
    pub fn origin_session(self, value: &str, max_age_secs: i64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}",
            self.origin_session_name()
        ))
        .ok()
    }

    /// The cookie naming a pending OIDC login.
    pub fn oidc_pending_name(self) -> &'static str {
        if self.secure {
            SECURE_OIDC_PENDING
        } else {
            PLAIN_OIDC_PENDING
        }
    }

    /// `Set-Cookie` for a session id: HttpOnly, SameSite=Strict, host-only, and
    /// expiring with the session.
    pub fn session(self, value: &str, max_age_secs: i64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}",
            self.session_name()
        ))
        .ok()
    }

    /// A short-lived `SameSite=Lax` cookie for a ceremony that leaves the site and
    /// comes back (OIDC): a Strict cookie is not sent on that return. `Path=/`,
    /// as the `__Host-` prefix requires.
    pub fn lax(self, name: &str, value: &str, max_age_secs: u64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
        ))
        .ok()
    }

    /// `Set-Cookie` that deletes cookie `name`.
    pub fn clear(self, name: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!("{name}=; Path=/; HttpOnly; Max-Age=0{secure}"))
            .unwrap_or_else(|_| HeaderValue::from_static("hs_invalid=; Max-Age=0"))
    }

    /// `Set-Cookie` that deletes the session cookie.
    pub fn clear_session(self) -> HeaderValue {
        let value = if self.secure {
            "__Host-hs_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        } else {
            "hs_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        };
        HeaderValue::from_static(value)
    }
}

/// The value of cookie `name`, if the request carries exactly one. Two cookies of
/// the same name (a classic shadowing trick) count as none.
pub(crate) fn find<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for header in headers.get_all(COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            let Some((key, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if key == name {
                if found.is_some() {
                    return None;
                }
                found = Some(value);
            }
        }
    }
    found
}

/// Whether a cookie name belongs to the edge: Cloudflare's token and the edge's
/// `hs_` namespace, with or without the `__Host-` prefix https adds. One rule
/// for both directions: the upstream neither sees these nor sets them.
pub(crate) fn is_edge_cookie(name: &[u8]) -> bool {
    name.starts_with(PLAIN_PREFIX)
        || name.starts_with(SECURE_PREFIX)
        || name == CF_AUTHORIZATION.as_bytes()
}

/// The `Cookie` header without the cookies the edge consumes, for the upstream.
pub(crate) fn strip_edge_cookies(headers: &mut HeaderMap) {
    let kept: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|text| text.split(';'))
        .map(str::trim)
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
            !is_edge_cookie(name.as_bytes())
        })
        .map(str::to_owned)
        .collect();
    headers.remove(COOKIE);
    if !kept.is_empty()
        && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for c in cookies {
            map.append(COOKIE, HeaderValue::from_str(c).unwrap());
        }
        map
    }

    #[test]
    fn finds_one_cookie_and_refuses_duplicates() {
        assert_eq!(
            find(&headers(&["a=1; hs_session=xyz"]), "hs_session"),
            Some("xyz")
        );
        assert_eq!(
            find(&headers(&["hs_session=x", "hs_session=y"]), "hs_session"),
            None
        );
        assert_eq!(
            find(&headers(&["hs_session=x; hs_session=y"]), "hs_session"),
            None
        );
        assert_eq!(find(&headers(&["xhs_session=x"]), "hs_session"), None);
    }

    #[test]
    fn upstream_never_sees_edge_cookies() {
        let mut map = headers(&[
            "theme=dark; hs_session=s; __Host-hs_session=t",
            "CF_Authorization=jwt; app=1",
        ]);
        strip_edge_cookies(&mut map);
        assert_eq!(map.get(COOKIE).unwrap(), "theme=dark; app=1");
        let mut only_ours = headers(&["hs_session=s"]);
        strip_edge_cookies(&mut only_ours);
        assert!(only_ours.get(COOKIE).is_none());
    }

    /// Found by the `http_request_head` fuzz target: `__Host-hs_*` other than
    /// the session used to pass to the upstream, though the upstream may not set
    /// such a cookie either.
    #[test]
    fn upstream_never_sees_secure_prefixed_edge_cookies() {
        let mut map = headers(&["__Host-hs_csrf=c; theme=dark; __Host-hs_session=s"]);
        strip_edge_cookies(&mut map);
        assert_eq!(map.get(COOKIE).unwrap(), "theme=dark");
        assert!(!is_edge_cookie(b"__Host-theme"));
        assert!(!is_edge_cookie(b"xhs_session"));
    }

    /// The red team's finding: the pending-login cookie was plain `hs_oidc`
    /// with `Path=/auth/oidc` over https, so a sibling subdomain could set it.
    #[test]
    fn the_pending_login_cookie_is_host_prefixed_with_https() {
        let secure = CookiePolicy { secure: true };
        let name = secure.oidc_pending_name();
        assert_eq!(name, "__Host-hs_oidc");
        let set = secure.lax(name, "v", 600).unwrap();
        let set = set.to_str().unwrap();
        assert!(set.starts_with("__Host-hs_oidc=v; Path=/; HttpOnly; SameSite=Lax"));
        assert!(set.ends_with("; Secure"), "{set}");
        let cleared = secure.clear(name);
        assert!(
            cleared
                .to_str()
                .unwrap()
                .starts_with("__Host-hs_oidc=; Path=/;")
        );
        let plain = CookiePolicy { secure: false };
        assert_eq!(plain.oidc_pending_name(), "hs_oidc");
        assert!(
            !plain
                .lax("hs_oidc", "v", 600)
                .unwrap()
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }

    #[test]
    fn the_upstream_hosts_session_is_its_own_edge_named_cookie() {
        let secure = CookiePolicy { secure: true };
        assert_eq!(secure.origin_session_name(), "__Host-hs_origin");
        assert_ne!(secure.origin_session_name(), secure.session_name());
        let set = secure.origin_session("v", 60).unwrap();
        let set = set.to_str().unwrap();
        assert!(set.starts_with("__Host-hs_origin=v; Path=/; HttpOnly; SameSite=Strict"));
        assert!(
            set.ends_with("; Secure") && !set.contains("Domain"),
            "{set}"
        );
        // The proxy strips it and the upstream cannot set it.
        assert!(is_edge_cookie(b"__Host-hs_origin") && is_edge_cookie(b"hs_origin"));
        let mut map = headers(&["app=1; __Host-hs_origin=s; hs_origin=t"]);
        strip_edge_cookies(&mut map);
        assert_eq!(map.get(COOKIE).unwrap(), "app=1");
    }

    #[test]
    fn session_cookies_are_strict_and_secure_with_https() {
        let secure = CookiePolicy { secure: true }.session("v", 60).unwrap();
        let secure = secure.to_str().unwrap();
        assert!(secure.starts_with("__Host-hs_session=v; Path=/; HttpOnly; SameSite=Strict"));
        assert!(secure.ends_with("; Secure"));
        let plain = CookiePolicy { secure: false }.session("v", 60).unwrap();
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }
}
