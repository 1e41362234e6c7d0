//! Changes hardshell makes to an owner's `hardshell.toml`, keeping everything
//! else in it as written: comments, order, spacing (`toml_edit`).
//!
//! The result is text; the caller loads it with [`crate::LoadedConfig::parse`]
//! before writing it, so a change that makes the file invalid is never written.

use hardshell_vocabulary::ProviderKind;
use toml_edit::{Array, DocumentMut, Item, Table, value};

/// One model for the agent to use, and the provider it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChoice {
    /// The provider's name: `anthropic`, `openai`, `ollama`, ...
    pub provider: String,
    /// The model as the provider names it.
    pub model: String,
    /// The provider's wire format.
    pub kind: ProviderKind,
    /// The provider's base URL.
    pub base_url: String,
    /// The secret that holds its API key, if it needs one.
    pub key_secret: Option<String>,
}

impl ModelChoice {
    /// `provider/model`, as the chain names it.
    pub fn chain_entry(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }
}

/// Why a change could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file is not TOML.
    #[error("the config is not valid TOML: {0}")]
    Parse(#[from] toml_edit::TomlError),
    /// A key on the way is something other than a table or array.
    #[error("{0} is not a {1} in the config")]
    Shape(&'static str, &'static str),
    /// The provider is configured already, otherwise.
    #[error(
        "[llm.providers.{0}] is already configured with another {1}; \
         edit it by hand, or choose another provider name"
    )]
    Conflict(String, &'static str),
}

/// `text` with `choice`'s model first in `[llm] chain` (moved there if it was
/// listed) and its provider in `[llm.providers.NAME]`, added after `[llm]` when
/// missing. A provider already there must have the same kind, URL and key.
pub fn use_model(text: &str, choice: &ModelChoice) -> Result<String, EditError> {
    let mut document: DocumentMut = text.parse()?;
    let root = document.as_table_mut();
    let llm = root
        .entry("llm")
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_mut()
        .ok_or(EditError::Shape("llm", "table"))?;
    let llm_position = llm.position();

    let entry = choice.chain_entry();
    let chain = llm
        .entry("chain")
        .or_insert_with(|| value(Array::new()))
        .as_array_mut()
        .ok_or(EditError::Shape("llm.chain", "list"))?;
    chain.retain(|listed| listed.as_str() != Some(entry.as_str()));
    chain.insert(0, entry.as_str());
    // One line, as the template writes it, whatever was there before.
    chain.fmt();

    let providers = llm
        .entry("providers")
        .or_insert_with(|| {
            let mut table = Table::new();
            table.set_implicit(true);
            Item::Table(table)
        })
        .as_table_mut()
        .ok_or(EditError::Shape("llm.providers", "table"))?;
    let kind = match choice.kind {
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::OpenAi => "openai",
    };
    let key = choice
        .key_secret
        .as_ref()
        .map(|name| format!("secret:{name}"));
    match providers.get(&choice.provider) {
        Some(existing) => {
            let same = |field: &str, wanted: Option<&str>| {
                existing.get(field).and_then(Item::as_str) == wanted
            };
            if !same("kind", Some(kind)) {
                return Err(EditError::Conflict(choice.provider.clone(), "kind"));
            }
            if !same("base_url", Some(&choice.base_url)) {
                return Err(EditError::Conflict(choice.provider.clone(), "base_url"));
            }
            if !same("api_key", key.as_deref()) {
                return Err(EditError::Conflict(choice.provider.clone(), "api_key"));
            }
        }
        None => {
            let mut table = Table::new();
            table.insert("kind", value(kind));
            table.insert("base_url", value(choice.base_url.as_str()));
            if let Some(key) = &key {
                table.insert("api_key", value(key.as_str()));
            }
            // Right after [llm], not at the end of the file.
            table.set_position(llm_position);
            providers.insert(&choice.provider, Item::Table(table));
            blank_line_before_next_table(&mut document, llm_position);
        }
    }
    Ok(document.to_string())
}

