//! What a request opened ends with the credentials it was granted on.
//!
//! A request is authenticated once, when it arrives; a WebSocket or a streamed
//! turn it opens would otherwise outlive a logout, a token's revocation or a
//! device's. The authentication phase takes a [`RevocationWatch`] for each
//! credential the request rests on (its session or token, and the device on its
//! connection) when it checks them, and the handler of a long-lived response
//! ends it when any of them is revoked ([`CredentialWatch::ended`],
//! [`CredentialWatch::cut`]). A credential this edge cannot revoke but that
//! expires (a Cloudflare Access JWT) ends it at its expiry instead.

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use hardshell_auth::RevocationWatch;

/// Watches on the credentials one request rests on.
#[derive(Debug, Default)]
pub(crate) struct CredentialWatch {
    watches: Vec<RevocationWatch>,
    /// The earliest expiry of a credential that is not revocable here.
    expires_at: Option<DateTime<Utc>>,
}

impl CredentialWatch {
    /// Adds a credential the request also rests on.
    pub fn add(&mut self, watch: RevocationWatch) {
        self.watches.push(watch);
    }

    /// Adds a credential the request also rests on that cannot be revoked
    /// here but ends at `at`.
    pub fn expire_at(&mut self, at: DateTime<Utc>) {
        self.expires_at = Some(self.expires_at.map_or(at, |earlier| earlier.min(at)));
    }

    /// Completes when any of the credentials is revoked (or may have been:
    /// see [`RevocationWatch::ended`]) or expires. Never completes for a
    /// request that rests on none.
    pub async fn ended(mut self) {
        let expiry = async {
            match self.expires_at {
                Some(at) => match (at - Utc::now()).to_std() {
                    Ok(left) if !left.is_zero() => tokio::time::sleep(left).await,
                    // Past already: at once.
                    _ => {}
                },
                None => std::future::pending().await,
            }
        };
        let revoked = async {
            if self.watches.is_empty() {
                return std::future::pending().await;
            }
            let endings = self.watches.iter_mut().map(|watch| Box::pin(watch.ended()));
            futures::future::select_all(endings).await;
        };
        tokio::select! {
            () = expiry => {}
            () = revoked => {}
        }
    }

    /// `stream`, ended early when any of the credentials is revoked.
    pub fn cut<S>(self, stream: S) -> impl Stream<Item = S::Item> + Send + 'static
    where
        S: Stream + Send + 'static,
    {
        stream.take_until(Box::pin(self.ended()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use futures::FutureExt as _;
    use hardshell_auth::{RevocationFeed, Revoked};

    fn token(id: &str) -> Revoked {
        Revoked::Token(id.into())
    }

    #[tokio::test]
    async fn a_watch_ends_with_any_of_its_credentials() {
        let feed = RevocationFeed::new();
        let mut watch = CredentialWatch::default();
        watch.add(feed.watch(token("0123456789abcdef")));
        watch.add(feed.watch(Revoked::Device("7f01".into())));
        let ended = tokio::spawn(watch.ended());
        feed.announce(Revoked::Device("7f01".into()));
        ended.await.unwrap();
    }

    #[tokio::test]
    async fn a_watch_does_not_end_with_another_credential() {
        let feed = RevocationFeed::new();
        let mut watch = CredentialWatch::default();
        watch.add(feed.watch(token("0123456789abcdef")));
        feed.announce(token("fedcba9876543210"));
        feed.announce(Revoked::Device("7f01".into()));
        assert!(watch.ended().now_or_never().is_none());
    }

    #[tokio::test]
    async fn a_watch_ends_at_the_expiry_of_a_credential_not_revocable_here() {
        let mut expired = CredentialWatch::default();
        expired.expire_at(Utc::now() - chrono::Duration::seconds(1));
        expired.expire_at(Utc::now() + chrono::Duration::hours(1));
        assert!(expired.ended().now_or_never().is_some());
        let mut later = CredentialWatch::default();
        later.expire_at(Utc::now() + chrono::Duration::hours(1));
        assert!(later.ended().now_or_never().is_none());
    }

    #[tokio::test]
    async fn a_request_on_no_revocable_credential_is_never_cut() {
        let feed = RevocationFeed::new();
        feed.announce(token("0123456789abcdef"));
        assert!(CredentialWatch::default().ended().now_or_never().is_none());
    }

    #[tokio::test]
    async fn a_stream_is_cut_when_its_credential_is_revoked() {
        let feed = RevocationFeed::new();
        let mut watch = CredentialWatch::default();
        watch.add(feed.watch(token("0123456789abcdef")));
        let (items, receiver) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        let mut cut = Box::pin(watch.cut(stream));
        items.send(1).unwrap();
        assert_eq!(cut.next().await, Some(1));
        feed.announce(token("0123456789abcdef"));
        // The sender is still open: only the revocation can end the stream.
        assert_eq!(cut.next().await, None);
        drop(items);
    }
}
