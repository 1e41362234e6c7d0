//! `hardshell doctor`: this deployment checked (the config, the key and data
//! directory, the kernel, the edge's certificate, the store, the tokens,
//! the certificates hardshell issued, the audit logs), each finding with why it matters and the fix. Exits
//! non-zero on any high finding.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context as _;
use chrono::Utc;
use futures::StreamExt as _;
use hardshell_auth::{TokenScope, TokenStore};
use hardshell_doctor::storage::ConditionalWrites;
use hardshell_doctor::{Finding, Report, Severity};
use hardshell_egress::Credentials;
use hardshell_intercept::EgressCa;
use hardshell_llm::{
    ApiKey, ChatEvent, ChatRequest, LlmError, Message, ProviderClient, ProviderConfig,
};
use hardshell_modules::skills::Skills;
use hardshell_modules::{Modules, TrustPolicy};
use hardshell_storage::{MasterKeySource, ObjectKey, Scope, StorageError};

use crate::cli::{DoctorArgs, Global};
use crate::{context, terminal};

pub async fn run(global: &Global, args: &DoctorArgs) -> anyhow::Result<()> {
    // A config that does not load is the one finding `config check` names
    // with its file, line and key: that error is the answer.
    let loaded = context::load_config(global)?;
    let mut report = Report::default();
    report.add(
        hardshell_doctor::config::CHECKS,
        hardshell_doctor::config::check(&loaded.config),
    );
    let source = context::master_key_source(global, &loaded);
    // Paths as the fixes should name them, wherever the owner runs them.
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let key_file = match &source {
        MasterKeySource::File(path) => Some(absolute(path)),
        MasterKeySource::Env(_) => None,
    };
    report.add(
        hardshell_doctor::files::CHECKS,
        hardshell_doctor::files::check(
            &absolute(&loaded.path),
            key_file.as_deref(),
            &absolute(&loaded.data_dir()),
        ),
    );
    report.add(
        hardshell_doctor::kernel::CHECKS,
        hardshell_doctor::kernel::check(&hardshell_doctor::kernel::KernelFacts::read()),
    );
    report.add(
        hardshell_doctor::models::CHAIN_CHECKS,
        hardshell_doctor::models::check_chain(&loaded.config.llm.chain),
    );
    // A certificate from ACME is renewed by up itself; one from files is the
    // owner's to renew.
    if let Some((cert, _)) = loaded.config.edge.tls.as_ref().and_then(|t| t.files()) {
        report.add(
            hardshell_doctor::certificate::CHECKS,
            hardshell_doctor::certificate::check(
                &absolute(&loaded.base_dir().join(cert)),
                Utc::now(),
            ),
        );
    }
    // Before anything reads the stores' objects one by one: a rolled-back
    // object would stop those reads, and here it is named.
    match versions(&loaded, &source).await {
        Ok(stores) => {
            for (endpoint, problems) in stores {
                report.add(
                    hardshell_doctor::storage::VERSION_CHECKS,
                    hardshell_doctor::storage::versions(&endpoint, &problems),
                );
            }
        }
        Err(e) => report.add(
            hardshell_doctor::storage::VERSION_CHECKS,
            hardshell_doctor::storage::versions("the stores", &[format!("{e:#}")]),
        ),
    }
    match stored(&loaded, &source, args).await {
        Ok(stored) => {
            let (key_id, backed_up) = &stored.backup;
            report.add(&["storage.open"], Vec::new());
            if let Some(chain) = &stored.acme {
                report.add(
                    hardshell_doctor::certificate::CHECKS,
                    hardshell_doctor::certificate::check_acme(chain.as_deref(), Utc::now()),
                );
            }
            report.add(
                hardshell_doctor::storage::CHECKS,
                hardshell_doctor::storage::check(&stored.endpoint, stored.writes),
            );
            report.add(
                hardshell_doctor::clock::CHECKS,
                hardshell_doctor::clock::check(&stored.endpoint, stored.skew),
            );
            report.add(
                hardshell_doctor::tokens::CHECKS,
                hardshell_doctor::tokens::check(&stored.tokens, Utc::now()),
            );
            report.add(
                hardshell_doctor::issued::CHECKS,
                hardshell_doctor::issued::check(&stored.issued, Utc::now()),
            );
            report.add(
                hardshell_doctor::audit::CHECKS,
                hardshell_doctor::audit::check(&stored.verdicts),
            );
            report.add(
                hardshell_doctor::locked::CHECKS,
                hardshell_doctor::locked::check(&stored.locked),
            );
            let (stored_secrets, declared) = &stored.secrets;
            report.add(
                hardshell_doctor::secrets::CHECKS,
                hardshell_doctor::secrets::check(
                    stored_secrets,
                    &hardshell_doctor::secrets::used_by(&loaded.config),
                    declared,
                ),
            );
            report.add(
                hardshell_doctor::backup::CHECKS,
                hardshell_doctor::backup::check(key_id, *backed_up),
            );
        }
        Err(e) => report.add(
            &["storage.open"],
            vec![Finding::new(
                "storage.open",
                Severity::High,
                format!("the store cannot be opened: {e:#}"),
                "Tokens, secrets, sessions and the audit log live there: hardshell does not \
                 start without it, and the tokens and audit logs were not checked.",
                "run `hardshell config check` and fix what it names (the master key, the \
                 [storage] settings or the store's credentials)",
            )],
        ),
    }

    if args.models {
        let answers = answers(&loaded, &source)
            .await
            .context("asking the chain's models")?;
        report.add(
            hardshell_doctor::models::ANSWER_CHECKS,
            hardshell_doctor::models::check_answers(&answers),
        );
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!(
            "{}",
            report.text(&|text| terminal::printable(text).into_owned())
        );
    }
    let high = report.count(Severity::High);
    if high > 0 {
        anyhow::bail!("{high} high findings: fix them before putting this on the internet");
    }
    Ok(())
}

