//! The model chain: configured at all, and, when asked (`--models`, one
//! tiny request to each model, which a paid provider bills), answering.

use crate::{Finding, Severity};

/// The checks [`check_chain`] runs.
pub const CHAIN_CHECKS: &[&str] = &["llm.chain"];
/// The checks [`check_answers`] runs.
pub const ANSWER_CHECKS: &[&str] = &["llm.answers"];

/// The finding for a chain of `models` (`provider/model`).
pub fn check_chain(models: &[String]) -> Vec<Finding> {
    if !models.is_empty() {
        return Vec::new();
    }
    vec![Finding::new(
        "llm.chain",
        Severity::Medium,
        "no model is configured ([llm] chain is empty)",
        "Every chat is answered with \"no model is configured\" until one is.",
        "add a provider under [llm.providers.NAME] and its model to [llm] chain \
         (hardshell.toml shows Anthropic, OpenAI and Ollama), and store its key with \
         `hardshell secret put NAME`",
    )]
}

/// How one model of the chain answered its probe.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `provider/model`.
    pub model: String,
    /// Nothing when it answered; why not otherwise (the provider's error,
    /// with any key already scrubbed from it).
    pub failure: Option<String>,
}

/// The findings for the chain's answers: each model that did not answer is
/// medium (the chain falls back past it), none answering is high.
pub fn check_answers(answers: &[Answer]) -> Vec<Finding> {
    let failed: Vec<&Answer> = answers.iter().filter(|a| a.failure.is_some()).collect();
    let mut found: Vec<Finding> = failed
        .iter()
        .map(|answer| {
            Finding::new(
                "llm.answers",
                Severity::Medium,
                format!(
                    "the model {} did not answer: {}",
                    answer.model,
                    answer.failure.as_deref().unwrap_or_default()
                ),
                "The chain falls back past it on every turn, after a wait, or fails the turn \
                 when nothing comes after it.",
                format!(
                    "check its provider's base_url and api_key in hardshell.toml, and the \
                     model's name in [llm] chain ({})",
                    answer.model
                ),
            )
        })
        .collect();
    if !answers.is_empty() && failed.len() == answers.len() {
        found.insert(
            0,
            Finding::new(
                "llm.answers",
                Severity::High,
                "no model of the chain answered",
                "The agent cannot answer anyone.",
                "fix the first model below, or add one that answers",
            ),
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_chain_is_medium_and_a_configured_one_is_nothing() {
        assert_eq!(check_chain(&[])[0].severity, Severity::Medium);
        assert_eq!(check_chain(&["local/smollm2".into()]), []);
    }

    #[test]
    fn a_model_that_fails_is_medium_and_all_failing_is_high() {
        let answer = |model: &str, failure: Option<&str>| Answer {
            model: model.into(),
            failure: failure.map(Into::into),
        };
        assert_eq!(check_answers(&[answer("a/1", None)]), []);
        let found = check_answers(&[answer("a/1", None), answer("b/2", Some("401"))]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].severity, found[0].what.as_str()),
            (Severity::Medium, "the model b/2 did not answer: 401")
        );
        let found = check_answers(&[answer("b/2", Some("refused"))]);
        let severities: Vec<Severity> = found.iter().map(|f| f.severity).collect();
        assert_eq!(severities, [Severity::High, Severity::Medium]);
    }
}
