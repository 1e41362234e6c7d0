//! The browser's broker: where a browser session's pages may load from.
//! Every page, sub-resource and redirect a session's Chromium fetches is a
//! request to it (the shell's network namespace has no other way out), so
//! each is decided here and recorded with the shell kind `browser`.

use std::sync::Arc;

use hardshell_audit::AuditLog;
use hardshell_audit::event::ShellKind;
use hardshell_broker::address::AddressGuard;
use hardshell_broker::policy::{EgressPolicy, Route};
use hardshell_broker::proxy::Broker;
use hardshell_broker::secrets::LiveScanner;
use hardshell_config::Cidr;
use hardshell_vocabulary::HostPattern;

use crate::EgressError;

/// What one browser session may move through its broker: enough for a
/// long session of heavy pages, and an end to one that streams without
/// end (a session also ends at `[browser] max_lifetime_secs`).
const SESSION_MAX_BYTES: u64 = 4 << 30;

/// Where the browser may go: `[browser]`'s hosts, or every public host.
#[derive(Debug, Clone, Copy)]
pub struct BrowserEgress<'a> {
    /// `[browser] allow`.
    pub allow: &'a [HostPattern],
    /// `[browser] allow_public`: any host name; the address guard still
    /// refuses every internal address.
    pub allow_public: bool,
    /// `[dangerous] browser_internal`: the guard's exceptions, for the
    /// browser alone.
    pub internal: &'a [Cidr],
    /// This machine's own addresses (its interfaces'), refused before any
    /// exception: the edge itself, on a public address, is not a web site.
    pub own: &'a [std::net::IpAddr],
}

/// The browser's broker: one route (the allowed hosts, or any, on ports 80
/// and 443) whose `CONNECT` tunnels stay raw (the browser speaks TLS to the
/// site itself and trusts no certificate of hardshell's), the address guard
/// on every address, `scanner` over every plain-HTTP request (so a page
/// cannot carry a secret hardshell holds out in a URL or a form), and every
/// decision recorded in `audit`. Each session serves it on a listener of its
/// own.
pub fn browser_broker(
    egress: BrowserEgress<'_>,
    scanner: Arc<LiveScanner>,
    audit: Arc<AuditLog>,
) -> Result<Broker, EgressError> {
    let route = Route {
        hosts: egress.allow.to_vec(),
        any_host: egress.allow_public,
        ports: vec![80, 443],
        ..Route::default()
    };
    let tls = hardshell_broker::proxy::platform_tls().map_err(EgressError::TlsRoots)?;
    let guard = AddressGuard::new(egress.internal.iter().map(|cidr| cidr.0).collect())
        .refusing_own(egress.own.to_vec());
    let mut broker = Broker::new(
        EgressPolicy {
            routes: vec![route],
        },
        guard,
        tls,
    );
    broker.scanner = scanner;
    broker.events = Arc::new(move |event| crate::brokers::note(&audit, ShellKind::Browser, event));
    broker.limits.max_bytes = SESSION_MAX_BYTES;
    Ok(broker)
}
