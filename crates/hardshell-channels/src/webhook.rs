//! A channel's webhook: the one kind of inbound route a channel may have,
//! each an exact path in the edge's route table with its platform's
//! verifier. The edge reads the body (bounded), hands the raw request here,
//! and answers what this says; a rejection is audited as `webhook_rejected`
//! and charged to the client's failed-authentication budget, like any bad
//! credential. An accepted delivery is answered at once (Slack wants an
//! answer within 3 s, WhatsApp retries slow ones) and handled after, in
//! the background, in order.

use chrono::{DateTime, Utc};
use http::{HeaderMap, Method};

use crate::Platform;
use crate::verify::VerifyError;

/// The raw request, as the edge received it.
#[derive(Debug)]
pub struct WebhookRequest<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    /// The body, read whole (at most [`crate::verify::MAX_BODY_BYTES`]).
    pub body: &'a [u8],
    pub now: DateTime<Utc>,
}

/// What the edge answers.
#[derive(Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Verified and taken: 200 with this body (of the endpoint's
    /// [`WebhookEndpoint::accepted_content_type`]), e.g. a subscription
    /// challenge, or empty.
    Accepted { body: Vec<u8> },
    /// Verified, but a delivery already taken (a platform's retry): 200, and
    /// nothing happens again.
    Duplicate,
    /// Verified, but not what the platform sends (bad JSON, another phone
    /// number's delivery): 400, nothing handled.
    Malformed,
    /// Verified, but the channel cannot take it now (its queue is full):
    /// 503, nothing remembered, so the platform's retry is taken.
    Busy,
    /// Failed its platform's verification: 401, audited and charged.
    Rejected(VerifyError),
}

/// One platform's webhook route.
pub trait WebhookEndpoint: Send + Sync + std::fmt::Debug {
    fn platform(&self) -> Platform;

    /// The route's exact path, under `/hooks/` (e.g. `/hooks/whatsapp`).
    fn path(&self) -> &'static str;

    /// The methods the route takes (a subscription handshake may be a GET).
    fn methods(&self) -> &'static [Method];

    /// The media type of an [`WebhookOutcome::Accepted`] body: text (a
    /// subscription challenge) unless the platform wants another, as
    /// Discord wants its interaction answers as `application/json`.
    fn accepted_content_type(&self) -> &'static str {
        "text/plain; charset=utf-8"
    }

    /// Verifies the request before anything of it is parsed; then takes the
    /// delivery (handled in the background) or refuses it.
    fn receive(&self, request: WebhookRequest<'_>) -> WebhookOutcome;
}
