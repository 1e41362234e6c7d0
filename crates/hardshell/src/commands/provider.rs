//! Choosing the agent's model: the providers hardshell knows, the local model
//! servers it finds on this machine's loopback, the questions `init` asks at a
//! terminal, and `hardshell config model`, which writes a choice into an
//! existing config.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use hardshell_config::edit::{self, ModelChoice};
use hardshell_config::{LoadedConfig, ProviderKind};
use zeroize::Zeroizing;

use crate::cli::{ConfigModelArgs, Global};
use crate::context;
use crate::terminal;

/// A provider hardshell can set up by name alone.
struct Known {
    name: &'static str,
    label: &'static str,
    kind: ProviderKind,
    base_url: &'static str,
    key_secret: Option<&'static str>,
    default_model: Option<&'static str>,
}

const ANTHROPIC: Known = Known {
    name: "anthropic",
    label: "Anthropic (Claude), with an API key",
    kind: ProviderKind::Anthropic,
    base_url: "https://api.anthropic.com",
    key_secret: Some("ANTHROPIC_API_KEY"),
    default_model: Some("claude-sonnet-4-5"),
};

const OPENAI: Known = Known {
    name: "openai",
    label: "OpenAI, with an API key",
    kind: ProviderKind::OpenAi,
    base_url: "https://api.openai.com/v1",
    key_secret: Some("OPENAI_API_KEY"),
    default_model: Some("gpt-4o"),
};

/// Local servers, by the port each listens on unless told otherwise.
const LOCAL: [Known; 3] = [
    Known {
        name: "ollama",
        label: "Ollama",
        kind: ProviderKind::OpenAi,
        base_url: "http://127.0.0.1:11434/v1",
        key_secret: None,
        default_model: None,
    },
    Known {
        name: "llamacpp",
        label: "llama.cpp",
        kind: ProviderKind::OpenAi,
        base_url: "http://127.0.0.1:8080/v1",
        key_secret: None,
        default_model: None,
    },
    Known {
        name: "lmstudio",
        label: "LM Studio",
        kind: ProviderKind::OpenAi,
        base_url: "http://127.0.0.1:1234/v1",
        key_secret: None,
        default_model: None,
    },
];

fn known(name: &str) -> Option<&'static Known> {
    [&ANTHROPIC, &OPENAI]
        .into_iter()
        .chain(LOCAL.iter())
        .find(|k| k.name == name)
}

/// A model server that answered on this machine's loopback.
pub struct LocalServer {
    pub name: String,
    pub label: &'static str,
    pub base_url: String,
    pub models: Vec<String>,
}

/// How long a loopback port may take to answer `GET /v1/models`.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// The most of a models list read, and of its names kept.
const MAX_MODELS_BODY: usize = 64 * 1024;
const MAX_MODELS: usize = 20;

