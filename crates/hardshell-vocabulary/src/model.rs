//! Model references: `provider/model`, as the config's chain, the prices
//! and the agent's settings name a model.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A model as `provider/model`, e.g. `anthropic/claude-sonnet-4-5` or
/// `local/smollm2`. The provider part names a `[llm.providers.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelRef {
    provider: String,
    model: String,
}

/// Why a text is not a model reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("model reference {text:?} is not provider/model (provider: a-z 0-9 - _, model: no spaces)")]
pub struct ModelRefError {
    /// The text, cut to 100 characters.
    pub text: String,
}

impl ModelRef {
    /// `text` as `provider/model`: the provider a-z, 0-9, `-` and `_` (at most
    /// 64), the model any printable ASCII (at most 200, `/` allowed).
    pub fn parse(text: &str) -> Result<Self, ModelRefError> {
        let error = || ModelRefError {
            text: text.chars().take(100).collect(),
        };
        let (provider, model) = text.split_once('/').ok_or_else(error)?;
        let provider_ok = !provider.is_empty()
            && provider.len() <= 64
            && provider
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        let model_ok =
            !model.is_empty() && model.len() <= 200 && model.bytes().all(|b| b.is_ascii_graphic());
        if provider_ok && model_ok {
            Ok(Self {
                provider: provider.to_owned(),
                model: model.to_owned(),
            })
        } else {
            Err(error())
        }
    }

    /// The `[llm.providers.NAME]` this model is served by.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The model's name at its provider, as the provider's API expects it.
    pub fn model(&self) -> &str {
        &self.model
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

impl Serialize for ModelRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ModelRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ModelRef::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn model_refs_parse_and_print() {
        let model = ModelRef::parse("anthropic/claude-sonnet-4-5").unwrap();
        assert_eq!(
            (model.provider(), model.model()),
            ("anthropic", "claude-sonnet-4-5")
        );
        assert_eq!(model.to_string(), "anthropic/claude-sonnet-4-5");
        let nested = ModelRef::parse("openrouter/meta-llama/llama-3-70b").unwrap();
        assert_eq!(nested.model(), "meta-llama/llama-3-70b");
        for bad in [
            "",
            "anthropic",
            "/m",
            "p/",
            "Upper/m",
            "p/has space",
            "p q/m",
        ] {
            assert!(ModelRef::parse(bad).is_err(), "{bad}");
        }
    }
}
