//! [`LlmError`]: every way a model call fails, classified for the fallback chain.
//!
//! Messages carry the provider's endpoint (scheme, host and path only) and what the
//! provider said, cut short and with the API key scrubbed out; never a key.

use std::time::Duration;

use crate::types::ModelRef;

/// Why a fallback chain moved on to its next model: a closed set, so that
/// what is reported (and recorded) is one of these and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchReason {
    /// No connection (refused, reset, unresolvable, TLS failed).
    Unreachable,
    TimedOut,
    /// HTTP 429.
    RateLimited,
    /// HTTP 529, or an overloaded event.
    Overloaded,
    /// HTTP 5xx, or an error event of the provider's own.
    ProviderFailed,
    /// The reply ended before it was complete.
    CutShort,
    /// The monthly spend cap refused a paid model.
    SpendCapReached,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The provider's configuration cannot be used (operator's fault).
    #[error("provider configuration: {0}")]
    Config(String),

    /// No connection: refused, reset, unresolvable, or the TLS handshake failed.
    #[error("cannot connect to {endpoint}: {detail}")]
    Connect { endpoint: String, detail: String },

    /// The provider did not answer in time. `waiting_for` says which limit ran out.
    #[error("{endpoint} timed out waiting for {waiting_for} after {}s", after.as_secs_f32())]
    Timeout {
        endpoint: String,
        waiting_for: &'static str,
        after: Duration,
    },

    /// HTTP 429: slow down. `retry_after` is the provider's `retry-after` header.
    #[error("{endpoint} is rate limiting (429): {message}")]
    RateLimited {
        endpoint: String,
        retry_after: Option<Duration>,
        message: String,
    },

    /// The provider is overloaded: HTTP 529, or an `overloaded_error` event.
    #[error("{endpoint} is overloaded: {message}")]
    Overloaded { endpoint: String, message: String },

    /// HTTP 5xx, or an error event the provider documents as its own fault.
    #[error("{endpoint} failed ({status}): {message}")]
    ProviderFailed {
        endpoint: String,
        /// The HTTP status, or the error type of an event sent mid-stream.
        status: String,
        message: String,
    },

    /// The conversation does not fit the model's context window.
    #[error("{endpoint} refused the request as too long for the model's context: {message}")]
    ContextTooLong { endpoint: String, message: String },

    /// HTTP 401 or 403: the key is missing, wrong or lacks permission.
    #[error("{endpoint} refused the credentials ({status}): {message}")]
    Unauthorized {
        endpoint: String,
        status: u16,
        message: String,
    },

    /// Any other refusal (400, 404, 422, ...): the request is wrong for this provider
    /// or model, and sending it again cannot help.
    #[error("{endpoint} rejected the request ({status}): {message}")]
    Rejected {
        endpoint: String,
        status: String,
        message: String,
    },

    /// The edge refused a paid model because the monthly spend cap is reached.
    /// The chain moves on (a free, local model may still answer).
    #[error("{endpoint}: {message}")]
    BudgetExceeded { endpoint: String, message: String },

    /// The provider answered something that is not its documented format.
    #[error("{endpoint} sent a malformed reply: {detail}")]
    Malformed { endpoint: String, detail: String },

    /// The reply stopped before the protocol's end marker.
    #[error("{endpoint} ended the reply early: {detail}")]
    Truncated { endpoint: String, detail: String },

    /// The reply grew past the configured limit and was cut off.
    #[error("{endpoint} sent more than {limit} bytes")]
    TooLarge { endpoint: String, limit: u64 },

    /// Every entry of a fallback chain was cooling down or failed.
    #[error("no model could answer: {}", summary(.attempts))]
    AllFailed { attempts: Vec<(ModelRef, String)> },
}

fn summary(attempts: &[(ModelRef, String)]) -> String {
    attempts
        .iter()
        .map(|(model, why)| format!("{model}: {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl LlmError {
    /// Whether the same request may succeed later or elsewhere: what decides if a
    /// fallback chain moves on to its next model. Refusals of the request itself
    /// (bad request, bad key, too long, malformed answers) are not: another try would
    /// only hide a problem someone must fix.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Connect { .. }
            | LlmError::Timeout { .. }
            | LlmError::RateLimited { .. }
            | LlmError::Overloaded { .. }
            | LlmError::ProviderFailed { .. }
            | LlmError::Truncated { .. }
            | LlmError::BudgetExceeded { .. }
            | LlmError::AllFailed { .. } => true,
            LlmError::Config(_)
            | LlmError::ContextTooLong { .. }
            | LlmError::Unauthorized { .. }
            | LlmError::Rejected { .. }
            | LlmError::Malformed { .. }
            | LlmError::TooLarge { .. } => false,
        }
    }

    /// Why the chain moves on past a model that failed this way; `None`
    /// for a failure the chain does not move on from.
    pub fn switch_reason(&self) -> Option<SwitchReason> {
        Some(match self {
            LlmError::Connect { .. } => SwitchReason::Unreachable,
            LlmError::Timeout { .. } => SwitchReason::TimedOut,
            LlmError::RateLimited { .. } => SwitchReason::RateLimited,
            LlmError::Overloaded { .. } => SwitchReason::Overloaded,
            LlmError::ProviderFailed { .. } | LlmError::AllFailed { .. } => {
                SwitchReason::ProviderFailed
            }
            LlmError::Truncated { .. } => SwitchReason::CutShort,
            LlmError::BudgetExceeded { .. } => SwitchReason::SpendCapReached,
            LlmError::Config(_)
            | LlmError::ContextTooLong { .. }
            | LlmError::Unauthorized { .. }
            | LlmError::Rejected { .. }
            | LlmError::Malformed { .. }
            | LlmError::TooLarge { .. } => return None,
        })
    }

    /// How long the provider asked to be left alone (`Retry-After` on a 429).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            LlmError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What a provider said went wrong, from an HTTP error body or an error event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderComplaint {
    /// `error.type` (Anthropic, OpenAI) or `error.code`, when given.
    pub kind: Option<String>,
    pub code: Option<String>,
    pub message: String,
}

