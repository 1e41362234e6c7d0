//! `hardshell module add|ls|rm|verify|update`: the owner reviews a signed
//! module's capabilities and locks the exact package accepted. Every step
//! that refuses a package records why (`module_refused`); every change to
//! the lock is recorded, or undone when it cannot be.

use std::io::{BufRead, IsTerminal, Read, Write};

use anyhow::{Context as _, bail};
use chrono::{SecondsFormat, Utc};
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{ModuleAdded, ModuleRefused, ModuleRemoved, ModuleUpdated};
use hardshell_egress::Credentials;
use hardshell_modules::{
    Acceptance, CapabilityDiff, Digest, LockedModule, ModuleError, ModuleName, Modules,
    RegistryCredential, Source, SourceClient, TrustPolicy, Verified, WorkspaceAccess, claimed_name,
};
use hardshell_secrets::{SecretName, SecretStore};
use hardshell_storage::{ObjectKey, Scope};

use crate::cli::{Global, ModuleCommand};
use crate::context;
use crate::terminal::one_line;

mod skills;

pub async fn run(global: &Global, command: &ModuleCommand) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let master = hardshell_storage::MasterKey::load(&context::master_key_source(global, &loaded))?;
    let secrets = context::open_secrets(&loaded, &master).await?;
    // No shell runs: what is resolved here needs no leak scan.
    let mut credentials = Credentials::new(&loaded, &secrets);
    let store = context::open_state(&loaded, &master, &mut credentials).await?;
    let audit = context::audit_scope(&loaded, &master, &mut credentials, &store).await?;
    let policy = TrustPolicy::from_config(&loaded.config.modules)?;
    let mut client = SourceClient::new(None)?;
    if let ModuleCommand::Add {
        source,
        credential: Some(reference),
        ..
    }
    | ModuleCommand::Update {
        source,
        credential: Some(reference),
        ..
    } = command
    {
        if !matches!(Source::parse(source), Ok(Source::Oci(_))) {
            bail!("--credential is for oci:// sources only: it is a registry's credential");
        }
        client = client.with_registry_credential(registry_credential(&secrets, reference).await?);
    }
    let scope = store.root().scope(&ObjectKey::parse("modules")?)?;
    // OpenClaw's skills: their own lock beside the modules' (`skills.rs`).
    let skills = skills::Owner {
        skills: hardshell_modules::skills::Skills::new(scope.clone()),
        audit: audit.clone(),
    };
    let owner = Owner {
        modules: Modules::new(scope, policy),
        audit,
        client,
    };
    match command {
        ModuleCommand::Add {
            source,
            accept,
            openclaw: true,
            credential,
        } => {
            if credential.is_some() {
                bail!(
                    "--credential is for oci:// module sources: a skill is read from a folder or an archive"
                );
            }
            skills.add(source, accept.as_deref()).await
        }
        ModuleCommand::Rm {
            name,
            openclaw: true,
        } => skills.remove(&ModuleName::parse(name)?).await,
        ModuleCommand::Add { source, accept, .. } => owner.add(source, accept.as_deref()).await,
        ModuleCommand::Ls => {
            owner.list().await?;
            skills.list().await
        }
        ModuleCommand::Rm { name, .. } => owner.remove(&ModuleName::parse(name)?).await,
        ModuleCommand::Verify { name } => {
            let name = name.as_deref().map(ModuleName::parse).transpose()?;
            let modules = owner.verify(name.as_ref()).await;
            if name.is_some() {
                return modules;
            }
            // Every module, then every OpenClaw skill: both checked, either fails it.
            let skills = skills.verify().await;
            modules.and(skills)
        }
        ModuleCommand::Update {
            name,
            source,
            accept,
            ..
        } => {
            owner
                .update(&ModuleName::parse(name)?, source, accept.as_deref())
                .await
        }
    }
}

/// `secret:NAME` → the registry credential stored as `user:password`,
/// never printed.
async fn registry_credential(
    secrets: &SecretStore,
    reference: &str,
) -> anyhow::Result<RegistryCredential> {
    let Some(name) = reference.strip_prefix("secret:") else {
        bail!("--credential takes secret:NAME (a secret whose value is user:password)");
    };
    let name = SecretName::parse(name)?;
    let value = secrets
        .get(&name)
        .await?
        .with_context(|| format!("no secret named {name}"))?;
    RegistryCredential::from_secret(value.expose()).with_context(|| format!("secret {name}"))
}

