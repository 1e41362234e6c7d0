//! Where a shell may connect: routes of hosts and ports, and for plain-HTTP
//! requests (which the broker reads) methods and path prefixes. Everything
//! not allowed by a route is refused with a reason fit for a 403 body and the
//! audit log.

use crate::host::{Host, HostPattern};

/// One allowed destination.
#[derive(Debug, Clone, Default)]
pub struct Route {
    pub hosts: Vec<HostPattern>,
    /// Every host name, `hosts` aside: the browser's broker when the owner
    /// lets it load any public site (`[browser] allow_public`). The address
    /// guard still decides every address a name resolves to. Never set for
    /// `[egress]`.
    pub any_host: bool,
    pub ports: Vec<u16>,
    /// Plain HTTP only: allowed methods (upper case); `None` is any.
    pub methods: Option<Vec<String>>,
    /// Plain HTTP only: allowed path prefixes; `None` is any.
    pub path_prefixes: Option<Vec<String>>,
    /// Plain HTTP only: the exact paths allowed (a query may follow); `None`
    /// is any. A model route's chat path: beneath it are other calls (at
    /// OpenAI, `POST /v1/chat/completions/<id>` updates a stored one).
    pub paths: Option<Vec<String>>,
    /// The shell speaks plain HTTP to the broker and the broker speaks TLS to
    /// the destination, so it reads (and swaps placeholders in) every request.
    /// A URL without a port means 443 here; tunnels are refused unless the
    /// route is also `inspect`.
    pub tls: bool,
    /// A `CONNECT` on this route is answered and its TLS terminated by the
    /// broker (with a leaf certificate for the CONNECT host, from the
    /// broker's issuer), so every request inside is read and checked like a
    /// plain-HTTP request on a `tls` route: methods and paths, placeholders,
    /// the leak scan, the tap; the broker then speaks TLS to the destination
    /// itself. `false` leaves a tunnel raw (certificate-pinning clients),
    /// which only a route with no method or path rule and no `tls` allows.
    /// (The config's `[egress.routes] inspect`, and its default, true where a
    /// secret is bound to a host of the route or the route has method or
    /// path rules, are not wired yet.)
    pub inspect: bool,
    /// The operator named this destination itself (a model provider's base
    /// URL), so the address guard does not apply to it: a model server on
    /// this machine is a common, deliberate setup. Never set for `[egress]`.
    pub internal: bool,
    /// Handed to the broker's [`crate::proxy::Tap`] with each request of this
    /// route (the model provider's name).
    pub tag: Option<String>,
    /// What the broker does with `hs-secret:` placeholders in this route's
    /// requests.
    pub placeholders: Placeholders,
}

impl Route {
    /// Whether this route is for `host` (its ports and rules aside).
    fn admits(&self, host: &Host) -> bool {
        self.any_host || self.hosts.iter().any(|pattern| pattern.matches(host))
    }
}

/// What the broker does with `hs-secret:` placeholders in a route's requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Placeholders {
    /// Swapped where a binding allows; anywhere else the request is refused.
    /// A shell's own requests: a placeholder there is meant to be used.
    #[default]
    Bound,
    /// Text like any other, never swapped and never refused, except in the
    /// key header, where the placeholder of one of its secrets is swapped
    /// (and any other one refuses the request). The model routes: their
    /// bodies carry a conversation, which quotes placeholders (the exec
    /// tool's description, a command's output, an echo the broker turned
    /// back into one), and none of them is ever meant to be swapped there.
    Inert { key: Option<KeyHeader> },
}

/// The one place a model route swaps a placeholder: its provider's key
/// header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHeader {
    /// Compared case-insensitively.
    pub header: String,
    /// The secrets (provider keys) whose placeholders are swapped there.
    pub secrets: Vec<String>,
}

