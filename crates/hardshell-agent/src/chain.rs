//! The agent's [`Model`]: hardshell-llm's fallback chain, reached through the
//! agent shell's broker (an HTTP proxy on the shell's loopback). The agent
//! holds a placeholder for each key, never the key: the broker swaps it at
//! the provider's host, and meters and caps what is spent.

use std::sync::Arc;

use futures::StreamExt;
use hardshell_llm::{
    ApiKey, ChatRequest, FallbackChain, LlmError, ModelRef, ProviderClient, ProviderConfig,
    SwitchReason, Transport,
};
use zeroize::Zeroizing;

use crate::{ChatStream, Model, ModelError};
use hardshell_protocol::ChainEntry;

/// Told about each move down the chain (the agent reports it to the edge).
pub type OnSwitch = Arc<dyn Fn(&ModelRef, &ModelRef, SwitchReason) + Send + Sync>;

/// The fallback chain as a [`Model`].
pub struct ChainModel {
    chain: FallbackChain,
    on_switch: OnSwitch,
}

impl std::fmt::Debug for ChainModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainModel")
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

impl ChainModel {
    /// A chain whose every provider is reached through `proxy`.
    pub fn through_broker(
        entries: &[ChainEntry],
        proxy: &str,
        on_switch: OnSwitch,
    ) -> Result<Self, LlmError> {
        let mut chain = Vec::with_capacity(entries.len());
        for entry in entries {
            let mut config = ProviderConfig::new(entry.wire, entry.base_url.clone());
            config.transport = Transport::Proxy(proxy.to_owned());
            if let Some(placeholder) = &entry.key {
                config.api_key = Some(ApiKey::new(Zeroizing::new(placeholder.clone()))?);
            }
            chain.push((entry.model.clone(), ProviderClient::new(config)?));
        }
        Ok(Self {
            chain: FallbackChain::new(chain)?,
            on_switch,
        })
    }
}

/// What the user is told; provider error text has already had keys scrubbed.
fn to_model_error(e: &LlmError) -> ModelError {
    let message = match e {
        LlmError::AllFailed { .. } => format!("No model could answer right now ({e})."),
        LlmError::BudgetExceeded { .. } => format!("The monthly spend limit is reached ({e})."),
        LlmError::ContextTooLong { .. } => {
            "The conversation is too long for the model; start a new session.".to_owned()
        }
        _ => format!("The model failed: {e}"),
    };
    if e.is_retryable() {
        ModelError::transient(message)
    } else {
        ModelError::fatal(message)
    }
}

impl Model for ChainModel {
    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, ModelError> {
        let on_switch = self.on_switch.clone();
        let reply = self
            .chain
            .stream(&request, |from, to, reason| on_switch(from, to, reason))
            .await
            .map_err(|e| to_model_error(&e))?;
        tracing::debug!(model = %reply.model, "model replying");
        Ok(Box::pin(
            reply
                .events
                .map(|item| item.map_err(|e| to_model_error(&e))),
        ))
    }
}