/// The table printed after `[llm]`'s own starts after a blank line, so what
/// was inserted before it (with the comments it begins with) stands apart.
fn blank_line_before_next_table(document: &mut DocumentMut, llm_position: Option<isize>) {
    let Some(llm_position) = llm_position else {
        return;
    };
    let next = document
        .as_table_mut()
        .iter_mut()
        .filter_map(|(_, item)| item.as_table_mut())
        .filter(|table| table.position().is_some_and(|p| p > llm_position))
        .min_by_key(|table| table.position());
    if let Some(table) = next {
        let decor = table.decor_mut();
        let prefix = decor
            .prefix()
            .and_then(|p| p.as_str())
            .unwrap_or_default()
            .to_owned();
        if !prefix.starts_with('\n') {
            decor.set_prefix(format!("\n{prefix}"));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use super::*;
    use crate::{LoadedConfig, TEMPLATE};

    fn anthropic() -> ModelChoice {
        ModelChoice {
            provider: "anthropic".to_owned(),
            model: "claude-sonnet-4-5".to_owned(),
            kind: ProviderKind::Anthropic,
            base_url: "https://api.anthropic.com".to_owned(),
            key_secret: Some("ANTHROPIC_API_KEY".to_owned()),
        }
    }

    fn local() -> ModelChoice {
        ModelChoice {
            provider: "llamacpp".to_owned(),
            model: "smollm2".to_owned(),
            kind: ProviderKind::OpenAi,
            base_url: "http://127.0.0.1:8080/v1".to_owned(),
            key_secret: None,
        }
    }

    #[test]
    fn the_template_gets_the_model_and_its_provider_and_keeps_its_comments() {
        let edited = use_model(TEMPLATE, &anthropic()).unwrap();
        let loaded = LoadedConfig::parse(&edited, Path::new("hardshell.toml")).unwrap();
        assert_eq!(loaded.config.llm.chain, ["anthropic/claude-sonnet-4-5"]);
        let provider = &loaded.config.llm.providers["anthropic"];
        assert_eq!(provider.kind, ProviderKind::Anthropic);
        assert_eq!(provider.base_url, "https://api.anthropic.com");
        assert_eq!(
            provider.api_key.as_ref().unwrap().to_string(),
            "secret:ANTHROPIC_API_KEY"
        );
        // Everything else as it was: every template line is still there, in order.
        let mut lines = edited.lines();
        for line in TEMPLATE.lines().filter(|l| *l != "chain = []") {
            assert!(lines.any(|l| l == line), "{line:?} is gone or moved");
        }
        // The provider sits with [llm], before [exec].
        let provider_at = edited.find("[llm.providers.anthropic]").unwrap();
        assert!(edited.find("[llm]").unwrap() < provider_at);
        assert!(provider_at < edited.find("\n[exec]").unwrap(), "{edited}");
    }

    #[test]
    fn a_second_model_goes_first_and_one_chosen_again_moves_to_the_front() {
        let once = use_model(TEMPLATE, &anthropic()).unwrap();
        let twice = use_model(&once, &local()).unwrap();
        let loaded = LoadedConfig::parse(&twice, Path::new("hardshell.toml")).unwrap();
        assert_eq!(
            loaded.config.llm.chain,
            ["llamacpp/smollm2", "anthropic/claude-sonnet-4-5"]
        );
        assert!(loaded.config.llm.providers["llamacpp"].api_key.is_none());
        let again = use_model(&twice, &anthropic()).unwrap();
        let loaded = LoadedConfig::parse(&again, Path::new("hardshell.toml")).unwrap();
        assert_eq!(
            loaded.config.llm.chain,
            ["anthropic/claude-sonnet-4-5", "llamacpp/smollm2"]
        );
        assert_eq!(again.matches("\n[llm.providers.anthropic]").count(), 1);
    }

    #[test]
    fn a_provider_configured_otherwise_is_not_changed() {
        let once = use_model(TEMPLATE, &anthropic()).unwrap();
        let mut elsewhere = anthropic();
        elsewhere.base_url = "https://proxy.example".to_owned();
        let error = use_model(&once, &elsewhere).unwrap_err();
        assert!(error.to_string().contains("base_url"), "{error}");
        let mut keyless = anthropic();
        keyless.key_secret = None;
        let error = use_model(&once, &keyless).unwrap_err();
        assert!(error.to_string().contains("api_key"), "{error}");
        let mut other_kind = anthropic();
        other_kind.kind = ProviderKind::OpenAi;
        assert!(use_model(&once, &other_kind).is_err());
        // The same settings again are no conflict.
        assert!(use_model(&once, &anthropic()).is_ok());
    }

    #[test]
    fn a_file_that_is_not_toml_or_has_llm_as_a_value_is_refused() {
        assert!(matches!(
            use_model("[llm\n", &anthropic()),
            Err(EditError::Parse(_))
        ));
        assert!(matches!(
            use_model("llm = 3\n", &anthropic()),
            Err(EditError::Shape("llm", _))
        ));
        assert!(matches!(
            use_model("[llm]\nchain = \"x\"\n", &anthropic()),
            Err(EditError::Shape("llm.chain", _))
        ));
    }

    #[test]
    fn a_file_without_llm_gets_one() {
        let edited = use_model("", &local()).unwrap();
        let loaded = LoadedConfig::parse(&edited, Path::new("hardshell.toml")).unwrap();
        assert_eq!(loaded.config.llm.chain, ["llamacpp/smollm2"]);
    }
}