/// The owner at this machine, with the lock, the audit log, and the client
/// packages are fetched with.
struct Owner {
    modules: Modules,
    audit: Scope,
    client: SourceClient,
}

/// A package read and verified, and its source as the lock records it.
struct ReadPackage {
    verified: Verified,
    source: String,
}

/// A package refused: the name it claims and its digest, when known.
struct Refused {
    name: Option<ModuleName>,
    digest: Option<Digest>,
}

impl Owner {
    async fn add(&self, source: &str, accept: Option<&str>) -> anyhow::Result<()> {
        let ReadPackage { verified, source } = self.read_and_verify(source).await?;
        let source = source.as_str();
        let name = verified.manifest().name.clone();
        if self.modules.locked(&name).await?.is_some() {
            return Err(self
                .refuse(refused_by(&verified), ModuleError::AlreadyAdded { name })
                .await);
        }
        print_review(&verified);
        let acceptance = match ask(&verified, accept, "lock it?") {
            Ok(acceptance) => acceptance,
            Err(e) => return Err(self.refuse(refused_by(&verified), e).await),
        };
        let locked = match self
            .modules
            .add(&verified, &acceptance, source, Utc::now())
            .await
        {
            Ok(locked) => locked,
            Err(e) => return Err(self.refuse(refused_by(&verified), e).await),
        };
        let event = AuditEvent::ModuleAdded(ModuleAdded {
            module: locked.name.clone(),
            package: locked.package,
            key_id: locked.key_id.to_string(),
            official: locked.official,
            actor: None,
        });
        self.stand_or_undo(&locked.name, event).await?;
        println!(
            "added {} {} ({})",
            locked.name, locked.version, locked.package
        );
        Ok(())
    }

    async fn update(
        &self,
        name: &ModuleName,
        source: &str,
        accept: Option<&str>,
    ) -> anyhow::Result<()> {
        let Some(locked) = self.modules.locked(name).await? else {
            bail!("no module named {name} is added; add it with `hardshell module add SOURCE`");
        };
        let ReadPackage { verified, source } = self.read_and_verify(source).await?;
        let source = source.as_str();
        if verified.manifest().name != *name {
            let error = ModuleError::OtherModule {
                name: name.clone(),
                found: verified.manifest().name.clone(),
            };
            return Err(self.refuse(refused_by(&verified), error).await);
        }
        if verified.digest() == locked.package {
            println!(
                "{name} is already this package ({}); nothing changed",
                locked.package
            );
            return Ok(());
        }
        print_review(&verified);
        let diff = CapabilityDiff::between(&locked, &verified);
        print_diff(&locked, &diff);
        let acceptance = match ask(&verified, accept, "replace it?") {
            Ok(acceptance) => acceptance,
            Err(e) => return Err(self.refuse(refused_by(&verified), e).await),
        };
        let updated = match self
            .modules
            .update(&locked, &verified, &acceptance, source, Utc::now())
            .await
        {
            Ok(updated) => updated,
            Err(e) => return Err(self.refuse(refused_by(&verified), e).await),
        };
        let event = AuditEvent::ModuleUpdated(ModuleUpdated {
            module: updated.name.clone(),
            previous: locked.package,
            package: updated.package,
            key_id: updated.key_id.to_string(),
            widened: diff.widens(),
            actor: None,
        });
        self.stand_or_undo(&updated.name, event).await?;
        println!(
            "updated {name} {} -> {} ({})",
            locked.version, updated.version, updated.package
        );
        Ok(())
    }

    async fn remove(&self, name: &ModuleName) -> anyhow::Result<()> {
        let removed = self.modules.remove(name).await?;
        let event = AuditEvent::ModuleRemoved(ModuleRemoved {
            module: removed.name.clone(),
            package: removed.package,
            actor: None,
        });
        // Removing is the safe direction: it stands even unrecorded.
        context::audit_cli(&self.audit, event)
            .await
            .context("removed, but recording it in the audit log failed")?;
        println!("removed {name} {} ({})", removed.version, removed.package);
        Ok(())
    }

