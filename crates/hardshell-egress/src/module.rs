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
use hardshell_broker::policy::{EgressPolicy, Route};
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
        AddressGuard::new(egress.internal.iter().map(|cidr| cidr.0).collect()),
        tls,
    );
    broker.bindings = bindings;
    broker.secret = egress.secret;
    broker.scanner = scanner;
    broker.events = Arc::new(move |event| crate::brokers::note(&audit, ShellKind::Module, event));
    broker.limits.max_bytes = MODULE_MAX_BYTES;
    Ok(broker)
}
