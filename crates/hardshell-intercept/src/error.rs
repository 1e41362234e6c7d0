//! Errors of the egress CA: each names the step, none carries key material.

use hardshell_secrets::SecretsError;

/// What went wrong making, loading or using the egress CA.
///
/// `rcgen::Error` is kept as the source: its variants describe formats and
/// algorithms, never key bytes.
#[derive(Debug, thiserror::Error)]
pub enum InterceptError {
    #[error(
        "install id {id:?} is not valid: use 1 to 40 of A-Z a-z 0-9 . _ - (it goes into the CA's name)"
    )]
    InstallId { id: String },
    #[error("generating a key pair failed")]
    GenerateKey(#[source] rcgen::Error),
    #[error("the system's random source failed")]
    Random,
    #[error("building the CA certificate failed")]
    SelfSign(#[source] rcgen::Error),
    #[error("reading the CA certificate back failed")]
    ReadCertificate(#[source] rcgen::Error),
    #[error("issuing a leaf certificate for {host} failed")]
    IssueLeaf {
        host: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("the leaf key for {host} was refused by rustls")]
    LeafKey { host: String },
    #[error(
        "the stored egress CA (secret {name}) is unreadable: {reason}; `hardshell egress ca rotate` replaces it"
    )]
    StoredCa { name: String, reason: &'static str },
    #[error("no leaf certificate: {0}")]
    Refused(#[from] crate::LeafRefused),
    #[error("the egress CA's secret store")]
    Store(#[from] SecretsError),
}
