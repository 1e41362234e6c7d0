//! Sending one request and reading its reply: the timeouts per phase, the size
//! limit, HTTP errors read and classified, and the SSE body decoded as it arrives.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use tokio::time::Instant;

use super::Inner;
use crate::error::{self, LlmError, ProviderComplaint};
use crate::sse::SseParser;
use crate::types::ChatEvent;
use crate::wire::{DecodeError, ReplyDecoder};

/// Most of an error body read: providers' error bodies are small JSON objects.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// A reply as it streams. It ends after [`ChatEvent::Finished`], or after an error;
/// a reply that stops early ends with [`LlmError::Truncated`].
pub struct ReplyStream {
    inner: Pin<Box<dyn Stream<Item = Result<ChatEvent, LlmError>> + Send>>,
}

impl ReplyStream {
    pub(crate) fn new(
        stream: impl Stream<Item = Result<ChatEvent, LlmError>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(stream),
        }
    }
}

impl Stream for ReplyStream {
    type Item = Result<ChatEvent, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for ReplyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplyStream")
    }
}

pub(super) async fn send(
    inner: Arc<Inner>,
    request: reqwest::RequestBuilder,
) -> Result<ReplyStream, LlmError> {
    let first_byte_by = Instant::now() + inner.timeouts.first_byte;
    let timeout = |waiting_for| LlmError::Timeout {
        endpoint: inner.endpoint.clone(),
        waiting_for,
        after: inner.timeouts.first_byte,
    };
    let mut response = tokio::time::timeout_at(first_byte_by, request.send())
        .await
        .map_err(|_| timeout("the response"))?
        .map_err(|e| send_error(&inner, &e))?;

    let status = response.status();
    if !status.is_success() {
        let retry_after = retry_after(&response);
        let body = read_error_body(&inner, &mut response, first_byte_by).await;
        let complaint = ProviderComplaint::parse(&body);
        return Err(error::from_status(
            &inner.endpoint,
            status.as_u16(),
            &complaint,
            retry_after,
            inner.secret(),
        ));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !content_type.starts_with("text/event-stream") {
        return Err(LlmError::Malformed {
            endpoint: inner.endpoint.clone(),
            detail: format!("expected a text/event-stream reply, got {content_type:?}"),
        });
    }

    let reading = Reading {
        decoder: crate::wire::decoder(inner.kind),
        inner,
        response,
        parser: SseParser::new(),
        pending: VecDeque::new(),
        failure: None,
        received: 0,
        first_byte_by: Some(first_byte_by),
        done: false,
    };
    Ok(ReplyStream::new(futures::stream::unfold(
        reading,
        Reading::next,
    )))
}

/// The state of a reply being read.
struct Reading {
    inner: Arc<Inner>,
    response: reqwest::Response,
    parser: SseParser,
    decoder: ReplyDecoder,
    /// Decoded events not yet handed out.
    pending: VecDeque<ChatEvent>,
    /// The error that ends the stream, handed out after `pending`.
    failure: Option<LlmError>,
    received: u64,
    /// The deadline for the first body bytes; `None` once they came.
    first_byte_by: Option<Instant>,
    done: bool,
}

impl Reading {
    async fn next(mut self) -> Option<(Result<ChatEvent, LlmError>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((Ok(event), self));
            }
            if let Some(failure) = self.failure.take() {
                return Some((Err(failure), self));
            }
            if self.done {
                return None;
            }
            match self.read_chunk().await {
                Ok(Some(chunk)) => self.take_in(&chunk),
                Ok(None) => {
                    self.done = true;
                    self.failure = Some(self.truncated(if self.parser.has_partial_event() {
                        "the connection closed in the middle of an event".to_owned()
                    } else {
                        "the stream ended without its end marker".to_owned()
                    }));
                }
                Err(failure) => {
                    self.done = true;
                    self.failure = Some(failure);
                }
            }
        }
    }

    async fn read_chunk(&mut self) -> Result<Option<Bytes>, LlmError> {
        let (deadline, waiting_for, after) = match self.first_byte_by.take() {
            Some(deadline) => (
                deadline,
                "the first bytes of the reply",
                self.inner.timeouts.first_byte,
            ),
            None => (
                Instant::now() + self.inner.timeouts.idle,
                "the next bytes of the reply",
                self.inner.timeouts.idle,
            ),
        };
        match tokio::time::timeout_at(deadline, self.response.chunk()).await {
            Err(_) => Err(LlmError::Timeout {
                endpoint: self.inner.endpoint.clone(),
                waiting_for,
                after,
            }),
            Ok(Err(e)) => {
                Err(self.truncated(format!("reading the reply failed: {}", describe(&e))))
            }
            Ok(Ok(chunk)) => Ok(chunk),
        }
    }

    /// Parses and decodes one piece of the body; stops at the end marker or the
    /// first failure (keeping the events decoded before it).
    fn take_in(&mut self, chunk: &[u8]) {
        self.received = self.received.saturating_add(chunk.len() as u64);
        if self.received > self.inner.max_response_bytes {
            self.done = true;
            self.failure = Some(LlmError::TooLarge {
                endpoint: self.inner.endpoint.clone(),
                limit: self.inner.max_response_bytes,
            });
            return;
        }
        let events = match self.parser.feed(chunk) {
            Ok(events) => events,
            Err(e) => {
                self.done = true;
                self.failure = Some(self.malformed(e.to_string()));
                return;
            }
        };
        let mut decoded = Vec::new();
        for event in &events {
            if let Err(e) = self.decoder.decode(event, &mut decoded) {
                self.done = true;
                self.failure = Some(self.decode_error(e));
                break;
            }
            if self.decoder.is_finished() {
                self.done = true;
                break;
            }
        }
        self.pending.extend(decoded);
    }

    fn decode_error(&self, e: DecodeError) -> LlmError {
        match e {
            DecodeError::Malformed(detail) => self.malformed(detail),
            DecodeError::Truncated(detail) => self.truncated(detail),
            DecodeError::Provider(complaint) => {
                error::from_stream_error(&self.inner.endpoint, &complaint, self.inner.secret())
            }
        }
    }

    fn malformed(&self, detail: String) -> LlmError {
        LlmError::Malformed {
            endpoint: self.inner.endpoint.clone(),
            detail: error::scrub(&detail, self.inner.secret()),
        }
    }

    fn truncated(&self, detail: String) -> LlmError {
        LlmError::Truncated {
            endpoint: self.inner.endpoint.clone(),
            detail,
        }
    }
}

