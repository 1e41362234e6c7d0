//! `[agent]` and `[llm]`: the built-in agent and the models it may use.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret_ref::SecretRef;

/// `[agent]`: the built-in agent, run by `hardshell up` as its own process.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Agent {
    /// Run the built-in agent. Off when `[upstream]` names another workload.
    pub enabled: bool,
    /// The agent's workspace: `AGENTS.md`, `SOUL.md`, `USER.md` and `MEMORY.md`
    /// (OpenClaw's files) are read from here into the system prompt. Relative to
    /// the config file's directory.
    pub workspace: PathBuf,
    /// Model calls and tool runs allowed in one turn.
    pub max_steps: u32,
    /// Seconds one turn may take, model and tools included.
    pub turn_timeout_secs: u64,
    /// Largest message a user may send, in bytes.
    pub max_message_bytes: usize,
    /// Largest reply the model may write per call, in tokens.
    pub max_tokens: u32,
}

impl Default for Agent {
    fn default() -> Self {
        Self {
            enabled: true,
            workspace: PathBuf::from("workspace"),
            max_steps: 8,
            turn_timeout_secs: 600,
            max_message_bytes: 32 * 1024,
            max_tokens: 1024,
        }
    }
}

/// `[llm]`: providers, the fallback chain, prices and the monthly spend cap.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Llm {
    /// Models to try, in order, as `provider/model` (the seed's `LLM_PROVIDER`
    /// then `LLM_FALLBACK_PROVIDER`/`LLM_FALLBACK_MODEL`, generalised). A model
    /// that fails with 429, 5xx, a timeout or a refused connection cools down (30
    /// s, then 1 min, then 5 min) and the next one answers.
    pub chain: Vec<String>,
    /// Monthly spend limit in US dollars across paid models; when reached, paid
    /// models are refused and free (local) ones keep working. Unset: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_cap_usd: Option<f64>,
    /// Model providers by name (the `provider` of `provider/model`).
    pub providers: BTreeMap<String, Provider>,
    /// Prices, USD per million tokens. A model without a price is free, but
    /// with `monthly_cap_usd` set a chain model of a provider with an
    /// `api_key` must have one (0 for a free one).
    pub prices: Vec<Price>,
}

/// `[llm.providers.NAME]`: one model provider.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// `"anthropic"` (the Messages API) or `"openai"` (Chat Completions, and any
    /// compatible server: Ollama, llama.cpp, vLLM, OpenRouter).
    pub kind: ProviderKind,
    /// The API's base URL, e.g. `https://api.anthropic.com`,
    /// `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama).
    pub base_url: String,
    /// The API key as a reference (`secret:NAME` or `env:NAME`). The agent never
    /// holds it: the edge adds it to the agent's requests on their way out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretRef>,
}

/// A provider's wire format: the one set the model clients and the agent's
/// settings use too.
pub use hardshell_vocabulary::ProviderKind;

/// One `[[llm.prices]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// The model, as `provider/model`.
    pub model: String,
    /// USD per million input tokens.
    pub input_per_mtok: f64,
    /// USD per million output tokens.
    pub output_per_mtok: f64,
}