/// Longest provider message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

impl ProviderComplaint {
    /// Reads the error shapes the supported providers document:
    /// Anthropic `{"type":"error","error":{"type","message"}}`, OpenAI
    /// `{"error":{"message","type","code"}}`, Ollama `{"error":"..."}`, vLLM
    /// `{"message","type","code"}` and FastAPI's `{"detail":"..."}`. Anything else is
    /// kept as text.
    pub fn parse(body: &[u8]) -> Self {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Self {
                message: String::from_utf8_lossy(body).trim().to_owned(),
                ..Self::default()
            };
        };
        Self::from_json(&value)
    }

    pub fn from_json(value: &serde_json::Value) -> Self {
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        };
        let error = value.get("error").unwrap_or(value);
        if let serde_json::Value::String(message) = error {
            return Self {
                message: message.clone(),
                ..Self::default()
            };
        }
        Self {
            kind: error.get("type").and_then(text),
            code: error.get("code").and_then(text),
            message: error
                .get("message")
                .or_else(|| error.get("detail"))
                .and_then(text)
                .unwrap_or_else(|| value.to_string()),
        }
    }

    /// Whether the provider said the conversation is too long for the model:
    /// Anthropic "prompt is too long", OpenAI `context_length_exceeded` and "maximum
    /// context length" (also vLLM), llama.cpp "exceed context window".
    pub fn is_context_too_long(&self) -> bool {
        let message = self.message.to_ascii_lowercase();
        self.code.as_deref() == Some("context_length_exceeded")
            || message.contains("prompt is too long")
            || message.contains("maximum context length")
            || message.contains("context window")
            || message.contains("context length exceeded")
    }

    /// The message, shortened and with `secret` (the API key, if any) removed.
    pub fn scrubbed(&self, secret: Option<&str>) -> String {
        scrub(&self.message, secret)
    }
}

/// `text` shortened to a few hundred characters, every occurrence of `secret`
/// replaced: some providers echo a rejected key back in their message.
pub(crate) fn scrub(text: &str, secret: Option<&str>) -> String {
    let mut text = text.to_owned();
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        text = text.replace(secret, "<redacted>");
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        text = text.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
    }
    text
}

/// The error for an HTTP error status and the body that came with it.
pub(crate) fn from_status(
    endpoint: &str,
    status: u16,
    complaint: &ProviderComplaint,
    retry_after: Option<Duration>,
    secret: Option<&str>,
) -> LlmError {
    let endpoint = endpoint.to_owned();
    let message = complaint.scrubbed(secret);
    match status {
        // hardshell's edge refusing a paid model over the spend cap.
        402 if complaint.kind.as_deref() == Some("budget") => {
            LlmError::BudgetExceeded { endpoint, message }
        }
        429 => LlmError::RateLimited {
            endpoint,
            retry_after,
            message,
        },
        529 => LlmError::Overloaded { endpoint, message },
        _ if complaint.kind.as_deref() == Some("overloaded_error") => {
            LlmError::Overloaded { endpoint, message }
        }
        // 408: the server gave up waiting for our request; sending it again may work.
        408 | 500..=599 => LlmError::ProviderFailed {
            endpoint,
            status: status.to_string(),
            message,
        },
        401 | 403 => LlmError::Unauthorized {
            endpoint,
            status,
            message,
        },
        _ if complaint.is_context_too_long() => LlmError::ContextTooLong { endpoint, message },
        _ => LlmError::Rejected {
            endpoint,
            status: status.to_string(),
            message,
        },
    }
}

/// The error for an error the provider sent inside a stream that had begun with
/// HTTP 200: Anthropic's `error` event, or an OpenAI-style chunk with an `error`.
pub(crate) fn from_stream_error(
    endpoint: &str,
    complaint: &ProviderComplaint,
    secret: Option<&str>,
) -> LlmError {
    // OpenAI-compatible routers put the upstream's HTTP status in `code`.
    if let Some(status) = complaint
        .code
        .as_deref()
        .and_then(|c| c.parse::<u16>().ok())
        && (400..=599).contains(&status)
    {
        return from_status(endpoint, status, complaint, None, secret);
    }
    let endpoint = endpoint.to_owned();
    let message = complaint.scrubbed(secret);
    let kind = complaint.kind.clone().unwrap_or_else(|| "error".to_owned());
    match kind.as_str() {
        "overloaded_error" => LlmError::Overloaded { endpoint, message },
        "rate_limit_error" | "rate_limit_exceeded" => LlmError::RateLimited {
            endpoint,
            retry_after: None,
            message,
        },
        "authentication_error" => LlmError::Unauthorized {
            endpoint,
            status: 401,
            message,
        },
        "permission_error" => LlmError::Unauthorized {
            endpoint,
            status: 403,
            message,
        },
        _ if complaint.is_context_too_long() => LlmError::ContextTooLong { endpoint, message },
        "invalid_request_error" | "not_found_error" | "request_too_large" => LlmError::Rejected {
            endpoint,
            status: kind,
            message,
        },
        // `api_error`, `server_error`, `timeout_error` and types added later: the
        // request was accepted, so the failure is the provider's.
        _ => LlmError::ProviderFailed {
            endpoint,
            status: kind,
            message,
        },
    }
}

#[cfg(test)]
mod tests;
