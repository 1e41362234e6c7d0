use chrono::{DateTime, Utc};
use hardshell_storage::StorageError;
use webauthn_rs::prelude::WebauthnError;

use super::PasskeyId;

/// Why a passkey operation failed. Messages name the failing step and a
/// non-secret handle (a setup token's short id, a passkey id), never a token.
///
/// The gateway answers every refusal ([`PasskeyError::is_refusal`]) with one fixed
/// body, so a client learns nothing about which check it failed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("relying party {field} {value:?}: {reason}")]
    InvalidRelyingParty {
        field: &'static str,
        value: String,
        reason: &'static str,
    },

    #[error("the setup token is not in the form hardshell issues")]
    MalformedSetupToken,
    #[error("setup token {token} is not known")]
    UnknownSetupToken { token: String },
    #[error("setup token {token} expired at {expired_at}")]
    ExpiredSetupToken {
        token: String,
        expired_at: DateTime<Utc>,
    },
    #[error("setup token {token} was already used")]
    UsedSetupToken { token: String },

    #[error("{kind} ceremony {ceremony} started at {started_at} is no longer live")]
    CeremonyExpired {
        kind: &'static str,
        ceremony: String,
        started_at: DateTime<Utc>,
    },
    #[error("login ceremony {ceremony} was already finished")]
    CeremonyReplayed { ceremony: String },

    #[error("start passkey registration: {0}")]
    StartRegistration(#[source] WebauthnError),
    #[error("verify passkey registration: {0}")]
    VerifyRegistration(#[source] WebauthnError),
    #[error("passkey {passkey} is already registered")]
    DuplicatePasskey { passkey: PasskeyId },

    #[error("the owner has no passkey yet; open the setup link first")]
    NoPasskeys,
    #[error("start passkey login: {0}")]
    StartLogin(#[source] WebauthnError),
    #[error("verify passkey login: {0}")]
    VerifyLogin(#[source] WebauthnError),
    #[error("passkey {passkey} is not registered")]
    UnknownCredential { passkey: PasskeyId },
    #[error(
        "passkey {passkey}'s signature counter did not advance: a cloned authenticator, or a stale answer"
    )]
    CounterRegressed { passkey: PasskeyId },

    #[error("stored object {key} is not readable: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("the system random number generator failed: {0}")]
    Random(String),
    #[error("passkey store: {0}")]
    Storage(#[from] StorageError),
}

impl PasskeyError {
    /// Whether the request was refused (bad token, failed ceremony, replay) rather
    /// than failing inside hardshell. Refusals are the client's doing: answer 401
    /// (or 403) and audit; do not retry. Everything else is a 500.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            PasskeyError::MalformedSetupToken
                | PasskeyError::UnknownSetupToken { .. }
                | PasskeyError::ExpiredSetupToken { .. }
                | PasskeyError::UsedSetupToken { .. }
                | PasskeyError::CeremonyExpired { .. }
                | PasskeyError::CeremonyReplayed { .. }
                | PasskeyError::VerifyRegistration(_)
                | PasskeyError::DuplicatePasskey { .. }
                | PasskeyError::NoPasskeys
                | PasskeyError::VerifyLogin(_)
                | PasskeyError::UnknownCredential { .. }
                | PasskeyError::CounterRegressed { .. }
        )
    }
}
