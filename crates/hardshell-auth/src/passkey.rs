//! The owner's passkeys (WebAuthn): the embedded default login.
//!
//! The owner registers a passkey through a one-time setup link that `hardshell up`
//! prints (or an admin issues), and afterwards logs in with it. There is one user,
//! the owner, who may hold several passkeys (one per device).
//!
//! Both ceremonies have two halves. The first returns options for the browser and a
//! state the caller (the gateway) keeps server-side; the second takes that state and
//! the browser's answer. A state lives [`CEREMONY_TTL`] and finishes at most once.
//!
//! Layout under the scope this is given:
//! - `owner`: the owner's WebAuthn user handle, fixed at the first registration;
//! - `credentials/<passkey id>`: one record per registered passkey;
//! - `setup/<sha-256 of a setup token>`: see [`SetupLinks`];
//! - `ceremonies/<started>-<id>`: markers of finished logins, so none finishes twice.

mod ceremony;
mod credentials;
mod error;
mod relying_party;
mod setup;

use chrono::{DateTime, Utc};
use hardshell_storage::{ObjectKey, Scope, StorageError};
use webauthn_rs::Webauthn;

use crate::{Method, Principal};

/// The browser-facing WebAuthn types, re-exported so the gateway need not depend
/// on the WebAuthn library itself: options go to the browser as JSON, credentials
/// come back as JSON.
pub use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, WebauthnError,
};

pub use ceremony::{CEREMONY_TTL, LoginState, RegistrationState};
pub use credentials::{PasskeyId, PasskeyInfo, Removal};
pub use error::PasskeyError;
pub use relying_party::RelyingParty;
pub use setup::{SETUP_LINK_TTL, SetupLinks, SetupToken};

use ceremony::CeremonyLog;
use credentials::Credentials;

/// The subject of every principal a passkey login yields.
pub const OWNER_SUBJECT: &str = "owner";

/// The owner's passkeys and the two WebAuthn ceremonies over them.
#[derive(Debug, Clone)]
pub struct OwnerPasskeys {
    webauthn: Webauthn,
    credentials: Credentials,
    setup: SetupLinks,
    ceremonies: CeremonyLog,
}

impl OwnerPasskeys {
    /// Passkeys kept under `scope` (the edge gives it `auth/passkey`), for the
    /// relying party `relying_party`.
    pub fn new(scope: &Scope, relying_party: &RelyingParty) -> Result<Self, PasskeyError> {
        let child = |name: &str| -> Result<Scope, PasskeyError> {
            let key = ObjectKey::segment(name).map_err(StorageError::from)?;
            Ok(scope.scope(&key)?)
        };
        Ok(Self {
            webauthn: relying_party.webauthn()?,
            credentials: Credentials::new(scope.clone(), child("credentials")?),
            setup: SetupLinks::new(child("setup")?),
            ceremonies: CeremonyLog::new(child("ceremonies")?),
        })
    }

    /// The setup links that admit a new passkey; an admin may issue one at any time.
    pub fn setup_links(&self) -> &SetupLinks {
        &self.setup
    }

