//! [`FallbackChain`]: models tried in order until one starts a reply.
//!
//! An entry that fails in a way that may pass (rate limit, overload, outage, timeout,
//! refused connection) before the first event of its reply rests for a while
//! ([`Cooldown`]) and the next entry is tried; each switch is reported to the caller,
//! who logs and audits it. A refusal of the request itself (bad request, bad key,
//! context too long) is returned as it is: another model would only hide it. Once a
//! reply has begun, a failure ends it with the error, never with a silent switch to
//! another model mid-reply.

mod cooldown;

use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use tokio::time::Instant;

pub use cooldown::{COOLDOWN_STEPS, Cooldown, MAX_RETRY_AFTER};

use crate::client::{ProviderClient, ReplyStream};
use crate::error::{LlmError, SwitchReason};
use crate::types::{ChatEvent, ChatRequest, ModelRef};

/// An ordered list of models, each with the client of its provider.
#[derive(Debug)]
pub struct FallbackChain {
    entries: Vec<(ModelRef, ProviderClient)>,
    cooldowns: Arc<Mutex<Vec<Cooldown>>>,
}

/// A reply that has begun: which model gives it, and its events (the first one
/// included).
#[derive(Debug)]
pub struct FallbackReply {
    pub model: ModelRef,
    pub events: ReplyStream,
}

impl FallbackChain {
    pub fn new(entries: Vec<(ModelRef, ProviderClient)>) -> Result<Self, LlmError> {
        if entries.is_empty() {
            return Err(LlmError::Config(
                "a fallback chain needs at least one model".into(),
            ));
        }
        let cooldowns = vec![Cooldown::default(); entries.len()];
        Ok(Self {
            entries,
            cooldowns: Arc::new(Mutex::new(cooldowns)),
        })
    }

    pub fn models(&self) -> impl Iterator<Item = &ModelRef> {
        self.entries.iter().map(|(model, _)| model)
    }

    /// The cooldown state of `model`'s entry, if the chain has it.
    pub fn cooldown(&self, model: &ModelRef) -> Option<Cooldown> {
        let position = self.entries.iter().position(|(m, _)| m == model)?;
        lock(&self.cooldowns).get(position).cloned()
    }

    /// Starts a reply from the first entry that is not resting and does not fail
    /// before its first event. `on_switch(from, to, reason)` is called each time a
    /// failure moves the chain on to the next entry.
    pub async fn stream(
        &self,
        request: &ChatRequest,
        mut on_switch: impl FnMut(&ModelRef, &ModelRef, SwitchReason),
    ) -> Result<FallbackReply, LlmError> {
        let mut attempts: Vec<(ModelRef, String)> = Vec::new();
        let mut last_failure: Option<(usize, SwitchReason)> = None;
        for (index, (model, client)) in self.entries.iter().enumerate() {
            let resting = lock(&self.cooldowns)[index].remaining(Instant::now());
            if !resting.is_zero() {
                attempts.push((
                    model.clone(),
                    format!("cooling down for {}s more", resting.as_secs() + 1),
                ));
                continue;
            }
            if let Some((from, reason)) = last_failure.take() {
                on_switch(&self.entries[from].0, model, reason);
            }
            match self.start(index, client, model, request).await {
                Ok(reply) => return Ok(reply),
                Err(e) if e.is_retryable() => {
                    lock(&self.cooldowns)[index].record_failure(Instant::now(), e.retry_after());
                    tracing::warn!(model = %model, error = %e, "model failed before replying");
                    attempts.push((model.clone(), e.to_string()));
                    last_failure = e.switch_reason().map(|reason| (index, reason));
                }
                Err(e) => return Err(e),
            }
        }
        Err(LlmError::AllFailed { attempts })
    }

    /// Sends the request to one entry and waits for the reply's first event.
    async fn start(
        &self,
        index: usize,
        client: &ProviderClient,
        model: &ModelRef,
        request: &ChatRequest,
    ) -> Result<FallbackReply, LlmError> {
        let mut events = client.stream(model.model(), request).await?;
        let first = match events.next().await {
            Some(Ok(event)) => event,
            Some(Err(e)) => return Err(e),
            None => {
                return Err(LlmError::Truncated {
                    endpoint: client.endpoint().to_owned(),
                    detail: "the reply ended before its first event".into(),
                });
            }
        };
        // How the reply ends decides the entry's health: a complete reply resets
        // its cooldown, a retryable failure mid-reply starts one.
        let cooldowns = Arc::clone(&self.cooldowns);
        let events =
            futures::stream::iter([Ok(first)])
                .chain(events)
                .inspect(move |item| match item {
                    Ok(ChatEvent::Finished { .. }) => lock(&cooldowns)[index].record_success(),
                    Err(e) if e.is_retryable() => {
                        lock(&cooldowns)[index].record_failure(Instant::now(), e.retry_after())
                    }
                    _ => {}
                });
        Ok(FallbackReply {
            model: model.clone(),
            events: ReplyStream::new(events),
        })
    }
}

/// The cooldowns, also after a panic elsewhere while they were held: every update
/// is a single assignment, so they are never left half-written.
fn lock(cooldowns: &Mutex<Vec<Cooldown>>) -> MutexGuard<'_, Vec<Cooldown>> {
    cooldowns
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
