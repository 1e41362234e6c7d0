//! The route table. A handler is registered together with its requirement, and
//! its signature must take a `Permit<R>` for that requirement: a handler cannot
//! be written that runs without authorization, and the table hands it a permit
//! only after `authorize::<R>` has made one. Adding a route without a check does
//! not compile.

mod admin;
mod cdp;
pub(crate) mod chat;
mod devices;
pub(crate) mod handoff;
mod health;
mod oidc;
mod openai;
mod pages;
mod passkey;
mod session;
mod upstream;
mod webhook;

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use hardshell_auth::{Denied, Device, Permit, Policy, Public, Requirement, Subject, authorize};
use http::{Method, Request};

use crate::response::HttpResponse;
use crate::state::EdgeState;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a handler knows about its request besides the permit.
pub(crate) struct Context {
    pub state: Arc<EdgeState>,
    pub request_id: String,
    pub client: IpAddr,
    pub device: Option<Device>,
    /// Watches on the credentials the request was granted on (its session or
    /// token, its device): a response that outlives the request ends with them.
    pub credentials: crate::pipeline::watch::CredentialWatch,
    /// Path parameters, e.g. `id` in `/admin/tokens/{id}`.
    pub params: Vec<(String, String)>,
    /// The session that proved the principal, when a session cookie did.
    pub session: Option<crate::pipeline::authn::SessionFacts>,
}

impl Context {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A request handler for requirement `R`. Implemented by every
/// `async fn(Permit<R>, Context, Request<Body>) -> HttpResponse`.
pub(crate) trait Handler<R: Requirement>: Send + Sync + 'static {
    fn call(
        &self,
        permit: Permit<R>,
        cx: Context,
        request: Request<Body>,
    ) -> BoxFuture<HttpResponse>;
}

impl<R, F, Fut> Handler<R> for F
where
    R: Requirement,
    F: Fn(Permit<R>, Context, Request<Body>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    fn call(
        &self,
        permit: Permit<R>,
        cx: Context,
        request: Request<Body>,
    ) -> BoxFuture<HttpResponse> {
        Box::pin(self(permit, cx, request))
    }
}

/// A handler that authorization has let through, ready to run.
pub(crate) struct Authorized {
    run: Box<dyn FnOnce(Context, Request<Body>) -> BoxFuture<HttpResponse> + Send>,
}

impl Authorized {
    pub fn run(self, cx: Context, request: Request<Body>) -> BoxFuture<HttpResponse> {
        (self.run)(cx, request)
    }
}

/// A registered endpoint, its requirement type erased behind `authorize`.
pub(crate) trait Endpoint: Send + Sync {
    fn authorize(&self, policy: &Policy, subject: &Subject<'_>) -> Result<Authorized, Denied>;
    /// Whether the route proxies to the upstream (streams its body untouched).
    fn is_proxy(&self) -> bool;
    /// Whether a request to it is charged to the request rate limits.
    fn is_rate_limited(&self) -> bool;
    /// Whether it takes an API token from the query string (`?token=`), for
    /// clients that cannot send headers (see `pipeline/query_token.rs`).
    fn takes_query_token(&self) -> bool;
}

/// How the pipeline treats a route, beyond its requirement.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Handler,
    /// The upstream proxy: the body is streamed as is.
    Proxy,
    /// One of the edge's own constant page files (see [`RoutesBuilder::asset`]).
    Asset,
    /// A handler that also takes an API token from the query string (see
    /// [`RoutesBuilder::route_with_query_token`]).
    QueryToken,
}

struct Typed<R, H> {
    handler: Arc<H>,
    kind: Kind,
    _requirement: PhantomData<fn() -> R>,
}

impl<R: Requirement, H: Handler<R>> Endpoint for Typed<R, H> {
    fn authorize(&self, policy: &Policy, subject: &Subject<'_>) -> Result<Authorized, Denied> {
        let permit = authorize::<R>(policy, subject)?;
        let handler = self.handler.clone();
        Ok(Authorized {
            run: Box::new(move |cx, request| handler.call(permit, cx, request)),
        })
    }

    fn is_proxy(&self) -> bool {
        self.kind == Kind::Proxy
    }

    fn is_rate_limited(&self) -> bool {
        self.kind != Kind::Asset
    }

    fn takes_query_token(&self) -> bool {
        self.kind == Kind::QueryToken
    }
}

