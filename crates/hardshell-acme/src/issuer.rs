//! Ordering, proving, storing and renewing the edge's certificate.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hardshell_storage::{ObjectKey, Scope, StorageError};
use hardshell_vocabulary::text::log_line;
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use tokio::sync::watch;

use crate::certificates::{Certificates, Validity};
use crate::stored::{StoredAccount, StoredCertificate};

/// The longest a renewal starts before a certificate's end; a shorter-lived
/// certificate renews with a third of its life left.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often the certificate's end is looked at while nothing is due.
const CHECK_EVERY: Duration = Duration::from_secs(12 * 3600);
/// After a failure, the first wait before trying again; it doubles up to a day.
const RETRY_FIRST: Duration = Duration::from_secs(60);
const RETRY_MOST: Duration = Duration::from_secs(24 * 3600);
/// The shortest wait after a certificate was had: a server that issues one
/// already due is not asked again at once, and again.
const WAIT_LEAST: Duration = Duration::from_secs(10);
/// The most of what the ACME server said that a log line carries.
const LOGGED_MOST: usize = 1000;
/// How long an order may take to become ready, and then to be issued.
const ORDER_TIMEOUT: Duration = Duration::from_secs(120);

/// `[edge.tls] acme`, as the edge uses it.
#[derive(Debug, Clone)]
pub struct AcmeSettings {
    /// The account's contact (`mailto:` is added).
    pub email: String,
    /// The names the certificate is for, the first the one the edge is known by.
    pub domains: Vec<String>,
    /// The ACME directory URL.
    pub directory: String,
    /// A PEM root the directory's own HTTPS is checked against instead of the
    /// system's (a private ACME server's, or a test's).
    pub directory_root: Option<PathBuf>,
    /// How each name is proven.
    pub challenge: Challenge,
}

/// How a name is proven to the ACME server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// RFC 8737: a certificate shown on the edge's own listener (port 443).
    TlsAlpn01,
    /// RFC 8555 8.3: a token answered on the plain-HTTP listener (port 80).
    Http01,
}

