//! The `[llm]` and `[agent]` tables as the model gateway and the agent's
//! settings.

use std::collections::BTreeMap;

use hardshell_config::LoadedConfig;
use hardshell_llm::{MicroUsd, ModelRef, Price, PriceList, SpendCap, UsageLedger};
use hardshell_protocol::{AgentSettings, ChainEntry, ExecSettings, SecretHint};
use hardshell_storage::{ObjectKey, Store};

use crate::{Credentials, EgressError, LlmGateway, ProviderRoute};

/// Where the model gateway keeps its monthly usage: `llm/usage/<YYYY-MM>`.
pub fn ledger(loaded: &LoadedConfig, store: &Store) -> Result<UsageLedger, EgressError> {
    let mut prices = PriceList::new();
    for (i, price) in loaded.config.llm.prices.iter().enumerate() {
        let model = ModelRef::parse(&price.model)
            .map_err(|e| loaded.error_at(&format!("llm.prices[{i}]"), e.to_string()))?;
        let price = Price::from_usd_per_mtok(price.input_per_mtok, price.output_per_mtok)
            .map_err(|e| loaded.error_at(&format!("llm.prices[{i}]"), e.to_string()))?;
        prices.set_model(model, price);
    }
    Ok(UsageLedger::new(
        store.root().scope(&ObjectKey::parse("llm")?)?,
        prices,
    ))
}

/// The model gateway: the providers with their keys resolved through
/// `credentials`, which keeps each key (under its placeholder name,
/// `LLM_<NAME>`, wherever it came from) for the leak scan: the agent holds
/// none, so one it sends was obtained to be smuggled out.
pub async fn gateway(
    loaded: &LoadedConfig,
    credentials: &mut Credentials<'_>,
    store: &Store,
) -> Result<LlmGateway, EgressError> {
    // Each provider is asked only for its models in the chain.
    let mut models: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (i, entry) in loaded.config.llm.chain.iter().enumerate() {
        let model = ModelRef::parse(entry)
            .map_err(|e| loaded.error_at(&format!("llm.chain[{i}]"), e.to_string()))?;
        if let Some((name, _)) = loaded.config.llm.providers.get_key_value(model.provider()) {
            models
                .entry(name.as_str())
                .or_default()
                .push(model.model().to_owned());
        }
    }
    let mut providers = BTreeMap::new();
    for (name, provider) in &loaded.config.llm.providers {
        let key = match &provider.api_key {
            Some(reference) => Some(
                credentials
                    .resolve(&format!("llm.providers.{name}.api_key"), reference)
                    .await?,
            ),
            None => None,
        };
        let base_url = url::Url::parse(&provider.base_url).map_err(|e| {
            loaded.error_at(&format!("llm.providers.{name}.base_url"), e.to_string())
        })?;
        let kind = provider.kind;
        providers.insert(
            name.clone(),
            ProviderRoute {
                kind,
                base_url,
                key,
                models: models.remove(name.as_str()).unwrap_or_default(),
            },
        );
    }
    let ledger = ledger(loaded, store)?;
    let cap = match loaded.config.llm.monthly_cap_usd {
        Some(usd) => Some(SpendCap::new(
            ledger.clone(),
            MicroUsd::from_usd(usd)
                .map_err(|e| loaded.error_at("llm.monthly_cap_usd", e.to_string()))?,
        )),
        None => None,
    };
    let gateway = LlmGateway::new(providers, ledger, cap).map_err(EgressError::BuildGateway)?;
    for key in gateway.key_values() {
        credentials.hold_key(key);
    }
    Ok(gateway)
}

/// What the agent is told about the config: for each model, where its
/// provider is through the broker and the placeholder for its key.
pub fn agent_settings(
    loaded: &LoadedConfig,
    gateway: &LlmGateway,
    model_proxy: &str,
) -> Result<AgentSettings, EgressError> {
    let llm = &loaded.config.llm;
    let mut chain = Vec::new();
    for (i, entry) in llm.chain.iter().enumerate() {
        let model = ModelRef::parse(entry)
            .map_err(|e| loaded.error_at(&format!("llm.chain[{i}]"), e.to_string()))?;
        let provider = llm
            .providers
            .get(model.provider())
            .ok_or_else(|| loaded.error_at(&format!("llm.chain[{i}]"), "no such provider"))?;
        let wire = provider.kind;
        let through = gateway
            .agent_provider(model.provider())
            .ok_or_else(|| loaded.error_at(&format!("llm.chain[{i}]"), "no such provider"))?;
        chain.push(ChainEntry {
            model,
            wire,
            base_url: through.base_url,
            key: through.key,
        });
    }
    let agent = &loaded.config.agent;
    let mut exec = exec_settings(&loaded.config);
    if let Some(exec) = &mut exec {
        let egress = &loaded.config.egress;
        let hosts = |tls: bool| -> Vec<String> {
            let mut hosts: Vec<String> = egress
                .routes
                .iter()
                .filter(|route| !tls || route.tls)
                .flat_map(|route| route.hosts.iter().map(ToString::to_string))
                .collect();
            hosts.sort();
            hosts.dedup();
            hosts
        };
        exec.egress = hosts(false);
        exec.tls_hosts = hosts(true);
        exec.secrets = egress
            .secrets
            .iter()
            .map(|(name, binding)| SecretHint {
                name: name.clone(),
                hosts: binding.hosts.iter().map(ToString::to_string).collect(),
                header: binding.header.clone(),
            })
            .collect();
    }
    Ok(AgentSettings {
        chain,
        max_steps: agent.max_steps,
        turn_timeout_secs: agent.turn_timeout_secs,
        max_message_bytes: agent.max_message_bytes,
        max_tokens: agent.max_tokens,
        exec,
        // The `browser` tool is offered once the edge serves its CDP proxy on
        // the agent's browser socket; the wiring that starts it fills this.
        browser: None,
        // The locked modules' tools: the wiring that starts their shells
        // fills this.
        modules: Vec::new(),
        model_proxy: model_proxy.to_owned(),
    })
}

/// What the agent tells the model about its browser: where pages may load
/// from (`[browser] allow`; empty: any public host).
pub fn browser_settings(
    browser: &hardshell_config::Browser,
) -> hardshell_protocol::BrowserSettings {
    hardshell_protocol::BrowserSettings {
        allow: match browser.allow_public {
            true => Vec::new(),
            false => browser.allow.iter().map(ToString::to_string).collect(),
        },
    }
}

/// What the agent tells the model about `exec`; `None` when it has no such
/// tool (the config's `exec_runs` decides, as it decides whether tool shells
/// are started).
fn exec_settings(config: &hardshell_config::Config) -> Option<ExecSettings> {
    if !config.exec_runs() {
        return None;
    }
    let exec = &config.exec;
    Some(ExecSettings {
        asks: exec.approval == hardshell_config::Approval::Ask,
        allow: exec.allow.clone(),
        timeout_secs: exec.timeout_secs,
        egress: Vec::new(),
        tls_hosts: Vec::new(),
        secrets: Vec::new(),
    })
}
