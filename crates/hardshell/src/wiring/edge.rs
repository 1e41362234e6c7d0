//! Steps 3 and 7: where the edge may listen, its own credentials, and the
//! edge itself, bound.

use std::path::PathBuf;

use anyhow::Context as _;
use hardshell_auth::ClientSecret;
use hardshell_auth::identity::IdentitySigner;
use hardshell_config::LoadedConfig;
use hardshell_edge::{Edge, EdgeSetup, ListenAddr, Protection};
use hardshell_egress::Credentials;
use hardshell_exec::ExecService;

use super::Storage;

/// What runs behind the edge, besides its own routes.
pub struct Behind {
    /// Where the agent answers, when it runs.
    pub agent_socket: Option<PathBuf>,
    /// The agent's `exec` tool, when it runs.
    pub exec: Option<ExecService>,
    /// The browser's CDP service, with `[browser] enabled`.
    pub browser: Option<std::sync::Arc<hardshell_browser::CdpService>>,
    /// The workload's health, when `[workload]` runs one.
    pub workload_status: Option<tokio::sync::watch::Receiver<hardshell_workload::Status>>,
    /// The chat channels' webhook routes.
    pub webhooks: Vec<std::sync::Arc<dyn hardshell_channels::webhook::WebhookEndpoint>>,
    /// What the admin page shows of the modules and the workload.
    pub parts: Vec<hardshell_edge::Part>,
}

/// The edge, bound and not serving yet, and the URL it listens on.
pub struct Listening {
    pub edge: Edge,
    pub url: String,
    /// The agent's turns for the chat channels, when the agent runs.
    pub turns: Option<hardshell_edge::ChatTurns>,
    /// With `[edge.tls] acme`, the issuer keeping the certificate current
    /// runs until this is dropped or set.
    pub acme: Option<tokio::sync::watch::Sender<bool>>,
}

/// With `[edge.tls] acme`: the certificates the listener serves, the stored
/// one installed at once, and the issuer started, which orders one when
/// there is none and renews it ahead of its end. A failure to get one is
/// the issuer's to report and retry: the edge starts regardless, since the
/// TLS-ALPN-01 challenge is answered on its own listener.
async fn acme_certificates(
    loaded: &LoadedConfig,
    storage: &Storage,
) -> anyhow::Result<(
    Option<std::sync::Arc<hardshell_acme::Certificates>>,
    Option<tokio::sync::watch::Sender<bool>>,
)> {
    let Some(acme) = loaded
        .config
        .edge
        .tls
        .as_ref()
        .and_then(|t| t.acme.as_ref())
    else {
        return Ok((None, None));
    };
    let certificates = hardshell_acme::Certificates::new();
    let settings = hardshell_acme::AcmeSettings {
        email: acme.email.clone(),
        domains: acme.domains.clone(),
        directory: acme.directory.clone(),
        directory_root: acme
            .directory_ca
            .as_ref()
            .map(|p| loaded.base_dir().join(p)),
        challenge: match acme.challenge {
            hardshell_config::AcmeChallenge::TlsAlpn01 => hardshell_acme::Challenge::TlsAlpn01,
            hardshell_config::AcmeChallenge::Http01 => hardshell_acme::Challenge::Http01,
        },
    };
    let scope = storage
        .store
        .root()
        .scope(&hardshell_storage::ObjectKey::parse("acme")?)?;
    let issuer = hardshell_acme::Issuer::new(settings, scope, std::sync::Arc::clone(&certificates));
    match issuer.load().await {
        Ok(true) => tracing::info!("serving the stored ACME certificate"),
        Ok(false) => tracing::info!("no stored certificate for these names: ordering one"),
        Err(e) => {
            tracing::error!(error = %e, "the stored ACME certificate could not be used; ordering one")
        }
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    if let Some(http_listen) = acme.http_listen {
        let listener = tokio::net::TcpListener::bind(http_listen)
            .await
            .with_context(|| format!("listening on {http_listen} (edge.tls.acme.http_listen)"))?;
        let origin = loaded.public_url.origin().ascii_serialization();
        tracing::info!(%http_listen, %origin, "plain-HTTP listener: HTTP-01 answers, redirects to https");
        tokio::spawn(hardshell_acme::http01::serve(
            listener,
            std::sync::Arc::clone(&certificates),
            origin,
            stopped.clone(),
        ));
    }
    tokio::spawn(issuer.run(stopped));
    Ok((Some(certificates), Some(stop)))
}

/// Where the edge listens: loopback, or any address with a [`Protection`]
/// proof (a login method plus TLS or a trusted proxy).
pub fn listen_addr(loaded: &LoadedConfig) -> anyhow::Result<ListenAddr> {
    let listen_on = loaded.config.edge.listen;
    Ok(match Protection::check(loaded) {
        Some(proof) if !listen_on.ip().is_loopback() => ListenAddr::protected(listen_on, proof),
        _ => ListenAddr::loopback(listen_on)?,
    })
}

/// The OIDC client secret, resolved through `credentials`, when
/// `[access.oidc]` is set.
pub async fn oidc_client_secret(
    loaded: &LoadedConfig,
    credentials: &mut Credentials<'_>,
) -> anyhow::Result<Option<ClientSecret>> {
    Ok(match &loaded.config.access.oidc {
        Some(oidc) => Some(ClientSecret::new(
            credentials
                .resolve("access.oidc.client_secret", &oidc.client_secret)
                .await?,
        )),
        None => None,
    })
}

/// Builds the edge (policy, stores, logins, TLS, rate limits, routes, the
/// exec service) and binds it to `listen`, with what runs `behind` it.
pub async fn bind_edge(
    loaded: &LoadedConfig,
    storage: &Storage,
    signer: IdentitySigner,
    listen: ListenAddr,
    oidc_client_secret: Option<ClientSecret>,
    behind: Behind,
) -> anyhow::Result<Listening> {
    let Behind {
        agent_socket,
        exec,
        browser,
        workload_status,
        webhooks,
        parts,
    } = behind;
    let (certificates, acme) = acme_certificates(loaded, storage).await?;
    let state = EdgeSetup {
        config: loaded,
        store: &storage.store,
        signer,
        audit: storage.audit.clone(),
        oidc_client_secret,
        cloudflare_certs_url: None,
        agent_socket,
        exec,
        browser,
        workload_status,
        webhooks,
        certificates: certificates
            .map(|c| c as std::sync::Arc<dyn rustls::server::ResolvesServerCert>),
        parts,
    }
    .build()
    .await?;
    let turns = state.chat_turns();
    let edge = Edge::bind(listen, state).await?;
    let scheme = if loaded.config.edge.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(
        addr = %edge.local_addr(),
        public_url = %loaded.public_url,
        "edge listening on {scheme}://{}",
        edge.local_addr()
    );
    let url = format!("{scheme}://{}", edge.local_addr());
    Ok(Listening {
        edge,
        url,
        turns,
        acme,
    })
}

/// Prints the passkey setup link if no passkey exists yet.
pub async fn print_setup_link(edge: &Edge) -> anyhow::Result<()> {
    if let Some(link) = edge.first_setup_link().await? {
        // Printed, not logged: logs may be shipped elsewhere; this link is a
        // one-time credential for whoever opens it first.
        eprintln!();
        eprintln!(
            "  No owner passkey is registered yet. Open this link within 15 minutes to create one:"
        );
        eprintln!();
        eprintln!("    {}", link.as_str());
        eprintln!();
    }
    Ok(())
}
