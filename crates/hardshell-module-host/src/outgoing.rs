//! A module's outgoing HTTP: every request the component sends through
//! `wasi:http/outgoing-handler` is checked against its host grants here, and
//! only a [`Permit`] reaches the embedder's [`Egress`].
//!
//! The check is a pure function ([`permit`]) so each rule is tested alone; the
//! hooks around it bound the bodies and remember the first refusal, which ends
//! the call as [`crate::CallError::RequestDenied`] whatever the module answers.

use std::sync::Arc;

use hardshell_vocabulary::Host;
use http_body_util::{BodyExt, Limited};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::egress::{BodyLimits, Egress};
use crate::grants::HostGrant;
use held::HeldBudget;

/// A request that matched a grant. Only [`permit`] makes one, and only a
/// permitted request is handed to the egress.
#[derive(Debug)]
pub struct Permit {
    request: http::Request<()>,
}

impl Permit {
    /// The checked request head, for the egress to send.
    pub fn head(&self) -> &http::Request<()> {
        &self.request
    }

    /// The checked request head, to be sent with its body.
    pub fn into_head(self) -> http::Request<()> {
        self.request
    }
}

/// Why a module's request was refused. It names the destination, never the
/// path, query or body: those may carry the call's arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("the request has no host")]
    NoHost,
    #[error("the request to {host} carries userinfo (user:password@), which modules may not send")]
    Userinfo { host: String },
    #[error("{scheme}://{host}:{port} is not among the module's granted hosts")]
    HostNotGranted {
        scheme: String,
        host: String,
        port: u16,
    },
    #[error("method {method} is not granted for {scheme}://{host}:{port}")]
    MethodNotGranted {
        method: String,
        scheme: String,
        host: String,
        port: u16,
    },
    #[error("the path is outside the granted path prefix of {scheme}://{host}:{port}")]
    PathNotGranted {
        scheme: String,
        host: String,
        port: u16,
    },
}

/// The methods a grant without a method list allows: those a module's
/// manifest can name. Never `TRACE` (the destination echoes the request,
/// with any secret the broker put in it), `CONNECT` (a tunnel past the
/// broker's view of paths) or a method of the module's own invention.
pub const ANY_METHOD: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The methods the public web is read with.
pub const PUBLIC_WEB_METHODS: [&str; 2] = ["GET", "HEAD"];

/// Checks one request against the grants: scheme, host (as a [`Host`]), port
/// (the scheme's default when absent), method and path prefix must all match
/// one grant; or, with `public_web`, a `GET` or `HEAD` of a host name on its
/// scheme's default port that no grant names. Userinfo is refused outright.
pub fn permit<B>(
    request: &http::Request<B>,
    grants: &[HostGrant],
    public_web: bool,
) -> Result<Permit, Denial> {
    let uri = request.uri();
    let authority = uri.authority().ok_or(Denial::NoHost)?;
    let host = authority.host().to_ascii_lowercase();
    if authority.as_str().contains('@') {
        return Err(Denial::Userinfo {
            host: shown(&host, MAX_HOST_SHOWN),
        });
    }
    let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
    let port = match (authority.port_u16(), scheme.as_str()) {
        (Some(port), _) => port,
        (None, "http") => 80,
        (None, "https") => 443,
        (None, _) => 0,
    };
    // Read as the grants' hosts are (lower case, no trailing dot): what is
    // not a host name (an IPv6 literal) matches none.
    let parsed_host = Host::parse(&host).ok();
    let destination_matches = |grant: &&HostGrant| {
        grant.scheme == scheme && parsed_host.as_ref() == Some(&grant.host) && grant.port == port
    };
    let grants_here: Vec<&HostGrant> = grants.iter().filter(destination_matches).collect();
    // From here on the host is only named in a denial, which the model and
    // the log are shown: the module chose it, so it is cut to a host
    // name's length.
    let host = shown(&host, MAX_HOST_SHOWN);
    if grants_here.is_empty() {
        let default_port = matches!((scheme.as_str(), port), ("https", 443) | ("http", 80));
        if !(public_web && default_port && parsed_host.is_some()) {
            return Err(Denial::HostNotGranted { scheme, host, port });
        }
        // A host no grant names, on the public web: read only. A host a
        // grant names keeps that grant's rules instead.
        let method = request.method().as_str();
        if !PUBLIC_WEB_METHODS.contains(&method) {
            return Err(Denial::MethodNotGranted {
                method: shown(method, MAX_METHOD_SHOWN),
                scheme,
                host,
                port,
            });
        }
        return Ok(head_of(request));
    }
    let method = request.method().as_str();
    let method_granted = |grant: &&HostGrant| {
        grant
            .methods
            .as_ref()
            .map_or(ANY_METHOD.contains(&method), |methods| {
                methods.iter().any(|allowed| allowed == method)
            })
    };
    let grants_here: Vec<&HostGrant> = grants_here.into_iter().filter(method_granted).collect();
    if grants_here.is_empty() {
        return Err(Denial::MethodNotGranted {
            method: shown(method, MAX_METHOD_SHOWN),
            scheme,
            host,
            port,
        });
    }
    let path = uri.path();
    let path_granted = grants_here.iter().any(|grant| {
        grant
            .path_prefix
            .as_deref()
            .is_none_or(|prefix| path_is_below(path, prefix))
    });
    if !path_granted {
        return Err(Denial::PathNotGranted { scheme, host, port });
    }
    Ok(head_of(request))
}