/// Why a certificate could not be had, said so the owner can act on it.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("the stored ACME {0} cannot be read: {1}")]
    Stored(&'static str, String),
    #[error("the ACME server {directory}: {source}")]
    Server {
        directory: String,
        #[source]
        source: instant_acme::Error,
    },
    #[error("the ACME server offers no {1} challenge for {0}")]
    NoChallenge(String, &'static str),
    #[error("the authorization for {domain} is {status:?}, not pending or valid")]
    Authorization { domain: String, status: String },
    #[error("the ACME server did not accept the challenge for {domain}: {detail}")]
    ChallengeFailed { domain: String, detail: String },
    #[error("the order ended {0:?}, not ready to be issued")]
    Order(String),
    #[error("making the certificate request or challenge certificate: {0}")]
    Key(String),
    #[error("the issued certificate cannot be used: {0}")]
    Issued(String),
}

/// Orders, proves, stores and installs the edge's certificate.
pub struct Issuer {
    settings: AcmeSettings,
    store: Scope,
    certificates: Arc<Certificates>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("settings", &self.settings)
            .field("certificates", &self.certificates)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// `store` is the scope the account and certificate are kept under.
    pub fn new(settings: AcmeSettings, store: Scope, certificates: Arc<Certificates>) -> Self {
        Self {
            settings,
            store,
            certificates,
        }
    }

    fn server(&self, source: instant_acme::Error) -> AcmeError {
        AcmeError::Server {
            directory: self.settings.directory.clone(),
            source,
        }
    }

    /// Installs the stored certificate, if there is one; `true` if it is for
    /// the configured names. One for other names is served too until a new
    /// one is had (it still covers the names it has). Reaches no ACME server.
    pub async fn load(&self) -> Result<bool, AcmeError> {
        let Some(stored) = self.store.get(&key("certificate")).await? else {
            return Ok(false);
        };
        let stored: StoredCertificate = serde_json::from_slice(&stored.value)
            .map_err(|e| AcmeError::Stored("certificate", e.to_string()))?;
        let (key, validity) = certified(&stored.chain_pem, &stored.key_pem)?;
        let same = same_names(&stored.domains, &self.settings.domains);
        if !same {
            tracing::info!(
                stored = ?stored.domains,
                configured = ?self.settings.domains,
                "the stored certificate is for other names: it is served until a new one is had"
            );
        }
        self.certificates
            .install(key, validity, stored.domains.clone());
        Ok(same)
    }

    /// How long until the current certificate is due for renewal (zero when
    /// there is none, or it is for other names).
    pub fn due_in(&self, now: DateTime<Utc>) -> Duration {
        let Some((validity, domains)) = self.certificates.validity() else {
            return Duration::ZERO;
        };
        if !same_names(&domains, &self.settings.domains) {
            return Duration::ZERO;
        }
        let life = (validity.not_after - validity.not_before)
            .to_std()
            .unwrap_or_default();
        let before = RENEW_BEFORE.min(life / 3);
        let renew_at = validity.not_after - chrono::Duration::from_std(before).unwrap_or_default();
        (renew_at - now).to_std().unwrap_or(Duration::ZERO)
    }

    /// Orders a certificate for the configured names, proves each with the
    /// configured challenge, stores it and starts serving it.
    pub async fn issue(&self) -> Result<Validity, AcmeError> {
        let outcome = self.order().await;
        self.certificates.clear_challenges();
        let (chain_pem, key_pem) = outcome?;
        let (certified_key, validity) = certified(&chain_pem, &key_pem)?;
        let stored = StoredCertificate {
            domains: self.settings.domains.clone(),
            chain_pem,
            key_pem,
        };
        let bytes = zeroize::Zeroizing::new(
            serde_json::to_vec(&stored)
                .map_err(|e| AcmeError::Stored("certificate", e.to_string()))?,
        );
        self.store.put(&key("certificate"), &bytes).await?;
        self.certificates
            .install(certified_key, validity, self.settings.domains.clone());
        Ok(validity)
    }

    async fn account(&self) -> Result<Account, AcmeError> {
        let builder = || match &self.settings.directory_root {
            Some(root) => Account::builder_with_root(root),
            None => Account::builder(),
        };
        if let Some(stored) = self.store.get(&key("account")).await? {
            let stored: StoredAccount = serde_json::from_slice(&stored.value)
                .map_err(|e| AcmeError::Stored("account", e.to_string()))?;
            if stored.directory == self.settings.directory {
                return builder()
                    .map_err(|e| self.server(e))?
                    .from_credentials(stored.credentials)
                    .await
                    .map_err(|e| self.server(e));
            }
        }
        let contact = format!("mailto:{}", self.settings.email);
        let (account, credentials) = builder()
            .map_err(|e| self.server(e))?
            .create(
                &NewAccount {
                    contact: &[&contact],
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.settings.directory.clone(),
                None,
            )
            .await
            .map_err(|e| self.server(e))?;
        let stored = StoredAccount {
            directory: self.settings.directory.clone(),
            credentials,
        };
        let bytes = zeroize::Zeroizing::new(
            serde_json::to_vec(&stored).map_err(|e| AcmeError::Stored("account", e.to_string()))?,
        );
        self.store.put(&key("account"), &bytes).await?;
        tracing::info!(directory = %self.settings.directory, "ACME account created");
        Ok(account)
    }

    /// The chain and key, both PEM.
    async fn order(&self) -> Result<(String, String), AcmeError> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self
            .settings
            .domains
            .iter()
            .map(|d| Identifier::Dns(d.clone()))
            .collect();
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|e| self.server(e))?;
        let mut challenges = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(|e| self.server(e))?;
            let domain = authorization.identifier().to_string();
            match authorization.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => {
                    return Err(AcmeError::Authorization {
                        domain,
                        status: format!("{other:?}"),
                    });
                }
            }
            let (kind, name) = match self.settings.challenge {
                Challenge::TlsAlpn01 => (ChallengeType::TlsAlpn01, "tls-alpn-01"),
                Challenge::Http01 => (ChallengeType::Http01, "http-01"),
            };
            let mut challenge = authorization
                .challenge(kind)
                .ok_or_else(|| AcmeError::NoChallenge(domain.clone(), name))?;
            let key_authorization = challenge.key_authorization();
            match self.settings.challenge {
                Challenge::TlsAlpn01 => {
                    let proof =
                        challenge_certificate(&domain, key_authorization.digest().as_ref())?;
                    self.certificates.add_challenge(domain.clone(), proof);
                }
                Challenge::Http01 => self.certificates.add_http01(
                    challenge.token.clone(),
                    key_authorization.as_str().to_owned(),
                ),
            }
            tracing::info!(%domain, challenge = name, "proving a name to the ACME server");
            challenge.set_ready().await.map_err(|e| self.server(e))?;
            challenges.push(domain);
        }
        let retries = RetryPolicy::new().timeout(ORDER_TIMEOUT);
        let status = match order.poll_ready(&retries).await {
            Ok(status) => status,
            Err(instant_acme::Error::Api(problem)) => {
                return Err(self.failed_challenge(&mut order, problem.to_string()).await);
            }
            Err(e) => return Err(self.server(e)),
        };
        if status != OrderStatus::Ready {
            return Err(self
                .failed_challenge(&mut order, format!("the order is {status:?}"))
                .await);
        }
        let key = KeyPair::generate().map_err(|e| AcmeError::Key(e.to_string()))?;
        let mut params = CertificateParams::new(self.settings.domains.clone())
            .map_err(|e| AcmeError::Key(e.to_string()))?;
        params.distinguished_name = DistinguishedName::new();
        let request = params
            .serialize_request(&key)
            .map_err(|e| AcmeError::Key(e.to_string()))?;
        order
            .finalize_csr(request.der())
            .await
            .map_err(|e| self.server(e))?;
        let chain = order
            .poll_certificate(&retries)
            .await
            .map_err(|e| self.server(e))?;
        tracing::info!(domains = ?self.settings.domains, challenges = challenges.len(), "certificate issued");
        Ok((chain, key.serialize_pem()))
    }

    /// The first challenge the server says failed, and why, in its words.
    async fn failed_challenge(
        &self,
        order: &mut instant_acme::Order,
        fallback: String,
    ) -> AcmeError {
        let mut authorizations = order.authorizations();
        while let Some(Ok(authorization)) = authorizations.next().await {
            let domain = authorization.identifier().to_string();
            for challenge in &authorization.challenges {
                if let Some(problem) = &challenge.error {
                    return AcmeError::ChallengeFailed {
                        domain,
                        detail: problem.to_string(),
                    };
                }
            }
        }
        AcmeError::Order(fallback)
    }

    /// Keeps the certificate current until `stop` turns true: issues when
    /// there is none or it is due, and after a failure tries again later,
    /// the current certificate served meanwhile.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut retry = RETRY_FIRST;
        loop {
            let due = self.due_in(Utc::now());
            let wait = if due.is_zero() {
                match self.issue().await {
                    Ok(validity) => {
                        retry = RETRY_FIRST;
                        tracing::info!(not_after = %validity.not_after, "serving the new certificate");
                        self.due_in(Utc::now()).clamp(WAIT_LEAST, CHECK_EVERY)
                    }
                    Err(e) => {
                        let serving = self.certificates.validity().map(|(v, _)| v.not_after);
                        // The server's words, escaped: they come from the network.
                        tracing::error!(
                            error = %log_line(&e.to_string(), LOGGED_MOST),
                            serving_until = ?serving,
                            retry_in_secs = retry.as_secs(),
                            "getting a certificate from the ACME server failed; the edge keeps serving its current one"
                        );
                        let wait = retry;
                        retry = (retry * 2).min(RETRY_MOST);
                        wait
                    }
                }
            } else {
                due.min(CHECK_EVERY)
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    }
}

