//! The Events API (api.slack.com/apis/events-api): Slack posts each event
//! to `/hooks/slack`, signed with the app's signing secret. The signature is
//! checked before a byte of the body is parsed; then a `url_verification`
//! is answered with its challenge, and an `event_callback` is taken once by
//! its `event_id` (Slack retries a delivery not answered within 3 s) and
//! handled in the background, in order. Interactions (a question's button
//! pressed) and slash commands come to the same route as signed forms,
//! checked the same way before a field of them is read.

use std::sync::Mutex;

use hardshell_secrets::SecretValue;
use http::Method;
use serde::Deserialize;

use super::events::{Callback, Inbox, Taken};
use super::interactive::{self, Form};
use crate::Platform;
use crate::verify;
use crate::webhook::{WebhookEndpoint, WebhookOutcome, WebhookRequest};

/// The longest challenge echoed back; Slack's are about 50 characters.
const MAX_CHALLENGE: usize = 128;

/// Slack's webhook route; made with [`super::SlackChannel::events`].
pub struct SlackEvents {
    signing_secret: SecretValue,
    inbox: Mutex<Inbox>,
}

impl std::fmt::Debug for SlackEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackEvents")
            .field("signing_secret", &self.signing_secret)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Challenge {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    challenge: Option<String>,
}

impl SlackEvents {
    pub(crate) fn new(signing_secret: SecretValue, inbox: Inbox) -> Self {
        Self {
            signing_secret,
            inbox: Mutex::new(inbox),
        }
    }
}

impl WebhookEndpoint for SlackEvents {
    fn platform(&self) -> Platform {
        Platform::Slack
    }

    fn path(&self) -> &'static str {
        "/hooks/slack"
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::POST]
    }

    fn receive(&self, request: WebhookRequest<'_>) -> WebhookOutcome {
        let header = |name: &str| request.headers.get(name).map(|v| v.as_bytes());
        let verified = match verify::slack::verify(
            header(verify::slack::SIGNATURE_HEADER),
            header(verify::slack::TIMESTAMP_HEADER),
            request.body,
            &self.signing_secret,
            request.now,
        ) {
            Ok(verified) => verified,
            Err(e) => return WebhookOutcome::Rejected(e),
        };
        let body = verified.body();
        if is_form(request.headers) {
            return self.take_form(body);
        }
        let Ok(head) = serde_json::from_slice::<Challenge>(body) else {
            return WebhookOutcome::Malformed;
        };
        if head.kind == "url_verification" {
            return match head.challenge {
                Some(challenge) if is_challenge(&challenge) => WebhookOutcome::Accepted {
                    body: challenge.into_bytes(),
                },
                _ => WebhookOutcome::Malformed,
            };
        }
        let Ok(callback) = serde_json::from_slice::<Callback>(body) else {
            return WebhookOutcome::Malformed;
        };
        let taken = match self.inbox.lock() {
            Ok(mut inbox) => inbox.take(callback),
            Err(_) => Taken::Dropped,
        };
        tracing::debug!(?taken, "slack: event delivery");
        answer(taken)
    }
}

impl SlackEvents {
    /// A verified form: an interaction (`payload=` its JSON) or a slash
    /// command (its fields). Either is answered at once with an empty 200,
    /// which Slack takes as the acknowledgement it waits 3 s for.
    fn take_form(&self, body: &[u8]) -> WebhookOutcome {
        let Some(form) = interactive::form(body) else {
            return WebhookOutcome::Malformed;
        };
        let taken = match self.inbox.lock() {
            Ok(mut inbox) => match form {
                Form::Interaction(payload) => inbox.take_interaction(&payload),
                Form::Command(fields) => inbox.take_slash_command(fields),
                Form::SslCheck => Taken::Ignored,
            },
            Err(_) => Taken::Dropped,
        };
        tracing::debug!(?taken, "slack: interaction delivery");
        answer(taken)
    }
}

fn answer(taken: Taken) -> WebhookOutcome {
    match taken {
        Taken::Duplicate => WebhookOutcome::Duplicate,
        Taken::Queued | Taken::Ignored | Taken::Dropped => {
            WebhookOutcome::Accepted { body: Vec::new() }
        }
    }
}

/// Whether the body is a form (`application/x-www-form-urlencoded`, as
/// Slack posts interactions and slash commands) rather than JSON (events).
fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// A challenge we echo: letters, digits, `_` and `-`, bounded.
fn is_challenge(text: &str) -> bool {
    (1..=MAX_CHALLENGE).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