/// The permitted request's head. Copied part by part, which cannot fail: a
/// builder's error here could only have been reported as some denial it was
/// not.
fn head_of<B>(request: &http::Request<B>) -> Permit {
    let mut head = http::Request::new(());
    *head.method_mut() = request.method().clone();
    *head.uri_mut() = request.uri().clone();
    *head.version_mut() = request.version();
    *head.headers_mut() = request.headers().clone();
    Permit { request: head }
}

/// The longest host a denial names: a DNS name's length.
const MAX_HOST_SHOWN: usize = 253;
/// The longest method a denial names: longer than any registered one.
const MAX_METHOD_SHOWN: usize = 32;

/// `text` as a denial names it: at most `limit` characters, and an ellipsis
/// when it was cut.
fn shown(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(limit).collect();
    cut.push('…');
    cut
}

/// Whether `path` is `prefix` or below it. A path with dot segments or with
/// encoded dots, slashes or backslashes never is: a server may resolve them
/// to somewhere outside the prefix after the check.
fn path_is_below(path: &str, prefix: &str) -> bool {
    let lowered = path.to_ascii_lowercase();
    // A segment is a dot segment also with parameters after it (`..;x`):
    // servers such as Tomcat drop the parameters before they resolve it.
    let is_dot_segment = |segment: &str| {
        let name = segment.split_once(';').map_or(segment, |(name, _)| name);
        name == "." || name == ".."
    };
    let has_tricks = path.split('/').any(is_dot_segment)
        || ["%2e", "%2f", "%5c", "\\"]
            .iter()
            .any(|trick| lowered.contains(trick));
    if has_tricks {
        return false;
    }
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The `wasi:http` hooks of one call: the grants, the egress and what was
/// refused.
pub(crate) struct GrantedHttp {
    hosts: Vec<HostGrant>,
    public_web: bool,
    egress: Arc<dyn Egress>,
    limits: BodyLimits,
    held: HeldBudget,
    /// The first refusal of this call, if any.
    pub(crate) denied: Option<Denial>,
}

impl std::fmt::Debug for GrantedHttp {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("GrantedHttp")
            .field("hosts", &self.hosts)
            .field("public_web", &self.public_web)
            .field("limits", &self.limits)
            .field("denied", &self.denied)
            .finish_non_exhaustive()
    }
}

impl GrantedHttp {
    pub(crate) fn new(
        hosts: Vec<HostGrant>,
        public_web: bool,
        egress: Arc<dyn Egress>,
        limits: BodyLimits,
    ) -> Self {
        Self {
            hosts,
            public_web,
            egress,
            limits,
            held: HeldBudget::new(limits.held_response_bytes),
            denied: None,
        }
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

/// The most one write to a request body may buffer in the host before the
/// request is sent (wasmtime's default is 1 MiB): a module may open many
/// bodies and never send them, and each buffer is host memory outside the
/// memory cap.
const BODY_CHUNK_BYTES: usize = 64 * 1024;

impl WasiHttpHooks for GrantedHttp {
    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        BODY_CHUNK_BYTES
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _body_error: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let permit = match permit(&request, &self.hosts, self.public_web) {
            Ok(permit) => permit,
            Err(denial) => {
                tracing::info!(%denial, "module request refused");
                self.denied.get_or_insert(denial);
                return Box::new(async { Err(HttpError::HttpRequestDenied) });
            }
        };
        let egress = Arc::clone(&self.egress);
        let limits = self.limits;
        let held = self.held.clone();
        Box::new(async move {
            let body = Limited::new(request.into_body(), limits.request_bytes)
                .collect()
                .await
                .map_err(|_| HttpError::HttpRequestBodySize(None))?
                .to_bytes();
            let response = egress.send(permit, body, limits).await.map_err(|error| {
                tracing::info!(%error, "module request failed at the egress");
                error.into_http_error()
            })?;
            if response.body().len() > limits.response_bytes {
                return Err(HttpError::HttpResponseBodySize(None));
            }
            let (parts, body) = response.into_parts();
            let body = held
                .hold(body)
                .ok_or(HttpError::HttpResponseBodySize(None))?;
            let response = http::Response::from_parts(
                parts,
                body.map_err(|never| match never {}).boxed_unsync(),
            );
            let done: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

mod held;

#[cfg(test)]
mod tests;