    /// A setup link for the first `hardshell up`: issued only while the owner has
    /// no passkey at all, `None` otherwise.
    pub async fn issue_first_setup_link(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<SetupToken>, PasskeyError> {
        if !self.credentials.list().await?.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.setup.issue(now).await?))
    }

    /// First half of registering a passkey: checks the setup token (without using
    /// it up, so a cancelled browser prompt does not burn the link) and returns the
    /// options for `navigator.credentials.create` and the state to keep server-side.
    pub async fn start_registration(
        &self,
        token: &SetupToken,
        now: DateTime<Utc>,
    ) -> Result<(CreationChallengeResponse, RegistrationState), PasskeyError> {
        let setup = self.setup.check(token, now).await?;
        let user_id = self.credentials.owner_user_id().await?;
        let existing = self.credentials.credential_ids().await?;
        let (options, inner) = self
            .webauthn
            .start_passkey_registration(user_id, OWNER_SUBJECT, "Owner", Some(existing))
            .map_err(PasskeyError::StartRegistration)?;
        let state = RegistrationState::new(inner, setup, now)?;
        Ok((options, state))
    }

    /// Second half: verifies the browser's answer against `state`, uses up the setup
    /// token (compare-and-swap: of two registrations with one link, one wins) and
    /// stores the new passkey.
    pub async fn finish_registration(
        &self,
        state: &RegistrationState,
        credential: &RegisterPublicKeyCredential,
        now: DateTime<Utc>,
    ) -> Result<PasskeyInfo, PasskeyError> {
        state.check_live(now)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(credential, state.inner())
            .map_err(PasskeyError::VerifyRegistration)?;
        let id = PasskeyId::of(passkey.cred_id());
        // Refuse a duplicate before spending the link on it.
        self.credentials.ensure_absent(&id).await?;
        self.setup.redeem_digest(state.setup(), now).await?;
        let info = self.credentials.create(passkey, now).await?;
        tracing::info!(passkey = %info.id, "owner passkey registered");
        Ok(info)
    }

    /// First half of a login: options for `navigator.credentials.get` listing the
    /// owner's passkeys, and the state to keep server-side.
    pub async fn start_login(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(RequestChallengeResponse, LoginState), PasskeyError> {
        let passkeys = self.credentials.passkeys().await?;
        if passkeys.is_empty() {
            return Err(PasskeyError::NoPasskeys);
        }
        let (options, inner) = self
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(PasskeyError::StartLogin)?;
        Ok((options, LoginState::new(inner, now)?))
    }

    /// Second half: verifies the signature, origin and challenge, makes sure this
    /// state was never finished before, and advances the passkey's signature
    /// counter (refusing one that went backwards: a cloned authenticator).
    pub async fn finish_login(
        &self,
        state: &LoginState,
        credential: &PublicKeyCredential,
        now: DateTime<Utc>,
    ) -> Result<Principal, PasskeyError> {
        state.check_live(now)?;
        let presented = PasskeyId::of(&credential.raw_id);
        let result = self
            .webauthn
            .finish_passkey_authentication(credential, state.inner())
            .map_err(|source| match source {
                WebauthnError::CredentialNotFound => PasskeyError::UnknownCredential {
                    passkey: presented.clone(),
                },
                WebauthnError::CredentialPossibleCompromise => PasskeyError::CounterRegressed {
                    passkey: presented.clone(),
                },
                source => PasskeyError::VerifyLogin(source),
            })?;
        self.ceremonies.finish(state.ceremony()).await?;
        let id = self.credentials.record_use(&result, now).await?;
        tracing::info!(passkey = %id, "owner logged in with a passkey");
        Ok(Principal {
            subject: OWNER_SUBJECT.to_owned(),
            email: None,
            groups: Vec::new(),
            method: Method::Passkey,
            authenticated_at: now,
            token_scope: None,
        })
    }

    /// The owner's passkeys, oldest first.
    pub async fn list(&self) -> Result<Vec<PasskeyInfo>, PasskeyError> {
        self.credentials.list().await
    }

    /// Removes a passkey (a lost device); `Ok(false)` if there was none with that id.
    /// Removing the last one locks the owner out until a new setup link is issued.
    pub async fn remove(&self, id: &PasskeyId) -> Result<bool, PasskeyError> {
        self.credentials.remove(id).await
    }

    /// Removes a passkey unless it is the owner's last one, taking turns with
    /// every other such removal (on this machine or another), so that
    /// between them they never remove the last one.
    pub async fn remove_unless_last(
        &self,
        id: &PasskeyId,
        now: DateTime<Utc>,
    ) -> Result<Removal, PasskeyError> {
        self.credentials.remove_unless_last(id, now).await
    }

    /// Deletes expired setup links and the markers of ceremonies too old to finish
    /// anyway. Safe to run at any time, from any replica.
    pub async fn prune(&self, now: DateTime<Utc>) -> Result<(), PasskeyError> {
        self.setup.prune(now).await?;
        self.ceremonies.prune(now).await
    }
}