    async fn list(&self) -> anyhow::Result<()> {
        let locked = self.modules.list().await?;
        if locked.is_empty() {
            println!("no modules");
        }
        for module in locked {
            println!(
                "{:24} {:10} {:24} key {} ({}, {})  {}  accepted {}",
                module.name.as_str(),
                module.version.to_string(),
                one_line(&module.publisher),
                one_line(&module.key_name),
                module.key_id,
                official_word(module.official),
                module.package,
                module
                    .accepted_at
                    .to_rfc3339_opts(SecondsFormat::Secs, true)
            );
        }
        Ok(())
    }

    /// Loads each locked module as a runtime would; any failure fails the
    /// command after every module was checked.
    async fn verify(&self, only: Option<&ModuleName>) -> anyhow::Result<()> {
        let names: Vec<ModuleName> = match only {
            // A name never added is a mistake to point out, not a module to refuse.
            Some(name) if self.modules.locked(name).await?.is_none() => {
                bail!("no module named {name} is added")
            }
            Some(name) => vec![name.clone()],
            None => self
                .modules
                .list()
                .await?
                .into_iter()
                .map(|m| m.name)
                .collect(),
        };
        if names.is_empty() {
            println!("no modules");
        }
        let mut failed = 0;
        for name in &names {
            match self.modules.load(name).await {
                Ok(loaded) => println!(
                    "ok      {name} {} ({})",
                    loaded.locked.version, loaded.locked.package
                ),
                Err(e) => {
                    failed += 1;
                    println!("FAILED  {name}: {}", one_line(&e.to_string()));
                    let digest = self
                        .modules
                        .locked(name)
                        .await
                        .ok()
                        .flatten()
                        .map(|m| m.package);
                    let refused = Refused {
                        name: Some(name.clone()),
                        digest,
                    };
                    self.record_refusal(&refused, &e).await?;
                }
            }
        }
        if failed > 0 {
            bail!("{failed} of {} modules failed verification", names.len());
        }
        Ok(())
    }

    /// Reads `source` and runs the trust policy on it; a refusal is
    /// audited. A registry reference by tag is shown, and recorded, with
    /// the manifest digest it resolved to.
    async fn read_and_verify(&self, given: &str) -> anyhow::Result<ReadPackage> {
        let nothing = Refused {
            name: None,
            digest: None,
        };
        let read = async {
            let source = Source::parse(given)?;
            let fetched = source.read(&self.client).await?;
            let recorded = fetched.recorded_source(&source, given);
            Ok::<_, ModuleError>((fetched.package, recorded))
        };
        let (package, source) = match read.await {
            Ok(read) => read,
            Err(e) => return Err(self.refuse(nothing, e).await),
        };
        if source != given {
            println!("pulled     {}", one_line(&source));
        }
        let refused = Refused {
            name: claimed_name(package.manifest()),
            digest: Some(package.digest()),
        };
        match self.modules.policy().verify(package) {
            Ok(verified) => Ok(ReadPackage { verified, source }),
            Err(e) => Err(self.refuse(refused, e).await),
        }
    }

    /// Records the refusal and returns the error to end the command with.
    async fn refuse(&self, refused: Refused, error: ModuleError) -> anyhow::Error {
        match self.record_refusal(&refused, &error).await {
            Ok(()) => anyhow::Error::new(error),
            Err(audit) => anyhow::Error::new(error).context(format!(
                "and recording the refusal in the audit log failed: {audit:#}"
            )),
        }
    }

    async fn record_refusal(&self, refused: &Refused, error: &ModuleError) -> anyhow::Result<()> {
        let Some(reason) = error.refusal() else {
            return Ok(());
        };
        let event = AuditEvent::ModuleRefused(ModuleRefused {
            module: refused.name.clone(),
            package: refused.digest,
            reason,
            actor: None,
        });
        context::audit_cli(&self.audit, event).await
    }

    /// Records a change to the lock; unrecorded, it must not stand, so the
    /// module is taken out of the lock (failing closed: the owner adds it
    /// again once the audit log works).
    async fn stand_or_undo(&self, name: &ModuleName, event: AuditEvent) -> anyhow::Result<()> {
        if let Err(e) = context::audit_cli(&self.audit, event).await {
            self.modules.remove(name).await?;
            return Err(e.context(format!(
                "recording the change in the audit log; {name} was removed from the lock"
            )));
        }
        Ok(())
    }
}

