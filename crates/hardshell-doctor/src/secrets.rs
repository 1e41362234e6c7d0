//! Secrets kept that nothing uses: a credential in the store that no part of
//! the config names, no egress binding releases and no locked module
//! declares is a key lying around for nothing, and one the owner may have
//! meant to revoke at its issuer.
//!
//! A use is any `secret:NAME` anywhere in the config (providers' keys, the
//! channels' tokens, the buckets' credentials, the workload's environment,
//! a registry's credential), any `[egress.secrets.NAME]` binding, and any
//! secret a locked module may use.

use std::collections::BTreeSet;

use hardshell_config::Config;

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &["secrets.unused"];

/// Every secret name `config` uses.
pub fn used_by(config: &Config) -> BTreeSet<String> {
    let mut used: BTreeSet<String> = config.egress.secrets.keys().cloned().collect();
    // Walked as written rather than field by field, so a reference in a
    // setting added later counts without this file knowing of it.
    if let Ok(value) = serde_json::to_value(config) {
        collect(&value, &mut used);
    }
    used
}

fn collect(value: &serde_json::Value, used: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::String(text) => {
            if let Some(name) = text.strip_prefix("secret:") {
                used.insert(name.to_owned());
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect(item, used)),
        serde_json::Value::Object(fields) => fields.values().for_each(|item| collect(item, used)),
        _ => {}
    }
}

/// A finding for each of `stored` that neither `used` (the config's) nor
/// `declared` (the locked modules') names.
pub fn check(
    stored: &[String],
    used: &BTreeSet<String>,
    declared: &BTreeSet<String>,
) -> Vec<Finding> {
    stored
        .iter()
        .filter(|name| !used.contains(*name) && !declared.contains(*name))
        .map(|name| {
            Finding::new(
                "secrets.unused",
                Severity::Low,
                format!("the secret {name} is stored, and nothing uses it"),
                "No setting names it as secret:NAME, no [egress.secrets] binding releases it \
                 and no locked module declares it: it is a credential kept for nothing, and \
                 if it was replaced, the old one may still work where it was issued.",
                format!(
                    "if it is not needed, revoke it where it was issued and run \
                     `hardshell secret rm {name}`"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        hardshell_config::LoadedConfig::parse(text, std::path::Path::new("/tmp/hardshell.toml"))
            .unwrap()
            .config
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn references_anywhere_in_the_config_and_bindings_are_uses() {
        let used = used_by(&config(
            "[llm.providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\n\
             api_key = \"secret:ANTHROPIC_API_KEY\"\n\
             [channels.telegram]\nenabled = true\ntoken = \"secret:TG\"\n\
             [egress.secrets.GITHUB_TOKEN]\nhosts = [\"api.github.com\"]\n\
             [[egress.routes]]\nhosts = [\"api.github.com\"]\nports = [443]\n",
        ));
        for name in ["ANTHROPIC_API_KEY", "TG", "GITHUB_TOKEN"] {
            assert!(used.contains(name), "{name}: {used:?}");
        }
        assert!(!used.contains("OLD_KEY"));
    }

    #[test]
    fn a_secret_nothing_uses_is_found_and_used_ones_are_not() {
        let used = used_by(&config(
            "[llm.providers.openai]\nkind = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\n\
             api_key = \"secret:OPENAI\"\n",
        ));
        let declared: BTreeSet<String> = ["MODULE_KEY".to_owned()].into();
        let findings = check(
            &names(&["OPENAI", "MODULE_KEY", "OLD_KEY"]),
            &used,
            &declared,
        );
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].check, "secrets.unused");
        assert_eq!(findings[0].severity, Severity::Low);
        assert!(findings[0].what.contains("OLD_KEY"));
        assert!(findings[0].fix.contains("hardshell secret rm OLD_KEY"));
        assert!(check(&names(&["OPENAI"]), &used, &declared).is_empty());
    }
}
