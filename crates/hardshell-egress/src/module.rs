//! A module's broker: its shell's one way out, holding nothing but what the
//! owner accepted for that module. Each host it may reach is a route of its
//! own (exact host, port, methods, path prefix); an `https` host is a `tls`
//! route, which the module's host process reaches with plain HTTP and the
//! broker speaks TLS onward, so placeholders are swapped and requests
//! checked in the clear. Each secret it may use is bound to the hosts it was
//! accepted for, and reaches no other: a module cannot use another module's
//! secret, nor send its own elsewhere. Every decision goes to the audit log.

use std::collections::BTreeMap;
use std::sync::Arc;

use hardshell_audit::AuditLog;
use hardshell_audit::event::ShellKind;
use hardshell_broker::address::AddressGuard;
use hardshell_broker::policy::{EgressPolicy, Placeholders, Route};
use hardshell_broker::proxy::{Broker, SecretLookup};
use hardshell_broker::secrets::{Binding, LiveScanner};
use hardshell_config::Cidr;
use hardshell_modules::{Capabilities, Scheme};
use hardshell_vocabulary::HostPattern;

use crate::EgressError;

/// The most bytes one module's shell may move through its broker while it
/// runs (both ways): far beyond what a tool call's bounded bodies need.
const MODULE_MAX_BYTES: u64 = 1 << 30;

/// What a module's broker is made of.
pub struct ModuleEgress<'a> {
    /// What the owner accepted.
    pub capabilities: &'a Capabilities,
    /// `[dangerous] egress_internal`: the address guard's exceptions.
    pub internal: &'a [Cidr],
    /// This machine's own addresses (its interfaces'), refused before any
    /// exception, as the browser's broker refuses them: the edge itself, or
    /// a service on the machine's public address, is not the public web a
    /// module may read.
    pub own: &'a [std::net::IpAddr],
    /// A bound secret's current value, by name (the secret store's).
    pub secret: SecretLookup,
}

impl std::fmt::Debug for ModuleEgress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleEgress")
            .field("capabilities", &self.capabilities)
            .field("internal", &self.internal)
            .finish_non_exhaustive()
    }
}

