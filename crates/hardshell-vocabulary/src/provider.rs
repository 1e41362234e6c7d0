//! Which wire format a model provider speaks: one closed set for the
//! config's `kind`, the model clients and the agent's settings.

use serde::{Deserialize, Serialize};

/// A provider's wire format, written `"anthropic"` or `"openai"` in the
/// config and on the agent's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProviderKind {
    /// Anthropic's Messages API.
    #[serde(rename = "anthropic")]
    Anthropic,
    /// OpenAI's Chat Completions, also spoken by llama.cpp, Ollama, vLLM, OpenRouter.
    #[serde(rename = "openai")]
    OpenAi,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn kinds_keep_their_words() {
        for (kind, word) in [
            (ProviderKind::Anthropic, "\"anthropic\""),
            (ProviderKind::OpenAi, "\"openai\""),
        ] {
            assert_eq!(serde_json::to_string(&kind).unwrap(), word);
            assert_eq!(serde_json::from_str::<ProviderKind>(word).unwrap(), kind);
        }
        for unknown in ["\"OpenAI\"", "\"open_ai\"", "\"Anthropic\"", "\"gemini\""] {
            assert!(
                serde_json::from_str::<ProviderKind>(unknown).is_err(),
                "{unknown}"
            );
        }
    }
}
