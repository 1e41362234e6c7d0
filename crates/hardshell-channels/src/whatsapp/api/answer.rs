//! Reading the Graph API's answers: bounded in size, a failure mapped from
//! its status and the documented `{"error": {code, message, error_data}}`
//! envelope onto [`WhatsappError`], every text from the network cleaned
//! first.

use crate::network::ReadError;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::{WhatsappError, clean};

/// The longest wait a rate limit is trusted with, so that a wrong answer
/// cannot stall the channel for days.
const MAX_RETRY_AFTER_SECS: u64 = 3600;
/// Meta gives no wait with a rate limit. Its pair limit (131056) is about
/// one message every six seconds to one user; the others are per hour.
const PAIR_WAIT: Duration = Duration::from_secs(6);
const OTHER_WAIT: Duration = Duration::from_secs(30);
/// The Graph error codes of a rate limit (developers.facebook.com/docs/
/// whatsapp/cloud-api/support/error-codes): application, business account,
/// throughput, spam, and pair (one user) limits.
const RATE_LIMIT_CODES: [i64; 5] = [4, 80007, 130429, 131048, 131056];
/// The Graph error code of an invalid or expired token.
const TOKEN_CODE: i64 = 190;

#[derive(Deserialize, Default)]
struct Failure {
    error: Option<GraphError>,
}

#[derive(Deserialize, Default)]
struct GraphError {
    code: Option<i64>,
    message: Option<String>,
    error_data: Option<ErrorData>,
}

#[derive(Deserialize, Default)]
struct ErrorData {
    details: Option<String>,
}

/// The answer to a successful call, or the error its status and body say.
pub(super) async fn result<T: DeserializeOwned>(
    response: reqwest::Response,
    limit: u64,
    token: &str,
) -> Result<T, WhatsappError> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = read_bounded(response, limit, token).await?;
    if !status.is_success() {
        // A failure's body is only a hint: a proxy's HTML page still maps
        // by its status.
        let failure: Failure = serde_json::from_slice(&body).unwrap_or_default();
        return Err(failed(
            status,
            failure.error.unwrap_or_default(),
            retry_after,
            token,
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|e| WhatsappError::Malformed(clean(&e.to_string(), token)))
}

/// A file's bytes, at most `limit` of them; a failure is mapped as a
/// call's (a redirect too: it is never followed, see `WhatsappApi::new`).
pub(super) async fn file(
    response: reqwest::Response,
    limit: u64,
    token: &str,
) -> Result<Vec<u8>, WhatsappError> {
    let status = response.status();
    if !status.is_success() {
        let body = read_bounded(response, super::MAX_ANSWER_BYTES, token)
            .await
            .unwrap_or_default();
        let failure: Failure = serde_json::from_slice(&body).unwrap_or_default();
        return Err(failed(
            status,
            failure.error.unwrap_or_default(),
            None,
            token,
        ));
    }
    crate::network::read_bounded(response, limit, &[token])
        .await
        .map_err(|e| match e {
            ReadError::TooLarge => WhatsappError::FileTooLarge { limit },
            ReadError::Transport(text) => WhatsappError::Transport(text),
        })
}

fn failed(
    status: StatusCode,
    error: GraphError,
    retry_after: Option<u64>,
    token: &str,
) -> WhatsappError {
    let code = error.code;
    if status == StatusCode::UNAUTHORIZED || code == Some(TOKEN_CODE) {
        return WhatsappError::TokenRefused;
    }
    if status == StatusCode::TOO_MANY_REQUESTS
        || code.is_some_and(|c| RATE_LIMIT_CODES.contains(&c))
    {
        let default = if code == Some(131056) {
            PAIR_WAIT
        } else {
            OTHER_WAIT
        };
        let retry_after = retry_after
            .map(|secs| Duration::from_secs(secs.clamp(1, MAX_RETRY_AFTER_SECS)))
            .unwrap_or(default);
        return WhatsappError::RateLimited { code, retry_after };
    }
    let mut message = error.message.unwrap_or_default();
    if let Some(details) = error.error_data.and_then(|d| d.details) {
        message.push_str(": ");
        message.push_str(&details);
    }
    let message = clean(&message, token);
    match status.as_u16() {
        400 => WhatsappError::BadRequest { code, message },
        403 => WhatsappError::Forbidden { code, message },
        status => WhatsappError::Server { status },
    }
}

/// The body, refused once it is known to exceed `limit` bytes: by its
/// declared length before reading, or while streaming (a length can lie).
async fn read_bounded(
    response: reqwest::Response,
    limit: u64,
    token: &str,
) -> Result<Vec<u8>, WhatsappError> {
    crate::network::read_bounded(response, limit, &[token])
        .await
        .map_err(|e| match e {
            ReadError::TooLarge => WhatsappError::TooLarge { limit },
            ReadError::Transport(text) => WhatsappError::Transport(text),
        })
}

/// A transport error's causes, without the request's URL and with the
/// token scrubbed from anything that might hold it.
pub(super) fn transport_text(error: reqwest::Error, token: &str) -> String {
    crate::network::transport_text(error, &[token])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(code: i64, message: &str, details: Option<&str>) -> GraphError {
        GraphError {
            code: Some(code),
            message: Some(message.into()),
            error_data: Some(ErrorData {
                details: details.map(str::to_owned),
            }),
        }
    }

    #[test]
    fn an_expired_token_is_refused_whatever_the_status() {
        let expired = graph(
            190,
            "Error validating access token: EAAsecret expired",
            None,
        );
        let error = failed(StatusCode::BAD_REQUEST, expired, None, "EAAsecret");
        assert_eq!(error, WhatsappError::TokenRefused);
    }

    #[test]
    fn rate_limits_wait_as_told_or_as_meta_documents() {
        let pair = failed(StatusCode::BAD_REQUEST, graph(131056, "", None), None, "");
        assert_eq!(
            pair,
            WhatsappError::RateLimited {
                code: Some(131056),
                retry_after: PAIR_WAIT
            }
        );
        let told = failed(
            StatusCode::TOO_MANY_REQUESTS,
            GraphError::default(),
            Some(999_999),
            "",
        );
        assert_eq!(
            told,
            WhatsappError::RateLimited {
                code: None,
                retry_after: Duration::from_secs(MAX_RETRY_AFTER_SECS)
            }
        );
    }

    #[test]
    fn a_refusal_keeps_metas_reason_cleaned() {
        let refused = graph(
            131047,
            "Re-engagement message\nEAAsecret",
            Some("More than 24 hours have passed \u{202E}"),
        );
        let WhatsappError::BadRequest { code, message } =
            failed(StatusCode::BAD_REQUEST, refused, None, "EAAsecret")
        else {
            panic!("not a bad request");
        };
        assert_eq!(code, Some(131047));
        assert_eq!(
            message,
            "Re-engagement message<token>: More than 24 hours have passed "
        );
        let forbidden = failed(
            StatusCode::FORBIDDEN,
            graph(200, "no permission", None),
            None,
            "",
        );
        assert!(matches!(
            forbidden,
            WhatsappError::Forbidden {
                code: Some(200),
                ..
            }
        ));
        let server = failed(StatusCode::BAD_GATEWAY, GraphError::default(), None, "");
        assert_eq!(server, WhatsappError::Server { status: 502 });
    }
}