/// The methods of RFC 9110 and PATCH: named in a refusal as they are.
const STANDARD_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// What a shell asked for.
#[derive(Debug, Clone)]
pub enum Request<'a> {
    /// `CONNECT host:port`: a raw tunnel the broker cannot read, or, on an
    /// `inspect` route, one whose TLS the broker terminates.
    Tunnel { host: &'a Host, port: u16 },
    /// A request read inside an inspected tunnel to `host:port`: decided
    /// like [`Request::Http`], but only among `inspect` routes (a route that
    /// did not ask for interception never sees a request from one).
    Inspected {
        host: &'a Host,
        port: u16,
        method: &'a str,
        path: &'a str,
    },
    /// A plain-HTTP request the broker forwards.
    Http {
        host: &'a Host,
        port: u16,
        method: &'a str,
        path: &'a str,
    },
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("{host} is not an allowed host")]
    Host { host: String },
    #[error("port {port} is not allowed for {host}")]
    Port { host: String, port: u16 },
    #[error("{method} is not allowed for {host}")]
    Method { host: String, method: String },
    #[error("the path is not allowed for {host}")]
    Path { host: String },
    #[error(
        "a tunnel to {host} is not allowed: its route limits methods or paths, or is read by the broker, which a tunnel would hide"
    )]
    TunnelHidesRequest { host: String },
    #[error("the path is ambiguous ({why}), so it is refused")]
    AmbiguousPath { why: &'static str },
}

/// The routes of one shell.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    pub routes: Vec<Route>,
}

impl EgressPolicy {
    /// The port a URL without one means for `host`: 443 if a route for it
    /// originates TLS, else 80.
    pub fn default_port(&self, host: &Host) -> u16 {
        let tls = self
            .routes
            .iter()
            .any(|route| route.tls && route.admits(host));
        if tls { 443 } else { 80 }
    }

    /// The first route that allows the request, or the first reason none does
    /// (the most specific one found).
    pub fn decide(&self, request: &Request<'_>) -> Result<&Route, Denied> {
        let (host, port) = match request {
            Request::Tunnel { host, port }
            | Request::Http { host, port, .. }
            | Request::Inspected { host, port, .. } => (*host, *port),
        };
        let inspected = matches!(request, Request::Inspected { .. });
        let by_host: Vec<&Route> = self
            .routes
            .iter()
            .filter(|route| route.admits(host))
            .filter(|route| route.inspect || !inspected)
            .collect();
        if by_host.is_empty() {
            return Err(Denied::Host {
                host: host.to_string(),
            });
        }
        let by_port: Vec<&Route> = by_host
            .into_iter()
            .filter(|route| route.ports.contains(&port))
            .collect();
        if by_port.is_empty() {
            return Err(Denied::Port {
                host: host.to_string(),
                port,
            });
        }
        let (method, path) = match request {
            Request::Tunnel { .. } => {
                // An inspected route first: where both kinds match, the one
                // that reads the requests.
                let inspected = by_port.iter().find(|r| r.inspect).copied();
                return inspected
                    .or_else(|| {
                        by_port.into_iter().find(|r| {
                            r.methods.is_none()
                                && r.path_prefixes.is_none()
                                && r.paths.is_none()
                                && !r.tls
                        })
                    })
                    .ok_or_else(|| Denied::TunnelHidesRequest {
                        host: host.to_string(),
                    });
            }
            Request::Http { method, path, .. } | Request::Inspected { method, path, .. } => {
                (*method, *path)
            }
        };
        check_path(path)?;
        let by_method: Vec<&Route> = by_port
            .into_iter()
            .filter(|route| {
                route
                    .methods
                    .as_ref()
                    .is_none_or(|methods| methods.iter().any(|m| m == method))
            })
            .collect();
        if by_method.is_empty() {
            return Err(Denied::Method {
                host: host.to_string(),
                // The shell chooses the method, and this text goes to the
                // audit log before any leak scan: a standard one is named,
                // anything else (which could carry a value) is not.
                method: if STANDARD_METHODS.contains(&method) {
                    method.to_owned()
                } else {
                    "an unusual method".to_owned()
                },
            });
        }
        by_method
            .into_iter()
            .find(|route| {
                let bare = path.split(['?', '#']).next().unwrap_or(path);
                route
                    .path_prefixes
                    .as_ref()
                    .is_none_or(|prefixes| prefixes.iter().any(|p| under(path, p)))
                    && route
                        .paths
                        .as_ref()
                        .is_none_or(|paths| paths.iter().any(|p| p == bare))
            })
            .ok_or_else(|| Denied::Path {
                host: host.to_string(),
            })
    }
}

