//! Reading the Bot API's answers: bounded in size, mapped from the
//! documented `{ok, result | description, error_code, parameters}` envelope
//! onto [`TelegramError`], every text from the network cleaned first.

use crate::network::ReadError;

use bytes::Bytes;
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ConflictCause, TelegramError, clean};
use crate::telegram::types::Update;

/// The longest wait a 429 is trusted with, so that a wrong answer cannot stall
/// the channel for days.
const MAX_RETRY_AFTER_SECS: u64 = 3600;

#[derive(Deserialize)]
struct Success<T> {
    ok: bool,
    result: Option<T>,
}

#[derive(Deserialize, Default)]
struct Failure {
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize, Default)]
struct Parameters {
    retry_after: Option<u64>,
}

/// The `result` of a method's answer, or the error its status and
/// description say.
pub(super) async fn result<T: DeserializeOwned>(
    response: reqwest::Response,
    limit: u64,
    token: &str,
) -> Result<T, TelegramError> {
    let status = response.status();
    let body = read_bounded(response, limit, token).await?;
    if !status.is_success() {
        // A failure's body is only a hint: a proxy's HTML page, or the
        // emulator's plain "not found", still maps by its status.
        let failure: Failure = serde_json::from_slice(&body).unwrap_or_default();
        return Err(failed(status, failure, token));
    }
    let success: Success<T> = serde_json::from_slice(&body)
        .map_err(|e| TelegramError::Malformed(clean(&e.to_string(), token)))?;
    match success {
        Success {
            ok: true,
            result: Some(result),
        } => Ok(result),
        _ => Err(TelegramError::Malformed(
            "status 200 without ok and result".into(),
        )),
    }
}

/// A downloaded file's bytes, at most `limit` of them.
pub(super) async fn file(
    response: reqwest::Response,
    limit: u64,
    token: &str,
) -> Result<Bytes, TelegramError> {
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        return Err(TelegramError::Unauthorized);
    }
    if !status.is_success() {
        return Err(TelegramError::Server {
            status: status.as_u16(),
        });
    }
    read_bounded(response, limit, token).await.map(Bytes::from)
}

fn failed(status: StatusCode, failure: Failure, token: &str) -> TelegramError {
    let description = clean(failure.description.as_deref().unwrap_or_default(), token);
    match status.as_u16() {
        400 => TelegramError::BadRequest { description },
        401 | 404 => TelegramError::Unauthorized,
        403 => TelegramError::Forbidden { description },
        409 => {
            let cause = if description.to_ascii_lowercase().contains("webhook") {
                ConflictCause::WebhookActive
            } else {
                ConflictCause::OtherPoller
            };
            TelegramError::Conflict { cause, description }
        }
        429 => TelegramError::RetryAfter {
            secs: failure
                .parameters
                .and_then(|p| p.retry_after)
                .unwrap_or(1)
                .clamp(1, MAX_RETRY_AFTER_SECS),
        },
        status => TelegramError::Server { status },
    }
}

/// The body, refused once it is known to exceed `limit` bytes: by its
/// declared length before reading, or while streaming (a length can lie).
async fn read_bounded(
    response: reqwest::Response,
    limit: u64,
    token: &str,
) -> Result<Vec<u8>, TelegramError> {
    crate::network::read_bounded(response, limit, &[token])
        .await
        .map_err(|e| match e {
            ReadError::TooLarge => TelegramError::TooLarge { limit },
            ReadError::Transport(text) => TelegramError::Transport(text),
        })
}

/// One element of `getUpdates`' result; one that does not parse keeps only
/// its id (so it is acknowledged), and one without an id is dropped.
pub(super) fn update(raw: Value) -> Option<Update> {
    let id = raw.get("update_id").and_then(Value::as_i64);
    match serde_json::from_value::<Update>(raw) {
        Ok(update) => Some(update),
        Err(_) => {
            // Not the serde message: it can quote the platform's text.
            tracing::warn!(
                update_id = id,
                "telegram update unreadable: acknowledged and skipped"
            );
            id.map(Update::unreadable)
        }
    }
}

/// A transport error's causes, without the request's URL (which holds the
/// token) and with the token scrubbed from anything else that might.
pub(super) fn transport_text(error: reqwest::Error, token: &str) -> String {
    crate::network::transport_text(error, &[token])
}