/// What `doctor` reads from the store.
struct Stored {
    endpoint: String,
    writes: ConditionalWrites,
    /// How far the store's clock is ahead of this machine's.
    skew: chrono::Duration,
    tokens: Vec<hardshell_doctor::tokens::Token>,
    issued: hardshell_doctor::issued::Issued,
    verdicts: Vec<hardshell_doctor::audit::Verdict>,
    locked: Vec<hardshell_doctor::locked::Verdict>,
    /// The secrets stored, and those the locked modules may use.
    secrets: (Vec<String>, BTreeSet<String>),
    /// The master key's id, and whether its backup is on record.
    backup: (String, bool),
    /// With `[edge.tls] acme`: the stored certificate's chain, if any.
    acme: Option<Option<String>>,
}

/// The secret store's and the state store's version checks (rollback
/// detection): each store's endpoint, and what is rolled back or gone there.
async fn versions(
    loaded: &hardshell_config::LoadedConfig,
    source: &MasterKeySource,
) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let master = hardshell_storage::MasterKey::load(source)?;
    let secret_store = context::open_local_secrets_store(loaded, &master).await?;
    let secrets = context::open_secrets(loaded, &master).await?;
    let mut credentials = Credentials::new(loaded, &secrets);
    let state = context::open_state(loaded, &master, &mut credentials).await?;
    let mut stores = Vec::new();
    for store in [&secret_store, &state] {
        let check = store
            .check_versions()
            .await
            .with_context(|| format!("checking the versions in {}", store.endpoint()))?;
        let problems = check.problems.iter().map(ToString::to_string).collect();
        stores.push((store.endpoint().to_owned(), problems));
    }
    Ok(stores)
}

