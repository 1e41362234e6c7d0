//! `GET /agent/v1/settings`: what the agent needs from the config, which it
//! never reads itself.

use hardshell_llm::{ModelRef, ProviderKind};
use serde::{Deserialize, Serialize};

/// One entry of the fallback chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    pub model: ModelRef,
    /// The provider's wire format, reached through the agent's broker at
    /// [`ChainEntry::base_url`].
    pub wire: ProviderKind,
    /// The provider's base URL as the agent uses it: plain HTTP, through
    /// the broker (which speaks TLS on where the provider needs it).
    pub base_url: String,
    /// The placeholder the agent sends as its key (`hs-secret:LLM_<NAME>`),
    /// which the broker swaps at the provider's host; never a key.
    #[serde(default)]
    pub key: Option<String>,
}

/// What the agent needs from the config, which it never reads itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSettings {
    pub chain: Vec<ChainEntry>,
    pub max_steps: u32,
    pub turn_timeout_secs: u64,
    pub max_message_bytes: usize,
    pub max_tokens: u32,
    /// The `exec` tool, when `[exec] approval` is not `deny`.
    #[serde(default)]
    pub exec: Option<ExecSettings>,
    /// The `browser` tool, when `[browser] enabled`.
    #[serde(default)]
    pub browser: Option<BrowserSettings>,
    /// The locked modules' tools, each called through the edge
    /// (`POST /modules/v1/call`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<ModuleToolSettings>,
    /// The HTTP proxy in the agent's shell that leads to its broker: the
    /// only way to the model providers.
    pub model_proxy: String,
}

/// How the `exec` tool is described to the model. The edge decides what runs;
/// this only lets the model know what to expect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSettings {
    /// Whether commands outside `allow` are asked about (`true`) or refused.
    pub asks: bool,
    /// Programs that run without asking.
    pub allow: Vec<String>,
    pub timeout_secs: u64,
    /// Hosts a command may reach through the egress broker (`[egress]`);
    /// empty: no network at all.
    #[serde(default)]
    pub egress: Vec<String>,
    /// Of those, the hosts to call with `http://` URLs: the broker speaks
    /// TLS to them itself (and refuses a tunnel).
    #[serde(default)]
    pub tls_hosts: Vec<String>,
    /// Secrets a command may use as `hs-secret:NAME` placeholders, and where.
    #[serde(default)]
    pub secrets: Vec<SecretHint>,
}

/// How the `browser` tool is described to the model. The edge's CDP proxy
/// and the browser's broker decide what loads; this only tells the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserSettings {
    /// Hosts pages may come from; empty: any public host.
    pub allow: Vec<String>,
}

/// One tool of a locked module, as the model is offered it. The text is
/// the module publisher's (signed, accepted by the owner, checked for
/// control characters), and is offered as the tool's description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleToolSettings {
    pub module: String,
    pub tool: String,
    /// The name the model calls it by: `<module>__<tool>`, `-` kept.
    pub name: String,
    pub description: String,
    /// The JSON Schema of its arguments.
    pub parameters: serde_json::Value,
}

/// A secret as the model is told of it: its name and where the broker swaps
/// its placeholder; never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretHint {
    pub name: String,
    pub hosts: Vec<String>,
    /// The only header it works in, if bound to one.
    #[serde(default)]
    pub header: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pinned;

    #[test]
    fn settings_keep_their_wire_shape() {
        pinned::<AgentSettings>(
            r#"{"chain":[{"model":"anthropic/claude-sonnet-4-5","wire":"anthropic","base_url":"http://api.anthropic.com","key":"hs-secret:LLM_ANTHROPIC"},{"model":"local/smollm2","wire":"openai","base_url":"http://127.0.0.1:8080/v1","key":null}],"max_steps":8,"turn_timeout_secs":120,"max_message_bytes":32768,"max_tokens":4096,"exec":{"asks":true,"allow":["ls","git"],"timeout_secs":60,"egress":["api.github.com"],"tls_hosts":["api.github.com"],"secrets":[{"name":"GITHUB_TOKEN","hosts":["api.github.com"],"header":"authorization"}]},"browser":{"allow":["example.com","*.wikipedia.org"]},"modules":[{"module":"web-search","tool":"search","name":"web-search__search","description":"Search the web.","parameters":{"type":"object"}}],"model_proxy":"http://127.0.0.1:3128"}"#,
        );
        pinned::<AgentSettings>(
            r#"{"chain":[],"max_steps":1,"turn_timeout_secs":1,"max_message_bytes":1,"max_tokens":1,"exec":null,"browser":null,"model_proxy":"http://127.0.0.1:3128"}"#,
        );
    }

    #[test]
    fn optional_settings_may_be_left_out() {
        let settings: AgentSettings = serde_json::from_str(
            r#"{"chain":[{"model":"local/m","wire":"openai","base_url":"http://x"}],"max_steps":1,"turn_timeout_secs":1,"max_message_bytes":1,"max_tokens":1,"model_proxy":"p"}"#,
        )
        .unwrap();
        assert_eq!(settings.exec, None);
        assert_eq!(settings.browser, None);
        assert!(settings.modules.is_empty());
        assert_eq!(settings.chain[0].key, None);
        let exec: ExecSettings =
            serde_json::from_str(r#"{"asks":false,"allow":[],"timeout_secs":5}"#).unwrap();
        assert!(exec.egress.is_empty() && exec.tls_hosts.is_empty() && exec.secrets.is_empty());
    }
}