/// The result of matching a request against the table.
pub(crate) enum Match<'a> {
    Found {
        endpoint: &'a Arc<dyn Endpoint>,
        /// The registered path pattern, for metrics (never the raw path).
        pattern: &'a str,
        params: Vec<(String, String)>,
    },
    NotFound,
    MethodNotAllowed,
}

type Methods = HashMap<Method, Arc<dyn Endpoint>>;

pub(crate) struct Routes {
    router: matchit::Router<(String, Methods)>,
    /// The first segments of the edge's own routes (`admin`, `auth`, `metrics`,
    /// …): a path that begins with one, however spelled, is never proxied.
    reserved: Vec<String>,
    /// With `[upstream] host`: everything served on the upstream's own host
    /// (the proxy and the end of the login hand-over), and nothing else.
    upstream_host: Option<Box<Routes>>,
}

#[derive(Default)]
pub(crate) struct RoutesBuilder {
    routes: Vec<(String, Methods)>,
}

impl RoutesBuilder {
    /// Registers `handler` for `method path`; its permit type fixes the requirement.
    pub fn route<R: Requirement, H: Handler<R>>(
        self,
        method: Method,
        path: &str,
        handler: H,
    ) -> Self {
        self.add::<R, H>(method, path, handler, Kind::Handler)
    }

    /// Like `route`, for a client that may not be able to send headers (a
    /// CDP client given only a URL): an API token in the query string is
    /// taken as its `Authorization`, and the query is dropped before any
    /// later phase, log or record can see it.
    pub fn route_with_query_token<R: Requirement, H: Handler<R>>(
        self,
        method: Method,
        path: &str,
        handler: H,
    ) -> Self {
        self.add::<R, H>(method, path, handler, Kind::QueryToken)
    }

    /// Registers the upstream proxy: like `route`, but the body is streamed as is.
    pub fn proxy<R: Requirement, H: Handler<R>>(
        self,
        method: Method,
        path: &str,
        handler: H,
    ) -> Self {
        self.add::<R, H>(method, path, handler, Kind::Proxy)
    }

    /// Registers one of the edge's own pages, scripts or styles: `GET`, public,
    /// and constant (compiled in). Not charged to the request rate limits: one
    /// page is three such requests before its first API call, so the owner's
    /// first sign-in spent the default burst of 10 on the login and chat pages'
    /// files and the chat page's first call was refused. Serving a constant
    /// costs what the 429 for it would, and is audited like any request; the
    /// pages' API calls are charged as usual.
    pub fn asset<H: Handler<Public>>(self, path: &str, handler: H) -> Self {
        self.add::<Public, H>(Method::GET, path, handler, Kind::Asset)
    }

    fn add<R: Requirement, H: Handler<R>>(
        mut self,
        method: Method,
        path: &str,
        handler: H,
        kind: Kind,
    ) -> Self {
        let endpoint: Arc<dyn Endpoint> = Arc::new(Typed::<R, H> {
            handler: Arc::new(handler),
            kind,
            _requirement: PhantomData,
        });
        match self.routes.iter_mut().find(|(pattern, _)| pattern == path) {
            Some((_, methods)) => {
                methods.insert(method, endpoint);
            }
            None => self
                .routes
                .push((path.to_owned(), HashMap::from([(method, endpoint)]))),
        }
        self
    }

    pub fn build(self) -> Result<Routes, matchit::InsertError> {
        let mut router = matchit::Router::new();
        let mut reserved = Vec::new();
        for (pattern, methods) in self.routes {
            let edge_owned = methods.values().any(|endpoint| !endpoint.is_proxy());
            if let Some(segment) = crate::pipeline::target::first_segment(&pattern)
                && edge_owned
                && !segment.is_empty()
                && !reserved.contains(&segment)
            {
                reserved.push(segment);
            }
            router.insert(pattern.clone(), (pattern, methods))?;
        }
        Ok(Routes {
            router,
            reserved,
            upstream_host: None,
        })
    }
}

impl Routes {
    pub fn builder() -> RoutesBuilder {
        RoutesBuilder::default()
    }

    /// The table of the upstream's own host, when it has one.
    pub fn upstream_host(&self) -> Option<&Routes> {
        self.upstream_host.as_deref()
    }