/// The store probed, its tokens and the audit logs' verdicts.
async fn stored(
    loaded: &hardshell_config::LoadedConfig,
    source: &MasterKeySource,
    args: &DoctorArgs,
) -> anyhow::Result<Stored> {
    let master = hardshell_storage::MasterKey::load(source)?;
    let secrets = context::open_secrets(loaded, &master).await?;
    // No shell runs: what is resolved here needs no leak scan.
    let mut credentials = Credentials::new(loaded, &secrets);
    let store = context::open_state(loaded, &master, &mut credentials).await?;
    let (writes, skew) = conditional_writes(&store.root())
        .await
        .context("probing the store's conditional writes")?;
    let tokens = TokenStore::new(store.root().scope(&ObjectKey::parse("tokens")?)?)
        .list()
        .await?
        .into_iter()
        .map(|record| hardshell_doctor::tokens::Token {
            admin: record.scope == TokenScope::Admin,
            revoked: record.revoked_at.is_some(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            last_used_at: record.last_used_at,
            id: record.id,
            name: record.name,
        })
        .collect();
    let issued = issued(&secrets, &store).await?;
    let scope = context::audit_scope(loaded, &master, &mut credentials, &store).await?;
    let mut verdicts = Vec::new();
    for id in hardshell_audit::log_ids(&scope).await? {
        let report = hardshell_audit::verify(&scope, &id).await?;
        verdicts.push(hardshell_doctor::audit::Verdict {
            log: id.to_string(),
            problems: report.findings.iter().map(ToString::to_string).collect(),
        });
    }
    let (locked, declared) =
        locked(loaded, &store.root().scope(&ObjectKey::parse("modules")?)?).await?;
    let stored_secrets = secrets
        .list()
        .await?
        .into_iter()
        .map(|info| info.name.to_string())
        .collect();
    let key_id = master.id().to_string();
    let backed_up = backup_on_record(&store.root(), &key_id, args).await?;
    let acme = match loaded
        .config
        .edge
        .tls
        .as_ref()
        .and_then(|t| t.acme.as_ref())
    {
        Some(_) => Some(
            hardshell_acme::stored_chain(&store.root().scope(&ObjectKey::parse("acme")?)?).await?,
        ),
        None => None,
    };
    Ok(Stored {
        endpoint: store.endpoint().to_owned(),
        writes,
        skew,
        tokens,
        issued,
        verdicts,
        locked,
        secrets: (stored_secrets, declared),
        backup: (key_id, backed_up),
        acme,
    })
}

/// When the egress CA and each device certificate not revoked end; reads
/// only, so a store without them gets none made.
async fn issued(
    secrets: &hardshell_secrets::SecretStore,
    store: &hardshell_storage::Store,
) -> anyhow::Result<hardshell_doctor::issued::Issued> {
    let egress_ca = EgressCa::load(secrets)
        .await?
        .map(|ca| chrono::DateTime::<Utc>::from(ca.not_after()));
    let devices = match hardshell_edge::existing_device_authority(store).await? {
        Some(authority) => authority
            .list()
            .await?
            .into_iter()
            .filter(|device| device.revoked_at.is_none())
            .map(|device| hardshell_doctor::issued::Device {
                name: device.name.to_string(),
                not_after: device.not_after,
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(hardshell_doctor::issued::Issued { egress_ca, devices })
}

/// Where the owner's word that the master key is backed up is kept: the
/// key's id and when, so a new key is asked about again.
const BACKUP_RECORD: &str = "doctor/master-key-backup";

#[derive(serde::Serialize, serde::Deserialize)]
struct BackupRecord {
    key_id: String,
    confirmed_at: chrono::DateTime<Utc>,
}

/// Whether the owner said the master key `key_id` is backed up: on record
/// already, said now with `--master-key-backed-up`, or answered yes at a
/// terminal (asked once, never with `--json`). What is said is recorded.
async fn backup_on_record(root: &Scope, key_id: &str, args: &DoctorArgs) -> anyhow::Result<bool> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    let key = ObjectKey::parse(BACKUP_RECORD)?;
    let recorded = match root.get(&key).await? {
        Some(stored) => serde_json::from_slice::<BackupRecord>(&stored.value)
            .is_ok_and(|record| record.key_id == key_id),
        None => false,
    };
    if recorded {
        return Ok(true);
    }
    let said = if args.master_key_backed_up {
        true
    } else if !args.json && std::io::stdin().is_terminal() {
        eprint!(
            "Is a copy of the master key (key id {key_id}) kept somewhere other than this \
             machine? [y/N] "
        );
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        matches!(answer.trim(), "y" | "Y" | "yes" | "Yes")
    } else {
        false
    };
    if said {
        let record = BackupRecord {
            key_id: key_id.to_owned(),
            confirmed_at: Utc::now(),
        };
        root.put(&key, &serde_json::to_vec(&record)?).await?;
    }
    Ok(said)
}

/// Each locked module and OpenClaw skill, loaded as `up` loads it.
/// Whether each locked module and skill loads, and the secrets the locked
/// modules may use.
async fn locked(
    loaded: &hardshell_config::LoadedConfig,
    scope: &Scope,
) -> anyhow::Result<(Vec<hardshell_doctor::locked::Verdict>, BTreeSet<String>)> {
    let mut verdicts = Vec::new();
    let mut declared = BTreeSet::new();
    let modules = Modules::new(
        scope.clone(),
        TrustPolicy::from_config(&loaded.config.modules)?,
    );
    for module in modules.list().await? {
        declared.extend(
            module
                .capabilities
                .secrets
                .iter()
                .map(|secret| secret.name.to_string()),
        );
        let failure = modules.load(&module.name).await.err();
        verdicts.push(hardshell_doctor::locked::Verdict {
            kind: "module",
            name: module.name.to_string(),
            failure: failure.map(|e| e.to_string()),
        });
    }
    let skills = Skills::new(scope.clone());
    for skill in skills.list().await? {
        let failure = skills.load(&skill).await.err();
        verdicts.push(hardshell_doctor::locked::Verdict {
            kind: "OpenClaw skill",
            name: skill.name.to_string(),
            failure: failure.map(|e| e.to_string()),
        });
    }
    Ok((verdicts, declared))
}

/// A throwaway object under `doctor/` created, created again, replaced,
/// and updated against its first version, then deleted: whether the store
/// refused the second create and the stale update, and how far the time it
/// gave the object lies from this machine's.
async fn conditional_writes(root: &Scope) -> anyhow::Result<(ConditionalWrites, chrono::Duration)> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random)?;
    let name = format!("probe-{:016x}", u64::from_le_bytes(random));
    let key = ObjectKey::parse(&format!("doctor/{name}"))?;
    let before = Utc::now();
    let first = root.create(&key, b"first").await?;
    let after = Utc::now();
    let probed = async {
        let listed = root.scope(&ObjectKey::parse("doctor")?)?.list().await?;
        let written = listed
            .iter()
            .find(|entry| entry.key.as_str() == name)
            .map(|entry| entry.last_modified)
            .ok_or_else(|| anyhow::anyhow!("the store did not list the object just written"))?;
        let again = root.create(&key, b"again").await;
        root.put(&key, b"replaced").await?;
        let stale = root.update(&key, b"stale", &first).await;
        let refused =
            |result: &Result<_, StorageError>| matches!(result, Err(StorageError::Conflict { .. }));
        anyhow::Ok((
            ConditionalWrites {
                create_over_existing_refused: refused(&again),
                stale_update_refused: refused(&stale),
            },
            hardshell_doctor::clock::skew(before, after, written),
        ))
    }
    .await;
    // Removed whatever the probe found, so no run leaves one behind.
    root.delete(&key).await?;
    probed
}

/// One tiny request to each model of the chain, straight to its provider
/// with its key (as `up`'s broker would send it), each bounded in time.
async fn answers(
    loaded: &hardshell_config::LoadedConfig,
    source: &MasterKeySource,
) -> anyhow::Result<Vec<hardshell_doctor::models::Answer>> {
    let master = hardshell_storage::MasterKey::load(source)?;
    let secrets = context::open_secrets(loaded, &master).await?;
    let mut credentials = Credentials::new(loaded, &secrets);
    let request = ChatRequest {
        system: None,
        messages: vec![Message::user("Say OK.")],
        tools: Vec::new(),
        max_tokens: 4,
        temperature: None,
    };
    let mut answers = Vec::new();
    for model in &loaded.config.llm.chain {
        // The loader checked that each names a configured provider.
        let Some((name, model_name)) = model.split_once('/') else {
            continue;
        };
        let Some(provider) = loaded.config.llm.providers.get(name) else {
            continue;
        };
        let mut config = ProviderConfig::new(provider.kind, provider.base_url.clone());
        if let Some(reference) = &provider.api_key {
            let key = credentials
                .resolve(&format!("llm.providers.{name}.api_key"), reference)
                .await?;
            config.api_key = Some(ApiKey::new(key)?);
        }
        let asked = async {
            let client = ProviderClient::new(config)?;
            let mut reply = client.stream(model_name, &request).await?;
            while let Some(event) = reply.next().await {
                if let ChatEvent::Finished { .. } = event? {
                    break;
                }
            }
            Ok::<(), LlmError>(())
        };
        let failure = match tokio::time::timeout(ANSWER_DEADLINE, asked).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {} s", ANSWER_DEADLINE.as_secs())),
        };
        answers.push(hardshell_doctor::models::Answer {
            model: model.clone(),
            failure,
        });
    }
    Ok(answers)
}

/// How long one model may take to answer its probe.
const ANSWER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
