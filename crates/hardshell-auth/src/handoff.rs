//! The login hand-over to an origin of the upstream's own: a browser logged in
//! on the edge's host gets a session on the upstream's host without the edge's
//! cookie ever being sent there.
//!
//! The edge mints a code for the owner's session ([`Handoffs::mint`]) and sends
//! the browser with it to the upstream's host, where the code is redeemed
//! ([`Handoffs::redeem`]) for a child session of the same chain, valid only on
//! that host (see `sessions/origin.rs`). A code is single-use (taken with a
//! compare-and-swap, as every pending state is), lives [`HANDOFF_TTL`], and is
//! bound to the host it was minted for: redeemed anywhere else it is spent and
//! refused. It is also bound to the browser that asked for it, by a `state` the
//! upstream's host gave that browser in a cookie of its own when it sent it to
//! the edge (OAuth's `state`): without it, someone with an account of their own
//! could mint a code and have the owner's browser redeem it, signing the owner
//! into the upstream as them (login CSRF).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Principal;
use crate::ephemeral::{Ephemeral, EphemeralError};
use crate::random;
use crate::sessions::{SessionError, SessionHandle, SessionId, SessionStore};

/// How long a hand-over code can be redeemed: a redirect's round trip, with
/// room for a slow network, and far below anything worth stealing it for.
pub const HANDOFF_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// Storing or taking the code (including: unknown, used or expired).
    #[error(transparent)]
    Pending(#[from] EphemeralError),
    #[error("the hand-over code was minted for another host")]
    OtherHost,
    #[error("the hand-over code was minted for another browser")]
    OtherBrowser,
    /// Starting the child session, including: the owner's session ended.
    #[error("the hand-over's session: {0}")]
    Session(#[from] SessionError),
}

impl HandoffError {
    /// Whether the failure is the presented code's (refuse the browser) rather
    /// than the edge's (answer 5xx).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            HandoffError::Pending(EphemeralError::Missing { .. })
                | HandoffError::OtherHost
                | HandoffError::OtherBrowser
                | HandoffError::Session(SessionError::Unknown | SessionError::Expired)
        )
    }
}

/// A hand-over code as the browser carries it. Redacted in `Debug`.
pub struct HandoffCode(Zeroizing<String>);

impl HandoffCode {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for HandoffCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandoffCode(<redacted>)")
    }
}

/// What a code stands for until it is redeemed.
#[derive(Serialize, Deserialize)]
struct Pending {
    principal: Principal,
    handle: String,
    expires_at: DateTime<Utc>,
    audience: String,
    state: String,
}

/// A session started on the upstream's host.
#[derive(Debug)]
pub struct HandedOver {
    pub id: SessionId,
    pub expires_at: DateTime<Utc>,
    /// Whose it is, and how they logged in: for the audit record.
    pub subject: String,
    pub method: crate::Method,
}

/// Hand-over codes (a kind of pending state) and the sessions they become.
#[derive(Debug, Clone)]
pub struct Handoffs {
    pending: Ephemeral,
    sessions: SessionStore,
}

impl Handoffs {
    /// `pending` holds the codes (its own kind, bounded as every pending state
    /// is); `sessions` is where the edge's sessions are.
    pub fn new(pending: Ephemeral, sessions: SessionStore) -> Self {
        Self { pending, sessions }
    }

    /// The pending codes, for the edge's timer to sweep.
    pub fn pending(&self) -> &Ephemeral {
        &self.pending
    }

    /// A code for the owner's session chain `handle` (ending at `expires_at`)
    /// to redeem on `audience`, the upstream's host, by the browser holding
    /// `state`.
    pub async fn mint(
        &self,
        principal: &Principal,
        handle: &SessionHandle,
        expires_at: DateTime<Utc>,
        audience: &str,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<HandoffCode, HandoffError> {
        let pending = Pending {
            principal: principal.clone(),
            handle: handle.as_str().to_owned(),
            expires_at,
            audience: audience.to_owned(),
            state: state.to_owned(),
        };
        let id = self.pending.put(&pending, HANDOFF_TTL, now).await?;
        Ok(HandoffCode(Zeroizing::new(id)))
    }

    /// Spends `code` on `audience` (the host it was presented on), presented
    /// by the browser holding `state` (`None` when it holds none), and starts
    /// the child session it stands for.
    pub async fn redeem(
        &self,
        code: &str,
        audience: &str,
        state: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<HandedOver, HandoffError> {
        let pending: Pending = self.pending.take(code, now).await?;
        if !pending.audience.eq_ignore_ascii_case(audience) {
            return Err(HandoffError::OtherHost);
        }
        if !state.is_some_and(|state| random::same(state, &pending.state)) {
            return Err(HandoffError::OtherBrowser);
        }
        let (subject, method) = (pending.principal.subject.clone(), pending.principal.method);
        let id = self
            .sessions
            .create_child(
                &SessionHandle::from_stored(pending.handle),
                pending.principal,
                &pending.audience,
                pending.expires_at,
                now,
            )
            .await?;
        Ok(HandedOver {
            id,
            expires_at: pending.expires_at,
            subject,
            method,
        })
    }
}

#[cfg(test)]
mod tests;
