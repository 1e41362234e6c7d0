//! Step 6, with `[browser] enabled`: the browser pool and its CDP service.
//! Each session's Chromium runs in a shell of its own
//! (`hardshell_shells::BrowserShells`), reaching out only through the
//! browser's broker (`[browser] allow`, the address guard with `[dangerous]
//! browser_internal` as its only exceptions); the edge serves the sessions
//! at `/cdp`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hardshell_audit::AuditLog;
use hardshell_browser::{BrowserPool, CdpService, PoolSettings, RelayLimits};
use hardshell_config::LoadedConfig;
use hardshell_egress::BrowserEgress;
use hardshell_shells::{BrowserLimits, BrowserShells};

use super::{Egress, ShellHost};

/// How long a fresh browser has to answer on its DevTools port (Chromium
/// answers in under a second here; a loaded machine takes longer).
const READY_WITHIN: Duration = Duration::from_secs(30);
/// The largest message a browser may send its client: a full-page
/// screenshot of a long page is tens of MiB of base64.
const MAX_BROWSER_MESSAGE_BYTES: usize = 64 << 20;

/// `[browser] cpu_percent` unset: every core this machine has (see the
/// key's documentation for why not `[shell]`'s one core).
fn every_core() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    u32::try_from(cores).unwrap_or(64).min(64) * 100
}

/// This machine's interface addresses as they are now (loopback aside,
/// which the guard refuses anyway). An address added later is not among
/// them: the guard then refuses it only by its class. Not listed, neither
/// the browser nor the modules start: their guards would lack the refusal
/// of the edge itself.
pub(super) fn own_addresses() -> anyhow::Result<Vec<std::net::IpAddr>> {
    let interfaces = nix::ifaddrs::getifaddrs().context(
        "listing this machine's addresses for the browser's and modules' brokers to refuse",
    )?;
    let mut own: Vec<std::net::IpAddr> = interfaces
        .filter_map(|interface| interface.address)
        .filter_map(|address| {
            address
                .as_sockaddr_in()
                .map(|v4| std::net::IpAddr::V4(v4.ip()))
                .or_else(|| {
                    address
                        .as_sockaddr_in6()
                        .map(|v6| std::net::IpAddr::V6(v6.ip()))
                })
        })
        .filter(|ip| !ip.is_loopback())
        .collect();
    own.sort_unstable();
    own.dedup();
    Ok(own)
}

/// The CDP service, when `[browser] enabled`.
pub fn build_browser(
    loaded: &LoadedConfig,
    host: &ShellHost,
    egress: &Egress,
    audit: &Arc<AuditLog>,
) -> anyhow::Result<Option<Arc<CdpService>>> {
    let config = &loaded.config;
    if !config.browser_runs() {
        return Ok(None);
    }
    let browser = &config.browser;
    let broker = hardshell_egress::browser_broker(
        BrowserEgress {
            allow: &browser.allow,
            allow_public: browser.allow_public,
            internal: &config.dangerous.browser_internal,
            own: &own_addresses()?,
        },
        egress.scanner.clone(),
        audit.clone(),
    )
    .context("building the browser's broker")?;
    let memory_bytes = browser.memory_mb << 20;
    let shells = BrowserShells::new(
        host.launcher.clone(),
        host.sockets.run_dir.join("browser"),
        &browser.chromium,
        Arc::new(broker),
        BrowserLimits {
            memory_bytes,
            cpu_percent: browser.cpu_percent.unwrap_or_else(every_core),
            // The profile, the cache and what renderers share: tmpfs pages
            // count against the shell's memory, so half of it at most.
            tmp_bytes: memory_bytes / 2,
        },
    )
    .context("preparing the browser shells' directory")?;
    let limits = RelayLimits {
        max_browser_message_bytes: MAX_BROWSER_MESSAGE_BYTES,
        max_pages: usize::try_from(browser.max_pages).unwrap_or(1),
        idle: browser.idle_timeout(),
        lifetime: browser.max_lifetime(),
        ..RelayLimits::default()
    };
    let pool = BrowserPool::new(
        Arc::new(shells),
        PoolSettings {
            max_instances: usize::try_from(browser.max_instances).unwrap_or(1),
            ready_within: READY_WITHIN,
            browser: limits.browser_config(),
        },
    );
    let service = CdpService::new(pool, limits, audit.clone())
        .context("loading the browser's CDP method policy")?;
    Ok(Some(Arc::new(service)))
}
