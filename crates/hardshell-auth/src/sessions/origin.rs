//! Child sessions: what a login hands over to an origin of the upstream's own
//! (`app.agent.example.com` beside the edge's `agent.example.com`), so that the
//! edge's own cookie never has to be sent there.
//!
//! A child is a record of its parent's chain (the same handle), valid only on
//! the host it names (its `audience`), ending no later than its parent. It
//! ends with the chain: `revoke` and `revoke_handle` delete every record of
//! the handle, and announce the handle, which is what the edge watches for
//! both. A child created while its parent is being ended would outlive it, so
//! creation checks the parent after writing the child and undoes it if the
//! chain is gone (the two orders of a logout and a hand-over both end with no
//! child: the logout's deletion runs after the write, or the check after it).

use chrono::{DateTime, Utc};

use super::{
    SessionError, SessionHandle, SessionId, SessionRecord, SessionStore, listing, rotate_every,
};
use crate::Principal;
use crate::random;

impl SessionStore {
    /// Starts a child of the chain `parent` for `audience`, for `principal`,
    /// ending at `expires_at` (the parent's end). Refused with
    /// [`SessionError::Unknown`] when the parent chain has no live link.
    pub async fn create_child(
        &self,
        parent: &SessionHandle,
        principal: Principal,
        audience: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<SessionId, SessionError> {
        if now >= expires_at || !self.chain_is_live(parent, now).await? {
            return Err(SessionError::Unknown);
        }
        let record = SessionRecord {
            principal,
            created_at: now,
            expires_at,
            rotate_after: now + rotate_every(),
            replaced: None,
            predecessor: None,
            handle: Some(parent.as_str().to_owned()),
            audience: Some(audience.to_owned()),
        };
        let id = self.insert(&record).await?;
        if !self.chain_is_live(parent, now).await? {
            self.forget(&random::digest_hex(id.expose()), Some(&record))
                .await?;
            return Err(SessionError::Unknown);
        }
        Ok(id)
    }

    /// Whether a link of the edge's own session chain `handle` is live.
    async fn chain_is_live(
        &self,
        handle: &SessionHandle,
        now: DateTime<Utc>,
    ) -> Result<bool, SessionError> {
        Ok(self.records().await?.iter().any(|(digest, record)| {
            record.audience.is_none()
                && listing::handle_of(digest, record) == *handle
                && now < record.expires_at
                && record
                    .replaced
                    .as_ref()
                    .is_none_or(|replaced| now < replaced.grace_until)
        }))
    }

    /// Deletes every record left of the chain `handle`: its children on other
    /// origins, and any link `revoke`'s walk did not reach.
    pub(super) async fn end_children(&self, handle: &SessionHandle) -> Result<(), SessionError> {
        for (digest, record) in self.records().await? {
            if listing::handle_of(&digest, &record) == *handle {
                self.forget(&digest, Some(&record)).await?;
            }
        }
        Ok(())
    }
}