/// The stored certificate's chain (PEM), if there is one: for `doctor`.
pub async fn stored_chain(store: &Scope) -> Result<Option<String>, AcmeError> {
    let Some(stored) = store.get(&key("certificate")).await? else {
        return Ok(None);
    };
    let stored: StoredCertificate = serde_json::from_slice(&stored.value)
        .map_err(|e| AcmeError::Stored("certificate", e.to_string()))?;
    Ok(Some(stored.chain_pem))
}

fn key(name: &str) -> ObjectKey {
    // Constant names, valid by construction.
    #[allow(clippy::expect_used)]
    ObjectKey::parse(name).expect("a valid object key")
}

fn same_names(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<String> = a.iter().map(|d| d.to_ascii_lowercase()).collect();
    let mut b: Vec<String> = b.iter().map(|d| d.to_ascii_lowercase()).collect();
    a.sort();
    b.sort();
    a == b
}

/// The RFC 8737 certificate for one name: self-signed, the name its only
/// subject alternative name, the key authorization's SHA-256 in the critical
/// acmeIdentifier extension.
fn challenge_certificate(domain: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, AcmeError> {
    let key = KeyPair::generate().map_err(|e| AcmeError::Key(e.to_string()))?;
    let mut params = CertificateParams::new(vec![domain.to_owned()])
        .map_err(|e| AcmeError::Key(e.to_string()))?;
    params.distinguished_name = DistinguishedName::new();
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let certificate = params
        .self_signed(&key)
        .map_err(|e| AcmeError::Key(e.to_string()))?;
    let der =
        PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| AcmeError::Key(e.to_string()))?;
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der)
        .map_err(|e| AcmeError::Key(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![certificate.der().clone()],
        signer,
    )))
}

/// The chain and key made usable by the edge's TLS, and the leaf's validity.
fn certified(chain_pem: &str, key_pem: &str) -> Result<(Arc<CertifiedKey>, Validity), AcmeError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| AcmeError::Issued(e.to_string()))?;
    let leaf = chain
        .first()
        .ok_or_else(|| AcmeError::Issued("no certificate in the chain".to_owned()))?;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(leaf).map_err(|e| AcmeError::Issued(e.to_string()))?;
    let time = |t: x509_parser::time::ASN1Time| {
        DateTime::from_timestamp(t.timestamp(), 0)
            .ok_or_else(|| AcmeError::Issued("a validity time out of range".to_owned()))
    };
    let validity = Validity {
        not_before: time(parsed.validity().not_before)?,
        not_after: time(parsed.validity().not_after)?,
    };
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| AcmeError::Issued(format!("its key: {e}")))?;
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| AcmeError::Issued(format!("its key: {e}")))?;
    Ok((Arc::new(CertifiedKey::new(chain, signer)), validity))
}
