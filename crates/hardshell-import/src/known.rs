//! What the import knows about the secrets a Moltworker deployment holds:
//! each model provider's key and each channel's token, with the hosts the
//! broker may send it to. `wrangler.toml` does not list secrets (they live in
//! Cloudflare, put by `wrangler secret put`), so they are derived from
//! `LLM_PROVIDER`/`LLM_FALLBACK_PROVIDER` and named with `--secret`.

/// A secret the workload uses, and where it may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KnownSecret {
    /// The variable OpenClaw reads, and the secret's name in hardshell.
    pub(crate) name: &'static str,
    /// The only hosts the broker may send it to.
    pub(crate) hosts: &'static [&'static str],
}

/// `LLM_PROVIDER` values (OpenClaw's provider ids) and their keys.
const PROVIDERS: &[(&str, KnownSecret)] = &[
    (
        "anthropic",
        KnownSecret {
            name: "ANTHROPIC_API_KEY",
            hosts: &["api.anthropic.com"],
        },
    ),
    (
        "openai",
        KnownSecret {
            name: "OPENAI_API_KEY",
            hosts: &["api.openai.com"],
        },
    ),
    (
        "google",
        KnownSecret {
            name: "GEMINI_API_KEY",
            hosts: &["generativelanguage.googleapis.com"],
        },
    ),
    (
        "openrouter",
        KnownSecret {
            name: "OPENROUTER_API_KEY",
            hosts: &["openrouter.ai"],
        },
    ),
    (
        "mistral",
        KnownSecret {
            name: "MISTRAL_API_KEY",
            hosts: &["api.mistral.ai"],
        },
    ),
    (
        "groq",
        KnownSecret {
            name: "GROQ_API_KEY",
            hosts: &["api.groq.com"],
        },
    ),
    (
        "xai",
        KnownSecret {
            name: "XAI_API_KEY",
            hosts: &["api.x.ai"],
        },
    ),
];

/// Channel tokens the seed's readers put with `wrangler secret put`.
const CHANNELS: &[KnownSecret] = &[
    KnownSecret {
        name: "TELEGRAM_BOT_TOKEN",
        hosts: &["api.telegram.org"],
    },
    KnownSecret {
        name: "DISCORD_BOT_TOKEN",
        hosts: &["discord.com", "gateway.discord.gg"],
    },
    KnownSecret {
        name: "SLACK_BOT_TOKEN",
        hosts: &["slack.com"],
    },
    KnownSecret {
        name: "SLACK_APP_TOKEN",
        hosts: &["slack.com", "wss-primary.slack.com"],
    },
];

/// The key of a provider id (`anthropic`), if the import knows it.
pub(crate) fn provider(id: &str) -> Option<KnownSecret> {
    let id = id.trim().to_ascii_lowercase();
    PROVIDERS
        .iter()
        .find(|(known, _)| *known == id)
        .map(|(_, secret)| *secret)
}

/// A secret by its name, among providers' keys and channels' tokens.
pub(crate) fn by_name(name: &str) -> Option<KnownSecret> {
    PROVIDERS
        .iter()
        .map(|(_, secret)| *secret)
        .chain(CHANNELS.iter().copied())
        .find(|secret| secret.name == name)
}

/// The provider ids the import knows, for an error naming them.
pub(crate) fn provider_ids() -> Vec<&'static str> {
    PROVIDERS.iter().map(|(id, _)| *id).collect()
}
