//! The egress brokers: for `exec` shells, `[egress]` turned into the
//! broker's policy, bindings and leak scan; for the agent's shell, the model
//! providers (see [`crate::models`]). Each is served on a unix socket that
//! the shell's forwarder relays to; every decision goes to the audit log.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use hardshell_audit::event::{
    EgressCarriage, EgressDecided, EgressDecision, SecretLeakBlocked, SecretMisdirected, ShellKind,
};
use hardshell_audit::{AuditEvent, AuditLog};
use hardshell_broker::address::AddressGuard;
use hardshell_broker::policy::{EgressPolicy, Route};
use hardshell_broker::proxy::{Broker, Event};
use hardshell_broker::secrets::{Binding, LeakScanner, LiveScanner, NamedSecret};
use hardshell_config::{Cidr, LoadedConfig};
use hardshell_secrets::SecretStore;

use crate::{EgressError, LlmGateway, models};

/// The exec shells' broker from `[egress]`: its routes, the secrets
/// `[egress.secrets]` binds (their values from `secrets`), `scanner` as its
/// leak scan (every secret hardshell holds, see [`crate::StoredSecrets`]),
/// `[dangerous] egress_internal` as the address guard's exceptions, and its
/// decisions recorded in `audit`. `intercept` issues the certificates of
/// inspected routes' tunnels (the install's egress CA): without one, those
/// tunnels are refused. Each run serves it on a listener of its own, so each
/// command's connections and bytes are counted alone.
pub async fn exec_broker(
    loaded: &LoadedConfig,
    secrets: &SecretStore,
    scanner: Arc<LiveScanner>,
    audit: Arc<AuditLog>,
    intercept: Option<Arc<dyn rustls::server::ResolvesServerCert>>,
) -> Result<Broker, EgressError> {
    let config = &loaded.config.egress;
    // Current as the store changes: a rotated token is sent from the next
    // check on.
    let values =
        crate::BoundValues::follow(loaded, secrets, hardshell_broker::secrets::CHECK_EVERY).await?;
    let mut routes = Vec::new();
    for route in &config.routes {
        routes.push(Route {
            hosts: route.hosts.clone(),
            ports: route.ports.clone(),
            methods: route
                .methods
                .as_ref()
                .map(|m| m.iter().map(|m| m.to_ascii_uppercase()).collect()),
            path_prefixes: route.paths.clone(),
            tls: route.tls,
            inspect: config.inspects(route),
            ..Route::default()
        });
    }
    let mut bindings = BTreeMap::new();
    for (name, binding) in &config.secrets {
        bindings.insert(
            name.clone(),
            Binding {
                hosts: binding.hosts.clone(),
                header: binding.header.clone(),
            },
        );
    }
    let tls = hardshell_broker::proxy::platform_tls().map_err(EgressError::TlsRoots)?;
    let internal = &loaded.config.dangerous.egress_internal;
    let mut broker = Broker::new(
        EgressPolicy { routes },
        AddressGuard::new(internal.iter().map(|c| c.0).collect()),
        tls,
    );
    broker.bindings = bindings;
    broker.secret = Arc::new(move |name| values.get(name));
    broker.scanner = scanner;
    broker.events = Arc::new(move |event| note(&audit, ShellKind::Exec, event));
    broker.limits.max_bytes = config.max_mb.saturating_mul(1 << 20);
    broker.intercept = intercept;
    Ok(broker)
}

/// The agent shell's broker: the model providers' routes, each swapping its
/// provider's key placeholder in the key header only, the gateway as the
/// tap, and a scan for `scanned` and the providers' keys; `internal` are the
/// address guard's exceptions (`[dangerous] egress_internal`). Decisions
/// are dropped ([`serve_model_broker`] audits them).
pub fn model_broker(
    gateway: &LlmGateway,
    internal: &[Cidr],
    scanned: &[NamedSecret],
) -> Result<Broker, EgressError> {
    let models::Routes { routes, keys } = gateway.routes().map_err(EgressError::ModelRoutes)?;
    let tls = hardshell_broker::proxy::platform_tls().map_err(EgressError::TlsRoots)?;
    let guard = AddressGuard::new(internal.iter().map(|c| c.0).collect());
    // No bindings: each model route names the one key it swaps, and where.
    let mut broker = Broker::new(EgressPolicy { routes }, guard, tls);
    // The providers' keys too, wherever they came from: the agent holds
    // none, so one it sends was obtained to be smuggled out.
    let mut watched = scanned.to_vec();
    watched.extend(
        keys.iter()
            .map(|(name, value)| NamedSecret::new(name.as_str(), value.as_bytes().to_vec())),
    );
    broker.scanner = LiveScanner::fixed(LeakScanner::new(&watched));
    broker.secret = Arc::new(move |name| keys.get(name).map(|v| v.to_string()));
    broker.tap = Some(Arc::new(gateway.tap()));
    // The agent's shell lives as long as the edge, so a byte budget would
    // run out for good; what it spends on models is the spend cap's to bound.
    broker.limits.max_bytes = u64::MAX;
    Ok(broker)
}

/// Binds `socket` (replacing a stale one, mode 0600) and serves the agent
/// shell's broker (see [`model_broker`]) on it, its decisions recorded in
/// `audit`, its leak scan `scanner` (which must hold the providers' keys too).
pub fn serve_model_broker(
    socket: &Path,
    gateway: &LlmGateway,
    internal: &[Cidr],
    scanner: Arc<LiveScanner>,
    audit: Arc<AuditLog>,
) -> Result<(), EgressError> {
    let mut broker = model_broker(gateway, internal, &[])?;
    broker.scanner = scanner;
    broker.events = Arc::new(move |event| note(&audit, ShellKind::Agent, event));
    let listener =
        hardshell_broker::socket::bind(socket).map_err(|error| EgressError::BindBroker {
            socket: socket.to_owned(),
            error,
        })?;
    tokio::spawn(Arc::new(broker).serve(listener));
    Ok(())
}

/// Records one broker decision, buffered as the edge's request records are:
/// the broker does not wait for storage. One the log refuses (its backlog
/// is full) is logged as an error, as the edge's own.
pub(crate) fn note(audit: &AuditLog, shell: ShellKind, event: Event) {
    audit.note(record(shell, event));
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
            carriage: None,
        })
    };
    match event {
        Event::Allowed {
            host,
            port,
            tunnel,
            inspected,
        } => AuditEvent::EgressDecided(EgressDecided {
            shell,
            host,
            port,
            decision: EgressDecision::Allowed,
            reason: None,
            carriage: Some(match (tunnel, inspected) {
                (false, false) => EgressCarriage::Request,
                (true, true) => EgressCarriage::InspectedTunnel,
                (false, true) => EgressCarriage::InspectedRequest,
                (true, false) => EgressCarriage::RawTunnel,
            }),
        }),
        // A browser's refusals are its pages' own (trackers, Chromium's
        // update and sign-in hosts): recorded, and logged at debug only.
        Event::Denied { host, port, reason } if shell == ShellKind::Browser => {
            tracing::debug!(%host, port, %reason, "browser egress refused");
            refused(host, port, reason)
        }
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