/// The OpenAI-compatible servers listening on 127.0.0.1: Ollama's, llama.cpp's
/// and LM Studio's usual ports, and `extra` ports (named `local-PORT`). Each
/// must list its models; a model's name is kept only if a config could name
/// it (what the server says is not trusted further).
pub async fn find_local(extra: &[u16]) -> Vec<LocalServer> {
    let client = match reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
    {
        Ok(client) => client,
        Err(_) => return Vec::new(),
    };
    let mut candidates: Vec<(String, &'static str, String)> = LOCAL
        .iter()
        .map(|k| (k.name.to_owned(), k.label, k.base_url.to_owned()))
        .collect();
    for port in extra {
        let base_url = format!("http://127.0.0.1:{port}/v1");
        if !candidates.iter().any(|(_, _, url)| *url == base_url) {
            candidates.push((format!("local-{port}"), "a server", base_url));
        }
    }
    let probes = candidates.into_iter().map(|(name, label, base_url)| {
        let client = client.clone();
        async move {
            let models = list_models(&client, &base_url).await?;
            Some(LocalServer {
                name,
                label,
                base_url,
                models,
            })
        }
    });
    futures::future::join_all(probes)
        .await
        .into_iter()
        .flatten()
        .collect()
}

async fn list_models(client: &reqwest::Client, base_url: &str) -> Option<Vec<String>> {
    let mut response = client.get(format!("{base_url}/models")).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > MAX_MODELS_BODY {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    #[derive(serde::Deserialize)]
    struct Listed {
        data: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        id: String,
    }
    let listed: Listed = serde_json::from_slice(&body).ok()?;
    let models: Vec<String> = listed
        .data
        .into_iter()
        .map(|entry| entry.id)
        .filter(|id| model_name_ok(id))
        .take(MAX_MODELS)
        .collect();
    (!models.is_empty()).then_some(models)
}

/// A model name a chain can hold (`provider/<this>`), and short enough to show.
fn model_name_ok(id: &str) -> bool {
    id.len() <= 128 && hardshell_llm::ModelRef::parse(&format!("local/{id}")).is_ok()
}

/// A choice made at the terminal, and the API key typed for it.
pub struct Chosen {
    pub choice: ModelChoice,
    pub key: Option<Zeroizing<String>>,
}

/// Whether questions can be asked: both ends are a terminal.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

fn prompt(question: &str) -> anyhow::Result<String> {
    print!("{question}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer)? == 0 {
        bail!("no answer (end of input)");
    }
    Ok(answer.trim().to_owned())
}

fn prompt_or(question: &str, default: &str) -> anyhow::Result<String> {
    let answer = prompt(&format!("{question} [{default}]: "))?;
    Ok(if answer.is_empty() {
        default.to_owned()
    } else {
        answer
    })
}

fn key(secret: &str) -> anyhow::Result<Zeroizing<String>> {
    let typed = Zeroizing::new(
        rpassword::prompt_password(format!(
            "API key, stored as secret {secret} (input hidden): "
        ))
        .context("reading the API key")?,
    );
    if typed.trim().is_empty() {
        bail!("no API key was typed");
    }
    Ok(Zeroizing::new(typed.trim().to_owned()))
}

/// Asks which model the agent should use; `None` when the owner chooses to
/// set one later.
pub fn ask(found: &[LocalServer]) -> anyhow::Result<Option<Chosen>> {
    println!("Which model should hardshell's agent use?");
    let mut options: Vec<String> = vec![
        ANTHROPIC.label.to_owned(),
        OPENAI.label.to_owned(),
        "Another OpenAI-compatible server (OpenRouter, vLLM, ...): its URL, and a key if it needs one"
            .to_owned(),
    ];
    for server in found {
        options.push(format!(
            "{} on this machine at {} ({} models)",
            server.label,
            server.base_url,
            server.models.len()
        ));
    }
    options.push("None for now: I will set one later".to_owned());
    for (i, option) in options.iter().enumerate() {
        println!("  {}  {option}", i + 1);
    }
    let picked = loop {
        let answer = prompt(&format!("Choose 1-{}: ", options.len()))?;
        match answer.parse::<usize>() {
            Ok(n) if (1..=options.len()).contains(&n) => break n,
            _ => println!("Please answer with a number from 1 to {}.", options.len()),
        }
    };
    let chosen = match picked {
        1 | 2 => {
            let provider = if picked == 1 { &ANTHROPIC } else { &OPENAI };
            let model = prompt_or("Model", provider.default_model.unwrap_or_default())?;
            let secret = provider.key_secret.unwrap_or_default();
            Chosen {
                choice: ModelChoice {
                    provider: provider.name.to_owned(),
                    model,
                    kind: provider.kind,
                    base_url: provider.base_url.to_owned(),
                    key_secret: Some(secret.to_owned()),
                },
                key: Some(key(secret)?),
            }
        }
        3 => {
            let base_url = prompt("Base URL (ending in /v1, https unless on loopback): ")?;
            let model = prompt("Model: ")?;
            let needs_key = prompt_or("Does it need an API key? (y/n)", "y")?;
            let key = if needs_key.eq_ignore_ascii_case("y") {
                Some(key("COMPATIBLE_API_KEY")?)
            } else {
                None
            };
            Chosen {
                choice: ModelChoice {
                    provider: "compatible".to_owned(),
                    model,
                    kind: ProviderKind::OpenAi,
                    base_url,
                    key_secret: key.as_ref().map(|_| "COMPATIBLE_API_KEY".to_owned()),
                },
                key,
            }
        }
        n if n - 4 < found.len() => {
            let server = &found[n - 4];
            for (i, model) in server.models.iter().enumerate() {
                println!("  {}  {}", i + 1, terminal::one_line(model));
            }
            let model = loop {
                let answer = prompt_or(
                    &format!("Which model of {}? 1-{}", server.label, server.models.len()),
                    "1",
                )?;
                match answer.parse::<usize>() {
                    Ok(m) if (1..=server.models.len()).contains(&m) => {
                        break server.models[m - 1].clone();
                    }
                    _ => println!("Please answer with a number from the list."),
                }
            };
            Chosen {
                choice: ModelChoice {
                    provider: server.name.clone(),
                    model,
                    kind: ProviderKind::OpenAi,
                    base_url: server.base_url.clone(),
                    key_secret: None,
                },
                key: None,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(chosen))
}

/// What to run, without a terminal, to give the agent a model.
pub fn print_how(found: &[LocalServer]) {
    println!("no model is configured yet, so the agent cannot answer. To use Anthropic:");
    println!("  hardshell secret put ANTHROPIC_API_KEY      (the key on standard input)");
    println!("  hardshell config model anthropic/claude-sonnet-4-5");
    for server in found {
        if let Some(model) = server.models.first() {
            println!(
                "or the {} server found at {}:\n  hardshell config model {}/{} --base-url {}",
                server.label,
                server.base_url,
                server.name,
                terminal::one_line(model),
                server.base_url
            );
        }
    }
}

/// `hardshell config model PROVIDER/MODEL`: the model first in the chain, its
/// provider added if missing; the file is checked before it is replaced.
pub async fn config_model(global: &Global, args: &ConfigModelArgs) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let Some((provider, model)) = args.model.split_once('/') else {
        bail!("{:?} is not provider/model", args.model);
    };
    let preset = known(provider);
    let base_url = match (&args.base_url, preset) {
        (Some(url), _) => url.clone(),
        (None, Some(preset)) => preset.base_url.to_owned(),
        (None, None) => bail!(
            "hardshell does not know provider {provider:?}: give its --base-url \
             (and --kind anthropic if it speaks Anthropic's API)"
        ),
    };
    let kind = match args.kind.as_deref() {
        Some("anthropic") => ProviderKind::Anthropic,
        Some("openai") => ProviderKind::OpenAi,
        Some(other) => bail!("--kind is anthropic or openai, not {other:?}"),
        None => preset.map_or(ProviderKind::OpenAi, |p| p.kind),
    };
    let key_secret = match (&args.key_secret, args.no_key) {
        (Some(_), true) => bail!("--key-secret and --no-key say opposite things"),
        (Some(name), false) => Some(name.clone()),
        (None, true) => None,
        (None, false) => preset.and_then(|p| p.key_secret).map(str::to_owned),
    };
    let choice = ModelChoice {
        provider: provider.to_owned(),
        model: model.to_owned(),
        kind,
        base_url,
        key_secret,
    };
    let text = edit::use_model(loaded.text(), &choice)?;
    LoadedConfig::parse(&text, &loaded.path)
        .context("the config would not load with this model; it was not changed")?;
    replace_file(&loaded.path, &text)?;
    println!(
        "the agent now uses {} first ({})",
        choice.chain_entry(),
        loaded.path.display()
    );
    if let Some(secret) = &choice.key_secret {
        let master =
            hardshell_storage::MasterKey::load(&context::master_key_source(global, &loaded))?;
        let secrets = context::open_secrets(&loaded, &master).await?;
        let name = hardshell_secrets::SecretName::parse(secret)?;
        if !secrets.list().await?.iter().any(|info| info.name == name) {
            println!(
                "its key is not stored yet: hardshell secret put {secret} (the key on standard input)"
            );
        }
    }
    println!("restart hardshell up for it to take effect");
    Ok(())
}

/// Writes `text` beside `path` and renames it over it, keeping its mode: a
/// crash leaves the old file or the new one, never half of one.
fn replace_file(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mode = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .permissions()
        .mode();
    let mut temporary = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing beside {}", path.display()))?;
    temporary.write_all(text.as_bytes())?;
    temporary.as_file().sync_all()?;
    std::fs::set_permissions(
        temporary.path(),
        std::fs::Permissions::from_mode(mode & 0o7777),
    )?;
    temporary
        .persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