/// Whether `path` is `prefix` or beneath it, segment by segment (`/v1` is not
/// a prefix of `/v10`).
fn under(path: &str, prefix: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Refuses paths a server might read differently from the prefix check:
/// dot segments, encoded dots and slashes, backslashes, empty segments.
fn check_path(path: &str) -> Result<(), Denied> {
    let ambiguous = |why| Err(Denied::AmbiguousPath { why });
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if !path.starts_with('/') {
        return ambiguous("not absolute");
    }
    let lower = path.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return ambiguous("an encoded dot, slash or NUL");
    }
    if path.contains('\\') {
        return ambiguous("a backslash");
    }
    if path.contains("//") {
        return ambiguous("an empty segment");
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return ambiguous("a dot segment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn host(text: &str) -> Host {
        Host::parse(text).unwrap()
    }

    impl Route {
        fn with_no_rules(self) -> Self {
            Route {
                methods: None,
                path_prefixes: None,
                paths: None,
                ..self
            }
        }
    }

    fn policy() -> EgressPolicy {
        EgressPolicy {
            routes: vec![
                Route {
                    hosts: vec![HostPattern::parse("api.github.com").unwrap()],
                    ports: vec![443],
                    ..Route::default()
                },
                Route {
                    hosts: vec![HostPattern::parse("*.model.test").unwrap()],
                    ports: vec![80],
                    methods: Some(vec!["POST".into()]),
                    path_prefixes: Some(vec!["/v1/chat/completions".into(), "/v1/models/".into()]),
                    ..Route::default()
                },
                Route {
                    hosts: vec![HostPattern::parse("api.tls.test").unwrap()],
                    ports: vec![443],
                    tls: true,
                    ..Route::default()
                },
                Route {
                    hosts: vec![HostPattern::parse("exact.test").unwrap()],
                    ports: vec![80],
                    paths: Some(vec!["/v1/chat/completions".into()]),
                    ..Route::default()
                },
            ],
        }
    }

    fn http<'a>(host: &'a Host, method: &'a str, path: &'a str) -> Request<'a> {
        Request::Http {
            host,
            port: 80,
            method,
            path,
        }
    }

    #[test]
    fn allowed_hosts_ports_methods_and_paths_pass() {
        let policy = policy();
        let github = host("api.github.com");
        assert!(
            policy
                .decide(&Request::Tunnel {
                    host: &github,
                    port: 443
                })
                .is_ok()
        );
        let model = host("eu.model.test");
        for path in [
            "/v1/chat/completions",
            "/v1/chat/completions?stream=1",
            "/v1/models/x",
        ] {
            assert!(policy.decide(&http(&model, "POST", path)).is_ok(), "{path}");
        }
        // A TLS route is chosen for its host, and means 443 without a port.
        let tls = host("api.tls.test");
        assert_eq!(policy.default_port(&tls), 443);
        assert_eq!(policy.default_port(&github), 80);
        let request = Request::Http {
            host: &tls,
            port: 443,
            method: "GET",
            path: "/x",
        };
        assert!(policy.decide(&request).is_ok_and(|route| route.tls));
        let exact = host("exact.test");
        for path in ["/v1/chat/completions", "/v1/chat/completions?x=1"] {
            assert!(policy.decide(&http(&exact, "POST", path)).is_ok(), "{path}");
        }
    }

    #[test]
    fn an_inspected_route_allows_a_tunnel_and_decides_the_requests_inside() {
        let mut policy = policy();
        let limited = Route {
            hosts: vec![HostPattern::parse("api.limited.test").unwrap()],
            ports: vec![443],
            methods: Some(vec!["GET".into()]),
            inspect: true,
            ..Route::default()
        };
        // A raw route to the same host, listed first: a tunnel still takes
        // the inspected one.
        policy.routes.insert(
            0,
            Route {
                inspect: false,
                ..limited.clone()
            }
            .with_no_rules(),
        );
        policy.routes.push(limited);
        let limited = host("api.limited.test");
        let tunnel = Request::Tunnel {
            host: &limited,
            port: 443,
        };
        assert!(policy.decide(&tunnel).is_ok_and(|route| route.inspect));
        let inside = |method| Request::Inspected {
            host: &limited,
            port: 443,
            method,
            path: "/x",
        };
        assert!(
            policy
                .decide(&inside("GET"))
                .is_ok_and(|route| route.inspect)
        );
        assert!(matches!(
            policy.decide(&inside("DELETE")),
            Err(Denied::Method { ref method, .. }) if method == "DELETE"
        ));
        // A method of the shell's own making is not written down: it could
        // carry a value, and the refusal is recorded before any scan.
        assert!(matches!(
            policy.decide(&inside("SECRETVALUE1234")),
            Err(Denied::Method { ref method, .. }) if method == "an unusual method"
        ));
        // A request read in a tunnel never takes a route that did not ask
        // for inspection.
        let github = host("api.github.com");
        assert!(matches!(
            policy.decide(&Request::Inspected {
                host: &github,
                port: 443,
                method: "GET",
                path: "/"
            }),
            Err(Denied::Host { .. })
        ));
    }

    #[test]
    fn a_route_for_any_host_admits_every_name_on_its_ports_only() {
        let any = EgressPolicy {
            routes: vec![Route {
                any_host: true,
                ports: vec![80, 443],
                ..Route::default()
            }],
        };
        for name in ["example.com", "a.b.c.test", "localhost"] {
            let name = host(name);
            assert!(
                any.decide(&Request::Tunnel {
                    host: &name,
                    port: 443
                })
                .is_ok()
            );
            assert!(matches!(
                any.decide(&Request::Tunnel {
                    host: &name,
                    port: 22
                }),
                Err(Denied::Port { port: 22, .. })
            ));
        }
        // Without it, the same route admits no host at all.
        let none = EgressPolicy {
            routes: vec![Route {
                ports: vec![80, 443],
                ..Route::default()
            }],
        };
        let name = host("example.com");
        assert!(matches!(
            none.decide(&Request::Tunnel {
                host: &name,
                port: 443
            }),
            Err(Denied::Host { .. })
        ));
    }

    #[test]
    fn everything_else_is_refused_with_its_reason() {
        let policy = policy();
        let github = host("api.github.com");
        let evil = host("api.github.com.evil.net");
        let model = host("eu.model.test");
        let bare = host("model.test");
        assert!(matches!(
            policy.decide(&Request::Tunnel {
                host: &evil,
                port: 443
            }),
            Err(Denied::Host { .. })
        ));
        assert!(matches!(
            policy.decide(&Request::Tunnel {
                host: &github,
                port: 22
            }),
            Err(Denied::Port { port: 22, .. })
        ));
        assert!(matches!(
            policy.decide(&http(&bare, "POST", "/v1/chat/completions")),
            Err(Denied::Host { .. })
        ));
        assert!(matches!(
            policy.decide(&http(&model, "DELETE", "/v1/chat/completions")),
            Err(Denied::Method { .. })
        ));
        for path in ["/v1/chat", "/v1/chat/completionsX", "/admin", "/v1/models"] {
            assert!(
                matches!(
                    policy.decide(&http(&model, "POST", path)),
                    Err(Denied::Path { .. })
                ),
                "{path}"
            );
        }
        for path in [
            "/v1/chat/completions/../../admin",
            "/v1/chat/completions/%2e%2e/admin",
            "/v1/chat/completions/%2F..%2Fadmin",
            "/v1/chat/completions\\..\\admin",
            "//v1/chat/completions",
            "v1/chat/completions",
        ] {
            assert!(
                matches!(
                    policy.decide(&http(&model, "POST", path)),
                    Err(Denied::AmbiguousPath { .. })
                ),
                "{path}"
            );
        }
        // An exact path is that path only: not what is beneath it.
        let exact = host("exact.test");
        for path in [
            "/v1/chat/completions/chatcmpl-123",
            "/v1/chat/completions/",
            "/v1/chat",
        ] {
            assert!(
                matches!(
                    policy.decide(&http(&exact, "POST", path)),
                    Err(Denied::Path { .. })
                ),
                "{path}"
            );
        }
        assert!(matches!(
            policy.decide(&Request::Tunnel {
                host: &exact,
                port: 80
            }),
            Err(Denied::TunnelHidesRequest { .. })
        ));
        // A route that limits methods or paths cannot be tunnelled through.
        assert!(matches!(
            policy.decide(&Request::Tunnel {
                host: &model,
                port: 80
            }),
            Err(Denied::TunnelHidesRequest { .. })
        ));
        // Nor one the broker reads to originate TLS.
        assert!(matches!(
            policy.decide(&Request::Tunnel {
                host: &host("api.tls.test"),
                port: 443
            }),
            Err(Denied::TunnelHidesRequest { .. })
        ));
        assert!(matches!(
            EgressPolicy::default().decide(&Request::Tunnel {
                host: &github,
                port: 443
            }),
            Err(Denied::Host { .. })
        ));
    }
}
