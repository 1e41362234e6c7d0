//! The egress broker for `exec` shells: `[egress]` turned into the broker's
//! policy, bindings and leak scan, served on a unix socket that each exec
//! shell's forwarder relays to; every decision goes to the audit log.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use hardshell_audit::AuditEvent;
use hardshell_audit::event::{EgressDecided, SecretLeakBlocked, SecretMisdirected};
use hardshell_broker::address::AddressGuard;
use hardshell_broker::host::HostPattern;
use hardshell_broker::policy::{EgressPolicy, Route};
use hardshell_broker::proxy::{Broker, Event};
use hardshell_broker::secrets::{Binding, LeakScanner};
use hardshell_config::{Cidr, Egress};
use zeroize::Zeroizing;

use crate::state::EdgeState;
use crate::{Edge, GatewayError};

/// What the broker for exec shells is made of.
pub struct EgressSetup<'a> {
    pub config: &'a Egress,
    /// `[dangerous] egress_internal`.
    pub internal: &'a [Cidr],
    /// The values of the secrets `[egress.secrets]` binds, by name.
    pub secrets: BTreeMap<String, Zeroizing<String>>,
    /// Every secret the edge holds, whose value must not leave a shell.
    pub scanned: Vec<(String, Zeroizing<Vec<u8>>)>,
}

impl std::fmt::Debug for EgressSetup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressSetup")
            .field("config", &self.config)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn patterns(hosts: &[String], key: &str) -> Result<Vec<HostPattern>, GatewayError> {
    hosts
        .iter()
        .map(|host| {
            HostPattern::parse(host).map_err(|e| GatewayError::Setup(format!("{key}: {e}")))
        })
        .collect()
}

impl Edge {
    /// Serves the exec shells' broker on `socket` (replacing a stale one).
    pub fn serve_exec_broker(
        &self,
        socket: &Path,
        setup: EgressSetup<'_>,
    ) -> Result<(), GatewayError> {
        let mut routes = Vec::new();
        for (i, route) in setup.config.routes.iter().enumerate() {
            routes.push(Route {
                hosts: patterns(&route.hosts, &format!("egress.routes[{i}].hosts"))?,
                ports: route.ports.clone(),
                methods: route
                    .methods
                    .as_ref()
                    .map(|m| m.iter().map(|m| m.to_ascii_uppercase()).collect()),
                path_prefixes: route.paths.clone(),
                ..Route::default()
            });
        }
        let mut bindings = BTreeMap::new();
        for (name, binding) in &setup.config.secrets {
            bindings.insert(
                name.clone(),
                Binding {
                    hosts: patterns(&binding.hosts, &format!("egress.secrets.{name}.hosts"))?,
                    header: binding.header.clone(),
                },
            );
        }
        let scanner = LeakScanner::new(
            &setup
                .scanned
                .iter()
                .map(|(name, value)| (name.clone(), value.to_vec()))
                .collect::<Vec<_>>(),
        );
        let values = Arc::new(setup.secrets);
        let state = self.state.clone();
        let tls = hardshell_broker::proxy::platform_tls()
            .map_err(|e| GatewayError::Setup(format!("the broker's TLS roots: {e}")))?;
        let mut broker = Broker::new(
            EgressPolicy { routes },
            AddressGuard::new(setup.internal.iter().map(|c| c.0).collect()),
            tls,
        );
        broker.bindings = bindings;
        broker.secret = Arc::new(move |name| values.get(name).map(|v| v.to_string()));
        broker.scanner = scanner;
        broker.events = Arc::new(move |event| audit(&state, event));
        match std::fs::remove_file(socket) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(GatewayError::Setup(format!("{}: {e}", socket.display()))),
        }
        let listener = tokio::net::UnixListener::bind(socket)
            .map_err(|e| GatewayError::Setup(format!("{}: {e}", socket.display())))?;
        tokio::spawn(Arc::new(broker).serve(listener));
        Ok(())
    }
}

impl Edge {
    /// Cuts the values of `secrets` out of every exec command's output
    /// before the agent (and so the model and the user) sees it.
    pub fn redact_exec_output(&self, secrets: &[(String, Zeroizing<Vec<u8>>)]) {
        if let Some(exec) = &self.state.exec {
            let pairs: Vec<(String, Vec<u8>)> = secrets
                .iter()
                .map(|(name, value)| (name.clone(), value.to_vec()))
                .collect();
            exec.redact_with(LeakScanner::new(&pairs));
        }
    }
}

fn audit(state: &EdgeState, event: Event) {
    let shell = "exec".to_owned();
    let record = match event {
        Event::Allowed { host, port, .. } => AuditEvent::EgressDecided(EgressDecided {
            shell,
            host,
            port,
            decision: "allowed".into(),
            reason: None,
        }),
        Event::Denied { host, port, reason } => {
            tracing::warn!(%host, port, %reason, "egress refused");
            AuditEvent::EgressDecided(EgressDecided {
                shell,
                host,
                port,
                decision: "refused".into(),
                reason: Some(reason),
            })
        }
        Event::SecretMisdirected { name, host } => {
            let Ok(secret) = hardshell_secrets::SecretName::parse(&name) else {
                return;
            };
            tracing::warn!(secret = %name, %host, "a secret's placeholder was aimed at a host it is not bound to");
            AuditEvent::SecretMisdirected(SecretMisdirected {
                shell,
                secret,
                host,
            })
        }
        Event::LeakBlocked { name, host } => {
            let Ok(secret) = hardshell_secrets::SecretName::parse(&name) else {
                return;
            };
            tracing::warn!(secret = %name, %host, "a request carried a secret's value; refused");
            AuditEvent::SecretLeakBlocked(SecretLeakBlocked {
                shell,
                secret,
                host,
            })
        }
    };
    state.audit.note(record);
}
