//! The certificate the edge serves, and the TLS-ALPN-01 challenge certificates
//! shown only to an ACME server's validation connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use hardshell_vocabulary::text::ACME_TLS_ALPN;

/// When a certificate starts and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

struct Current {
    key: Arc<CertifiedKey>,
    validity: Validity,
    domains: Vec<String>,
}

/// The edge's certificates, shared between its TLS and the [`crate::Issuer`].
#[derive(Default)]
pub struct Certificates {
    current: Mutex<Option<Current>>,
    /// Challenge certificates by the domain being proven.
    challenges: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01 key authorizations by their token.
    http01: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("current", &self.validity())
            .finish_non_exhaustive()
    }
}

impl Certificates {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The certificate being served's validity and domains, if there is one.
    pub fn validity(&self) -> Option<(Validity, Vec<String>)> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|c| (c.validity, c.domains.clone()))
    }

    pub(crate) fn install(&self, key: Arc<CertifiedKey>, validity: Validity, domains: Vec<String>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(Current {
            key,
            validity,
            domains,
        });
    }

    pub(crate) fn add_challenge(&self, domain: String, key: Arc<CertifiedKey>) {
        self.challenges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(domain.to_ascii_lowercase(), key);
    }

    pub(crate) fn add_http01(&self, token: String, key_authorization: String) {
        self.http01
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token, key_authorization);
    }

    /// The key authorization for an HTTP-01 `token` while its order is pending.
    pub fn http01_answer(&self, token: &str) -> Option<String> {
        self.http01
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned()
    }

    pub(crate) fn clear_challenges(&self) {
        self.challenges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.http01
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut offered = hello.alpn().into_iter().flatten();
        // A validation connection offers acme-tls/1 and nothing else; it gets
        // the challenge certificate for the name it asks for, or none.
        let validation = offered.next() == Some(ACME_TLS_ALPN) && offered.next().is_none();
        if validation {
            let name = hello.server_name()?.to_ascii_lowercase();
            return self
                .challenges
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&name)
                .cloned();
        }
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|c| Arc::clone(&c.key))
    }
}
