//! The egress brokers: for `exec` shells, `[egress]` turned into the
//! broker's policy, bindings and leak scan; for the agent's shell, the model
//! providers (see [`models`]). Each is served on a unix socket that the
//! shell's forwarder relays to; every decision goes to the audit log.

mod models;
mod stored;

pub use models::{AgentProvider, LlmGateway, LlmGatewayError, ProviderRoute};
pub use stored::StoredSecrets;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use hardshell_audit::AuditEvent;
use hardshell_audit::event::{
    EgressDecided, EgressDecision, SecretLeakBlocked, SecretMisdirected, ShellKind,
};
use hardshell_broker::address::AddressGuard;
use hardshell_broker::host::HostPattern;
use hardshell_broker::policy::{EgressPolicy, Route};
use hardshell_broker::proxy::{Broker, Event};
use hardshell_broker::secrets::{Binding, LeakScanner, LiveScanner};
use hardshell_config::{Cidr, Egress};
use zeroize::Zeroizing;

use crate::state::EdgeState;
use crate::{Edge, EdgeError};

/// What the broker for exec shells is made of.
pub struct EgressSetup<'a> {
    pub config: &'a Egress,
    /// `[dangerous] egress_internal`.
    pub internal: &'a [Cidr],
    /// The values of the secrets `[egress.secrets]` binds, by name.
    pub secrets: BTreeMap<String, Zeroizing<String>>,
    /// Every secret the edge holds, whose value must not leave a shell
    /// (the store's as it is now, see [`LiveScanner`]).
    pub scanner: Arc<LiveScanner>,
}

impl std::fmt::Debug for EgressSetup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressSetup")
            .field("config", &self.config)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn patterns(hosts: &[String], key: &str) -> Result<Vec<HostPattern>, EdgeError> {
    hosts
        .iter()
        .map(|host| HostPattern::parse(host).map_err(|e| EdgeError::Setup(format!("{key}: {e}"))))
        .collect()
}

impl Edge {
    /// The exec shells' broker, its decisions audited. Each run serves it on
    /// a listener of its own (see [`crate::SandboxShell::with_egress`]), so
    /// each command's connections and bytes are counted alone.
    pub fn exec_broker(&self, setup: EgressSetup<'_>) -> Result<Broker, EdgeError> {
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
                tls: route.tls,
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
        let values = Arc::new(setup.secrets);
        let state = self.state.clone();
        let tls = hardshell_broker::proxy::platform_tls()
            .map_err(|e| EdgeError::Setup(format!("the broker's TLS roots: {e}")))?;
        let mut broker = Broker::new(
            EgressPolicy { routes },
            AddressGuard::new(setup.internal.iter().map(|c| c.0).collect()),
            tls,
        );
        broker.bindings = bindings;
        broker.secret = Arc::new(move |name| values.get(name).map(|v| v.to_string()));
        broker.scanner = setup.scanner;
        broker.events = Arc::new(move |event| audit(&state, ShellKind::Exec, event));
        broker.limits.max_bytes = setup.config.max_mb.saturating_mul(1 << 20);
        Ok(broker)
    }
}

/// The agent shell's broker: the model providers' routes, each swapping its
/// provider's key placeholder in the key header only, the gateway as the tap, and a scan for every secret the
/// edge holds; `internal` are the address guard's exceptions (`[dangerous]
/// egress_internal`). Decisions are dropped (the edge's variant audits them).
pub fn model_broker(
    gateway: &LlmGateway,
    internal: &[Cidr],
    scanned: &[(String, Zeroizing<Vec<u8>>)],
) -> Result<Broker, EdgeError> {
    let models::Routes { routes, keys } = gateway
        .routes()
        .map_err(|e| EdgeError::Setup(e.to_string()))?;
    let tls = hardshell_broker::proxy::platform_tls()
        .map_err(|e| EdgeError::Setup(format!("the broker's TLS roots: {e}")))?;
    let guard = AddressGuard::new(internal.iter().map(|c| c.0).collect());
    // No bindings: each model route names the one key it swaps, and where.
    let mut broker = Broker::new(EgressPolicy { routes }, guard, tls);
    // The providers' keys too, wherever they came from: the agent holds
    // none, so one it sends was obtained to be smuggled out.
    let mut watched: Vec<(String, Vec<u8>)> = scanned
        .iter()
        .map(|(name, value)| (name.clone(), value.to_vec()))
        .collect();
    watched.extend(
        keys.iter()
            .map(|(name, value)| (name.clone(), value.as_bytes().to_vec())),
    );
    broker.scanner = LiveScanner::fixed(LeakScanner::new(&watched));
    broker.secret = Arc::new(move |name| keys.get(name).map(|v| v.to_string()));
    broker.tap = Some(Arc::new(gateway.tap()));
    // The agent's shell lives as long as the edge, so a byte budget would
    // run out for good; what it spends on models is the spend cap's to bound.
    broker.limits.max_bytes = u64::MAX;
    Ok(broker)
}

