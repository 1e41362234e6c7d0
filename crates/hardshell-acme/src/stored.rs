//! What the issuer keeps in hardshell's storage (sealed like every object):
//! the ACME account for each directory, and the certificate with its key.

use serde::{Deserialize, Serialize};

/// `acme/account`: the account's credentials (its private key among them)
/// and the directory they belong to.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredAccount {
    pub directory: String,
    pub credentials: instant_acme::AccountCredentials,
}

/// `acme/certificate`: the chain (PEM, leaf first), its private key (PKCS#8
/// PEM) and the domains it was ordered for.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredCertificate {
    pub domains: Vec<String>,
    pub chain_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for StoredCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCertificate")
            .field("domains", &self.domains)
            .finish_non_exhaustive()
    }
}