/// The module's broker (see the module).
pub fn module_broker(
    egress: ModuleEgress<'_>,
    scanner: Arc<LiveScanner>,
    audit: Arc<AuditLog>,
) -> Result<Broker, EgressError> {
    let capabilities = egress.capabilities;
    let pattern = |host: &hardshell_vocabulary::Host| {
        HostPattern::parse(host.as_str()).map_err(|e| EgressError::ModuleHost {
            host: host.as_str().to_owned(),
            detail: e.to_string(),
        })
    };
    let mut routes = Vec::new();
    for access in &capabilities.hosts {
        // The broker tells routes apart by host and port: an http and an
        // https grant of one host and port would be one route.
        let twin = capabilities.hosts.iter().any(|other| {
            other.host == access.host && other.port == access.port && other.scheme != access.scheme
        });
        if twin {
            return Err(EgressError::ModuleHost {
                host: access.host.as_str().to_owned(),
                detail: format!(
                    "it is granted as both http and https on port {}",
                    access.port
                ),
            });
        }
        routes.push(Route {
            hosts: vec![pattern(&access.host)?],
            ports: vec![access.port],
            methods: access
                .methods
                .as_ref()
                .map(|methods| methods.iter().map(ToString::to_string).collect()),
            path_prefixes: access.path_prefix.clone().map(|prefix| vec![prefix]),
            tls: access.scheme == Scheme::Https,
            ..Route::default()
        });
    }
    if capabilities.public_web {
        // After the module's own routes, which the broker tries first.
        // Read only, any host on its scheme's port; the address guard
        // refuses every internal address a name resolves to. Placeholders
        // are inert here: a secret bound to a granted host is swapped only
        // on that host's own route, within its path and method rules, never
        // on a read of the same host's other pages through these.
        let read = Some(vec!["GET".to_owned(), "HEAD".to_owned()]);
        for (port, tls) in [(443, true), (80, false)] {
            routes.push(Route {
                any_host: true,
                ports: vec![port],
                methods: read.clone(),
                tls,
                placeholders: Placeholders::Inert { key: None },
                ..Route::default()
            });
        }
    }
    let mut bindings: BTreeMap<String, Binding> = BTreeMap::new();
    for used in &capabilities.secrets {
        let binding = bindings
            .entry(used.name.to_string())
            .or_insert_with(|| Binding {
                hosts: Vec::new(),
                header: None,
            });
        binding.hosts.push(pattern(&used.host)?);
    }
    let tls = hardshell_broker::proxy::platform_tls().map_err(EgressError::TlsRoots)?;
    let mut broker = Broker::new(
        EgressPolicy { routes },
        AddressGuard::new(egress.internal.iter().map(|cidr| cidr.0).collect())
            .refusing_own(egress.own.to_vec()),
        tls,
    );
    broker.bindings = bindings;
    broker.secret = egress.secret;
    broker.scanner = scanner;
    broker.events = Arc::new(move |event| crate::brokers::note(&audit, ShellKind::Module, event));
    broker.limits.max_bytes = MODULE_MAX_BYTES;
    Ok(broker)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hardshell_broker::secrets::LeakScanner;

    async fn broker_for(capabilities: &str) -> Result<Broker, EgressError> {
        let capabilities: Capabilities = serde_json::from_str(capabilities).unwrap();
        let store = hardshell_testkit::TestStore::new().await;
        let audit = AuditLog::open(
            &store.scope("audit"),
            &hardshell_audit::LogId::new("module-broker-test").unwrap(),
            hardshell_audit::AuditOptions::default(),
        )
        .await
        .unwrap();
        module_broker(
            ModuleEgress {
                capabilities: &capabilities,
                internal: &[],
                own: &[],
                secret: Arc::new(|_| None),
            },
            LiveScanner::fixed(LeakScanner::new(&[])),
            Arc::new(audit),
        )
    }

    #[tokio::test]
    async fn each_host_is_a_route_of_its_own_and_https_ones_speak_tls() {
        let broker = broker_for(
            r#"{"memory_mb": 8, "timeout_ms": 100, "hosts": [
                {"host": "api.example", "port": 443, "scheme": "https", "methods": ["GET"], "path_prefix": "/v1/"},
                {"host": "plain.example", "port": 8080, "scheme": "http"}],
               "secrets": [{"name": "API_KEY", "host": "api.example"}]}"#,
        )
        .await
        .unwrap();
        let routes = &broker.policy.routes;
        assert_eq!(routes.len(), 2);
        assert!(routes[0].tls && !routes[1].tls);
        assert_eq!(routes[0].ports, [443]);
        assert_eq!(routes[0].methods.as_deref(), Some(&["GET".to_owned()][..]));
        assert_eq!(
            routes[0].path_prefixes.as_deref(),
            Some(&["/v1/".to_owned()][..])
        );
        assert_eq!(routes[1].ports, [8080]);
        let binding = &broker.bindings["API_KEY"];
        assert_eq!(binding.hosts.len(), 1);
        assert!(
            binding.hosts[0].matches(&hardshell_vocabulary::Host::parse("api.example").unwrap())
        );
        assert!(
            !binding.hosts[0].matches(&hardshell_vocabulary::Host::parse("plain.example").unwrap())
        );
    }

    #[tokio::test]
    async fn one_host_and_port_as_both_http_and_https_is_refused() {
        let refused = broker_for(
            r#"{"memory_mb": 8, "timeout_ms": 100, "hosts": [
                {"host": "api.example", "port": 8443, "scheme": "https"},
                {"host": "api.example", "port": 8443, "scheme": "http"}]}"#,
        )
        .await;
        assert!(
            matches!(refused, Err(EgressError::ModuleHost { .. })),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn the_public_web_is_read_only_after_the_modules_routes_and_never_carries_a_secret() {
        use hardshell_broker::policy::Request;
        use hardshell_vocabulary::Host;
        let broker = broker_for(
            r#"{"memory_mb": 8, "timeout_ms": 100, "public_web": true, "hosts": [
                {"host": "api.example", "methods": ["GET"], "path_prefix": "/v1/"}],
               "secrets": [{"name": "API_KEY", "host": "api.example"}]}"#,
        )
        .await
        .unwrap();
        let policy = &broker.policy;
        let (api, news) = (
            Host::parse("api.example").unwrap(),
            Host::parse("news.example").unwrap(),
        );
        let get = |host, port, method, path| {
            policy.decide(&Request::Http {
                host,
                port,
                method,
                path,
            })
        };
        // The granted host's own route, with its secret, for its paths.
        let own = get(&api, 443, "GET", "/v1/search").unwrap();
        assert!(!own.any_host && own.placeholders == Placeholders::Bound);
        // Any other page, of it or of any host: read only, secrets inert.
        for (host, path) in [(&api, "/admin"), (&news, "/today")] {
            let public = get(host, 443, "GET", path).unwrap();
            assert!(public.any_host && public.tls);
            assert_eq!(public.placeholders, Placeholders::Inert { key: None });
        }
        assert!(get(&news, 80, "HEAD", "/").is_ok_and(|route| !route.tls));
        assert!(get(&news, 443, "POST", "/form").is_err());
        assert!(get(&news, 8443, "GET", "/").is_err());
        // Without the capability, none of it.
        let narrow = broker_for(r#"{"memory_mb": 8, "timeout_ms": 100}"#)
            .await
            .unwrap();
        assert!(
            narrow
                .policy
                .decide(&Request::Http {
                    host: &news,
                    port: 443,
                    method: "GET",
                    path: "/"
                })
                .is_err()
        );
    }
}