/// Binds `socket` (replacing a stale one, mode 0600) and serves `broker` on it.
fn serve_on(socket: &Path, broker: Broker) -> Result<(), EdgeError> {
    let listener = crate::control::bind_socket(socket)
        .map_err(|e| EdgeError::Setup(format!("{}: {e}", socket.display())))?;
    tokio::spawn(Arc::new(broker).serve(listener));
    Ok(())
}

impl Edge {
    /// Serves the agent shell's broker (see [`model_broker`]) on `socket`,
    /// its decisions audited, its leak scan `scanner` (which must hold the
    /// providers' keys too).
    pub fn serve_model_broker(
        &self,
        socket: &Path,
        gateway: &LlmGateway,
        internal: &[Cidr],
        scanner: Arc<LiveScanner>,
    ) -> Result<(), EdgeError> {
        let mut broker = model_broker(gateway, internal, &[])?;
        broker.scanner = scanner;
        let state = self.state.clone();
        broker.events = Arc::new(move |event| audit(&state, ShellKind::Agent, event));
        serve_on(socket, broker)
    }
}

impl Edge {
    /// Cuts the values `scanner` looks for out of every exec command's
    /// output before the agent (and so the model and the user) sees it.
    pub fn redact_exec_output(&self, scanner: Arc<LiveScanner>) {
        if let Some(exec) = &self.state.exec {
            exec.redact_with(scanner);
        }
    }
}

fn audit(state: &EdgeState, shell: ShellKind, event: Event) {
    state.audit.note(record(shell, event));
}

/// The audit record (and warning log line) for one broker decision. None is
/// dropped: a placeholder whose name is no valid secret name (a shell can
/// write `hs-secret:9X`) is recorded as a refusal without the name, with
/// port 0 (the secret events carry no port).
fn record(shell: ShellKind, event: Event) -> AuditEvent {
    let refused = |host, port, reason: String| {
        AuditEvent::EgressDecided(EgressDecided {
            shell,
            host,
            port,
            decision: EgressDecision::Refused,
            reason: Some(reason),
        })
    };
    match event {
        Event::Allowed { host, port, .. } => AuditEvent::EgressDecided(EgressDecided {
            shell,
            host,
            port,
            decision: EgressDecision::Allowed,
            reason: None,
        }),
        Event::Denied { host, port, reason } => {
            tracing::warn!(%host, port, %reason, "egress refused");
            refused(host, port, reason)
        }
        // The shell wrote a misdirected placeholder's name (any length); it
        // is logged and recorded only when it is a secret name.
        Event::SecretMisdirected { name, host } => {
            match hardshell_secrets::SecretName::parse(&name) {
                Ok(secret) => {
                    tracing::warn!(%secret, %host, "a secret's placeholder was aimed at a host it is not bound to");
                    AuditEvent::SecretMisdirected(SecretMisdirected {
                        shell,
                        secret,
                        host,
                    })
                }
                Err(_) => {
                    tracing::warn!(%host, "a placeholder naming no valid secret was refused");
                    refused(host, 0, "a placeholder that names no valid secret".into())
                }
            }
        }
        Event::LeakBlocked { name, host } => {
            tracing::warn!(secret = %name, %host, "a request carried a secret's value; refused");
            match hardshell_secrets::SecretName::parse(&name) {
                Ok(secret) => AuditEvent::SecretLeakBlocked(SecretLeakBlocked {
                    shell,
                    secret,
                    host,
                }),
                Err(_) => refused(host, 0, "it carried a secret's value".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_broker_decision_becomes_a_record_even_a_placeholder_with_a_bad_name() {
        let misdirected = |name: &str| {
            record(
                ShellKind::Exec,
                Event::SecretMisdirected {
                    name: name.to_owned(),
                    host: "evil.test".to_owned(),
                },
            )
        };
        assert!(matches!(
            misdirected("GITHUB_TOKEN"),
            AuditEvent::SecretMisdirected(SecretMisdirected { ref host, .. }) if host == "evil.test"
        ));
        // A shell chooses the name; one no secret could have is still a
        // refusal on record, without the name.
        for bad in ["9ABC", "_X", &"A".repeat(65)] {
            match misdirected(bad) {
                AuditEvent::EgressDecided(EgressDecided {
                    decision,
                    reason,
                    host,
                    ..
                }) => {
                    assert_eq!(decision, EgressDecision::Refused);
                    assert_eq!(host, "evil.test");
                    assert!(!reason.unwrap_or_default().contains(bad));
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
