//! Announcing revocations to connections that outlive a request.
//!
//! A request is authenticated once, when it arrives. A WebSocket (or any long
//! stream) opened with a session or a token would otherwise keep running after
//! that session is logged out or the token revoked. The stores announce every
//! revocation they make on a [`RevocationFeed`]; whoever holds such a
//! connection takes a [`RevocationWatch`] for the credential that opened it
//! and closes the connection when [`RevocationWatch::ended`] completes.
//!
//! Only revocations made through this process's stores are announced. One made
//! by another process (the CLI, another replica) is not heard here; a holder
//! that must also end those re-checks the credential on a timer.

use tokio::sync::broadcast;

use crate::sessions::SessionHandle;

/// Announcements kept for watchers that are behind. A watcher that falls
/// further behind cannot tell whether its credential was among those it
/// missed, and ends (fails closed).
const BACKLOG: usize = 256;

/// A credential that ended before its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// A session chain (logout, or an admin ending it), by its handle.
    Session(SessionHandle),
    /// An API token, by its id (the 16 hex digits of `hs_tok_<id>_...`).
    Token(String),
    /// A device certificate, by its serial (hex).
    Device(String),
}

/// Where revocations are announced. Cheap to clone; every clone announces to
/// the same watchers.
#[derive(Debug, Clone)]
pub struct RevocationFeed {
    sender: broadcast::Sender<Revoked>,
}

impl Default for RevocationFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl RevocationFeed {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(BACKLOG);
        Self { sender }
    }

    /// Tells every current watcher that `revoked` has ended.
    pub fn announce(&self, revoked: Revoked) {
        // No watcher is not an error: nothing is open with any credential.
        let _ = self.sender.send(revoked);
    }

    /// A watch for one credential, from now on. Take it before the connection
    /// is handed over, so no revocation falls between the check and the watch.
    pub fn watch(&self, credential: Revoked) -> RevocationWatch {
        RevocationWatch {
            receiver: self.sender.subscribe(),
            credential,
        }
    }
}

/// Waits for one credential's revocation.
#[derive(Debug)]
pub struct RevocationWatch {
    receiver: broadcast::Receiver<Revoked>,
    credential: Revoked,
}

impl RevocationWatch {
    /// Completes when the credential is revoked, or when announcements were
    /// missed (the watcher fell more than the backlog behind) and it might
    /// have been. Never completes while neither happens.
    pub async fn ended(&mut self) {
        loop {
            match self.receiver.recv().await {
                Ok(revoked) if revoked == self.credential => return,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                // Every feed is gone: nothing can announce any more, so the
                // credential can no longer be revoked through it.
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }

    /// The credential this watch is for.
    pub fn credential(&self) -> &Revoked {
        &self.credential
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use futures::FutureExt as _;

    /// Whether `watch` has ended, without waiting for it to.
    async fn has_ended(watch: &mut RevocationWatch) -> bool {
        watch.ended().now_or_never().is_some()
    }

    #[tokio::test]
    async fn a_watch_ends_with_its_credential_and_not_with_another() {
        let feed = RevocationFeed::new();
        let mut token = feed.watch(Revoked::Token("0123456789abcdef".into()));
        let mut device = feed.watch(Revoked::Device("7f01".into()));
        feed.announce(Revoked::Token("fedcba9876543210".into()));
        feed.announce(Revoked::Device("7f02".into()));
        assert!(!has_ended(&mut token).await);
        assert!(!has_ended(&mut device).await);
        feed.announce(Revoked::Token("0123456789abcdef".into()));
        assert!(has_ended(&mut token).await);
        assert!(!has_ended(&mut device).await);
    }

    #[tokio::test]
    async fn a_watcher_that_missed_announcements_ends() {
        let feed = RevocationFeed::new();
        let mut watch = feed.watch(Revoked::Token("0123456789abcdef".into()));
        for n in 0..=BACKLOG {
            feed.announce(Revoked::Device(format!("{n:x}")));
        }
        assert!(has_ended(&mut watch).await);
    }

    #[tokio::test]
    async fn a_revocation_before_the_watch_is_not_seen_by_it() {
        let feed = RevocationFeed::new();
        feed.announce(Revoked::Token("0123456789abcdef".into()));
        let mut watch = feed.watch(Revoked::Token("0123456789abcdef".into()));
        assert!(!has_ended(&mut watch).await);
    }
}