fn refused_by(verified: &Verified) -> Refused {
    Refused {
        name: Some(verified.manifest().name.clone()),
        digest: Some(verified.digest()),
    }
}

/// The owner's yes: `--accept` naming this package's digest, or "y" typed
/// at a terminal. Without a terminal and without `--accept`, no.
fn ask(
    verified: &Verified,
    accept: Option<&str>,
    question: &str,
) -> Result<Acceptance, ModuleError> {
    let name = verified.manifest().name.clone();
    if let Some(given) = accept {
        return Acceptance::by_digest(verified, given);
    }
    if !std::io::stdin().is_terminal() {
        return Err(ModuleError::NotAccepted {
            name,
            detail: format!(
                "no terminal to ask on; after reviewing the above, pass --accept {}",
                verified.digest()
            ),
        });
    }
    eprint!("{question} accept {} ({})? [y/N] ", name, verified.digest());
    let _ = std::io::stderr().flush();
    let answer = read_answer().map_err(|e| ModuleError::NotAccepted {
        name: name.clone(),
        detail: format!("reading the answer: {e}"),
    })?;
    match answer.trim() {
        "y" | "Y" | "yes" => Ok(Acceptance::confirmed(verified)),
        _ => Err(ModuleError::NotAccepted {
            name,
            detail: "you answered no".into(),
        }),
    }
}

/// Asks `question` at the terminal; only a typed yes is true.
fn yes_at_terminal(question: &str) -> std::io::Result<bool> {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    Ok(matches!(read_answer()?.trim(), "y" | "Y" | "yes"))
}

/// One line typed at the terminal; a few bytes are enough for a yes, and
/// no more than 256 are read.
fn read_answer() -> std::io::Result<String> {
    let mut line = Vec::new();
    std::io::stdin()
        .lock()
        .take(256)
        .read_until(b'\n', &mut line)?;
    line.truncate(16);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Who signed it and everything it may do, in plain words. Every text the
/// package wrote is shown escaped: it was checked for controls, and is
/// shown safely all the same.
fn print_review(verified: &Verified) {
    let manifest = verified.manifest();
    let signer = verified.signer();
    println!("module     {} {}", manifest.name, manifest.version);
    println!(
        "publisher  {} (as the package says it)",
        one_line(&manifest.publisher)
    );
    println!(
        "signed by  {} (key {}, {})",
        one_line(&signer.key_name),
        signer.key_id,
        official_word(signer.official)
    );
    println!("key        {}", signer.key);
    println!("package    {}", verified.digest());
    println!("about      {}", one_line(&manifest.description));
    if manifest.tools.is_empty() {
        println!("tools      none");
    }
    for tool in &manifest.tools {
        println!("tool       {}: {}", tool.name, one_line(&tool.description));
    }
    let capabilities = &manifest.capabilities;
    println!("it may:");
    if capabilities.hosts.is_empty() && !capabilities.public_web {
        println!("  reach no host");
    }
    if capabilities.public_web {
        println!(
            "  read ANY public web page: GET and HEAD of any host on port 443 or 80 (the broker \
             refuses internal addresses; no secret is sent there)"
        );
    }
    for host in &capabilities.hosts {
        println!("  reach {host}");
    }
    for secret in &capabilities.secrets {
        println!("  use secret {}, only toward {}", secret.name, secret.host);
    }
    println!(
        "  {}",
        match capabilities.workspace {
            WorkspaceAccess::None => "not see the conversation's workspace",
            WorkspaceAccess::Read => "read the conversation's workspace",
            WorkspaceAccess::Write => "read and write the conversation's workspace",
        }
    );
    println!(
        "  use up to {} MiB of memory and {} ms a call",
        capabilities.memory_mb, capabilities.timeout_ms
    );
}

fn print_diff(locked: &LockedModule, diff: &CapabilityDiff) {
    println!(
        "changes from the locked {} {}:",
        locked.name, locked.version
    );
    if diff.changes.is_empty() {
        println!("  none but the package's bytes");
    }
    for change in &diff.changes {
        println!("  {}", one_line(&change.to_string()));
    }
    if diff.widens() {
        println!("this update asks for more than you accepted (+ above)");
    } else {
        println!("this update asks for nothing new; it still needs your yes");
    }
}

fn official_word(official: bool) -> &'static str {
    if official { "official" } else { "not official" }
}