/// Reads an error body, bounded in size and time; what could not be read is left out.
async fn read_error_body(
    inner: &Inner,
    response: &mut reqwest::Response,
    first_byte_by: Instant,
) -> Vec<u8> {
    let mut body = Vec::new();
    let mut deadline = first_byte_by;
    while body.len() < MAX_ERROR_BODY_BYTES {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
        deadline = Instant::now() + inner.timeouts.idle;
    }
    body.truncate(MAX_ERROR_BODY_BYTES);
    body
}

/// `retry-after` in seconds; the HTTP-date form is rare enough to be ignored.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn send_error(inner: &Inner, e: &reqwest::Error) -> LlmError {
    if e.is_timeout() {
        return LlmError::Timeout {
            endpoint: inner.endpoint.clone(),
            waiting_for: "a connection",
            after: inner.timeouts.connect,
        };
    }
    // Refused, reset, unresolvable, TLS, or closed before answering: all failures to
    // reach the provider, which another provider may not share.
    LlmError::Connect {
        endpoint: inner.endpoint.clone(),
        detail: describe(e),
    }
}

/// The error and its causes, without the URL reqwest would print (the endpoint is
/// already in every message, and only there is it stripped of anything sensitive).
fn describe(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    if parts.is_empty() {
        let mut text = e.to_string();
        if let Some(url) = e.url() {
            text = text.replace(url.as_str(), "the provider");
        }
        parts.push(text);
    }
    parts.dedup();
    parts.join(": ")
}