    pub fn find(&self, method: &Method, path: &str) -> Match<'_> {
        let Ok(matched) = self.router.at(path) else {
            return Match::NotFound;
        };
        let (pattern, methods) = matched.value;
        // HEAD is answered like GET, as HTTP requires.
        let endpoint = methods.get(method).or_else(|| {
            (method == Method::HEAD)
                .then(|| methods.get(&Method::GET))
                .flatten()
        });
        match endpoint {
            // The edge's paths are its own in every spelling an upstream might
            // decode, fold or trim to one of them.
            Some(endpoint) if endpoint.is_proxy() && self.is_reserved(path) => Match::NotFound,
            Some(endpoint) => {
                // A parameter is taken as the client meant it: escapes
                // decoded (`telegram%3A1` is `telegram:1`). One that is not
                // UTF-8 once decoded names nothing here.
                let params = matched
                    .params
                    .iter()
                    .map(|(key, value)| {
                        let decoded = percent_encoding::percent_decode_str(value).decode_utf8();
                        decoded.map(|value| (key.to_owned(), value.into_owned()))
                    })
                    .collect::<Result<Vec<_>, _>>();
                match params {
                    Ok(params) => Match::Found {
                        endpoint,
                        pattern,
                        params,
                    },
                    Err(_) => Match::NotFound,
                }
            }
            None => Match::MethodNotAllowed,
        }
    }
}

impl Routes {
    fn is_reserved(&self, path: &str) -> bool {
        match crate::pipeline::target::first_segment(path) {
            Some(segment) => self.reserved.contains(&segment),
            // Escapes that are not UTF-8: no reading of them is safe to pass on.
            None => true,
        }
    }
}

/// What the edge serves besides its own pages, logins and admin API: decided
/// by the config (`[upstream]`, `[agent]`) before the table is built.
pub(crate) enum Behind {
    /// `[upstream]`: everything else is proxied there; with `own_host`, on
    /// the upstream's own host only, and nothing of it on the edge's.
    Upstream { own_host: bool },
    /// The built-in agent: the chat page, the chat API and the OpenAI API.
    Agent(Arc<crate::agent::AgentClient>),
    /// Neither: the chat paths answer 404 once authorised.
    Nothing,
}

/// Every route the edge serves; with `browser`, the CDP proxy's too.
pub(crate) fn table(
    behind: &Behind,
    browser: bool,
    webhooks: &[std::sync::Arc<dyn hardshell_channels::webhook::WebhookEndpoint>],
) -> Result<Routes, matchit::InsertError> {
    let routes = webhook::register(Routes::builder(), webhooks);
    let routes = if browser {
        cdp::register(routes)
    } else {
        routes
    };
    let routes = health::register(routes);
    let routes = session::register(routes);
    let routes = pages::register(routes);
    let routes = passkey::register(routes);
    let routes = oidc::register(routes);
    let routes = admin::register(routes);
    let routes = devices::register(routes);
    let routes = match behind {
        Behind::Upstream { own_host: true } => {
            let own = handoff::register_upstream_host(upstream::register(Routes::builder()));
            let mut routes = handoff::register_edge(routes).build()?;
            routes.upstream_host = Some(Box::new(own.build()?));
            return Ok(routes);
        }
        Behind::Upstream { own_host: false } => upstream::register(routes),
        Behind::Agent(agent) => {
            let routes = chat::register(pages::register_chat(routes), agent);
            openai::register(routes, agent)
        }
        Behind::Nothing => {
            let routes = chat::register_without_agent(pages::register_chat(routes));
            openai::register_without_agent(routes)
        }
    };
    routes.build()
}

/// Largest JSON body a login or admin endpoint reads.
const MAX_JSON_BODY: usize = 64 * 1024;

/// The request body as `T`, or `None` if it is unreadable, too large or not `T`.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(request: Request<Body>) -> Option<T> {
    let bytes = axum::body::to_bytes(request.into_body(), MAX_JSON_BODY)
        .await
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Starts a session for a principal that just logged in: records the login
/// durably first, then sets the cookie.
pub(crate) async fn start_session(
    cx: &Context,
    principal: hardshell_auth::Principal,
    method: hardshell_auth::Method,
) -> HttpResponse {
    use hardshell_audit::AuditEvent;
    use hardshell_audit::event::{LoginSucceeded, RequestId};

    let Ok(request_id) = RequestId::new(&cx.request_id) else {
        return crate::response::internal_error();
    };
    let event = AuditEvent::LoginSucceeded(LoginSucceeded {
        request_id,
        client: cx.client,
        subject: principal.subject.clone(),
        auth_method: method,
    });
    if cx.state.audit.admin_action(event).await.is_err() {
        return crate::response::internal_error();
    }
    let id = match cx
        .state
        .sessions
        .create(principal, chrono::Utc::now())
        .await
    {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "creating a session failed");
            return crate::response::internal_error();
        }
    };
    let mut response = crate::response::text(http::StatusCode::NO_CONTENT, "");
    if let Some(cookie) = cx
        .state
        .cookies
        .session(id.expose(), cx.state.session_max_age_secs)
    {
        response
            .headers_mut()
            .append(http::header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT_PATHS: [(Method, &str); 9] = [
        (Method::GET, "/"),
        (Method::GET, "/api/sessions"),
        (Method::POST, "/api/sessions"),
        (Method::GET, "/api/sessions/web-x"),
        (Method::POST, "/api/sessions/web-x/messages"),
        (Method::POST, "/api/sessions/web-x/approvals/a"),
        (Method::GET, "/api/sessions/web-x/files/f"),
        (Method::POST, "/v1/chat/completions"),
        (Method::GET, "/v1/models"),
    ];

    fn served(routes: &Routes, method: &Method, path: &str) -> Option<bool> {
        match routes.find(method, path) {
            Match::Found { endpoint, .. } => Some(endpoint.is_proxy()),
            Match::NotFound | Match::MethodNotAllowed => None,
        }
    }

    #[tokio::test]
    async fn chat_paths_are_the_edges_with_or_without_an_agent_and_the_upstreams_with_one() {
        let agent = Arc::new(crate::agent::AgentClient::new("/nonexistent".into()));
        let with_agent = table(&Behind::Agent(agent), false, &[]).unwrap();
        let without = table(&Behind::Nothing, false, &[]).unwrap();
        let upstream = table(&Behind::Upstream { own_host: false }, false, &[]).unwrap();
        for (method, path) in CHAT_PATHS {
            // Without an agent the same paths are registered (404 once
            // authorised, as they have always answered), never proxied.
            assert_eq!(
                served(&with_agent, &method, path),
                Some(false),
                "{method} {path}"
            );
            assert_eq!(
                served(&without, &method, path),
                Some(false),
                "{method} {path}"
            );
            assert_eq!(
                served(&upstream, &method, path),
                Some(true),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn the_cdp_proxy_is_the_edges_only_with_the_browser_and_never_proxied() {
        for behind in [
            Behind::Nothing,
            Behind::Upstream { own_host: false },
            Behind::Upstream { own_host: true },
        ] {
            let with = table(&behind, true, &[]).unwrap();
            for path in ["/cdp", "/cdp/json/version", "/cdp/json/version/"] {
                assert_eq!(served(&with, &Method::GET, path), Some(false), "{path}");
                if let Some(own) = with.upstream_host() {
                    assert_ne!(served(own, &Method::GET, path), Some(false), "{path}");
                }
            }
            // Without the browser, /cdp is not the edge's: an upstream
            // keeps the path.
            let without = table(&behind, false, &[]).unwrap();
            assert_ne!(served(&without, &Method::GET, "/cdp"), Some(false));
        }
    }

    #[test]
    fn with_a_host_of_its_own_the_upstream_is_served_there_and_only_there() {
        let routes = table(&Behind::Upstream { own_host: true }, false, &[]).unwrap();
        let own = routes.upstream_host().expect("a table of its own");
        for (method, path) in CHAT_PATHS {
            assert_ne!(
                served(&routes, &method, path),
                Some(true),
                "{method} {path}"
            );
            assert_eq!(served(own, &method, path), Some(true), "{method} {path}");
        }
        // On its host the edge's paths are the upstream's.
        for path in [
            "/admin",
            "/admin/tokens",
            "/login",
            "/auth/whoami",
            "/metrics",
        ] {
            assert_eq!(served(own, &Method::GET, path), Some(true), "{path}");
            assert_ne!(served(&routes, &Method::GET, path), Some(true), "{path}");
        }
        // The hand-over: started on the edge's host, finished on the upstream's.
        assert_eq!(served(&routes, &Method::GET, "/auth/handoff"), Some(false));
        assert_eq!(served(own, &Method::GET, "/auth/handoff"), Some(true));
        assert_eq!(
            served(own, &Method::GET, "/.hardshell/handoff"),
            Some(false)
        );
        assert_eq!(served(&routes, &Method::GET, "/.hardshell/handoff"), None);
        assert_eq!(served(own, &Method::GET, "/.hardshell/other"), Some(false));
        assert_eq!(served(own, &Method::GET, "/.HARDSHELL/x"), None);
        assert_eq!(served(&routes, &Method::GET, "/cdp"), None);
        assert!(
            table(&Behind::Upstream { own_host: false }, false, &[])
                .unwrap()
                .upstream_host()
                .is_none()
        );
    }
}
