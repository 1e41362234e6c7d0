//! `hardshell module add|ls|rm --openclaw`: the owner reviews an OpenClaw
//! skill (every file with its size, SKILL.md and every script in full,
//! the install steps it asks OpenClaw to offer) and locks its exact tree.
//! A changed skill is `add`ed again: its new digest is shown against the
//! locked one, and nothing changes without a new yes.

use std::io::IsTerminal as _;
use std::path::Path;

use anyhow::Context as _;
use chrono::{SecondsFormat, Utc};
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{ModuleAdded, ModuleRefused, ModuleRemoved};
use hardshell_modules::ModuleName;
use hardshell_modules::skills::{SKILL_MD, Skill, SkillAcceptance, SkillError, SkillTree, Skills};
use hardshell_storage::Scope;

use crate::terminal::{one_line, printable};

/// What the audit log records as the "key" of a skill: skills are not
/// signed; what pins one is its tree digest, recorded as its package.
pub const SKILL_KEY: &str = "openclaw-skill";

/// The owner's skills, with the audit log.
pub struct Owner {
    pub skills: Skills,
    pub audit: Scope,
}

impl Owner {
    pub async fn add(&self, source: &str, accept: Option<&str>) -> anyhow::Result<()> {
        let skill = match SkillTree::read(Path::new(source)).and_then(Skill::review) {
            Ok(skill) => skill,
            Err(e) => return Err(self.refuse(None, None, e).await),
        };
        let locked = self.skills.locked(&skill.name).await?;
        if let Some(locked) = &locked
            && locked.digest == skill.digest()
        {
            println!(
                "skill {} is already locked at {}; nothing changed",
                skill.name, locked.digest
            );
            return Ok(());
        }
        print_review(&skill);
        if let Some(locked) = &locked {
            println!(
                "this replaces the locked {} {} (accepted {}) with {}",
                locked.name,
                locked.digest,
                locked
                    .accepted_at
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
                skill.digest()
            );
        }
        let refused = |e| self.refuse(Some(&skill.name), Some(skill.digest()), e);
        let acceptance = match ask(&skill, accept) {
            Ok(acceptance) => acceptance,
            Err(e) => return Err(refused(e).await),
        };
        let added = match self
            .skills
            .add(&skill, &acceptance, locked.as_ref(), source, Utc::now())
            .await
        {
            Ok(added) => added,
            Err(e) => return Err(refused(e).await),
        };
        let event = AuditEvent::ModuleAdded(ModuleAdded {
            module: added.name.clone(),
            package: added.digest,
            key_id: SKILL_KEY.into(),
            official: false,
            actor: None,
        });
        if let Err(e) = crate::context::audit_cli(&self.audit, event).await {
            // Unrecorded, it must not stand (failing closed, as modules do).
            self.skills.remove(&added.name).await?;
            return Err(e.context(format!(
                "recording the change in the audit log; skill {} was removed from the lock",
                added.name
            )));
        }
        println!("added OpenClaw skill {} ({})", added.name, added.digest);
        Ok(())
    }

    pub async fn remove(&self, name: &ModuleName) -> anyhow::Result<()> {
        let removed = self.skills.remove(name).await?;
        let event = AuditEvent::ModuleRemoved(ModuleRemoved {
            module: removed.name.clone(),
            package: removed.digest,
            actor: None,
        });
        crate::context::audit_cli(&self.audit, event)
            .await
            .context("removed, but recording it in the audit log failed")?;
        println!("removed OpenClaw skill {name} ({})", removed.digest);
        Ok(())
    }

    /// The locked skills, after the modules in `hardshell module ls`
    /// (nothing when there are none: the modules' line says "no modules").
    pub async fn list(&self) -> anyhow::Result<()> {
        let locked = self.skills.list().await?;
        for skill in locked {
            println!(
                "openclaw skill {:24} {} files, {} scripts, {} install steps  {}  accepted {}",
                skill.name.as_str(),
                skill.files.len(),
                skill.scripts.len(),
                skill.install.len(),
                skill.digest,
                skill.accepted_at.to_rfc3339_opts(SecondsFormat::Secs, true)
            );
        }
        Ok(())
    }

    /// Checks every locked skill's stored files against its digest, as a
    /// start of the workload would; fails if any fails, after all.
    pub async fn verify(&self) -> anyhow::Result<()> {
        let locked = self.skills.list().await?;
        let mut failed = 0;
        for skill in &locked {
            match self.skills.load(skill).await {
                Ok(_) => println!("ok      openclaw skill {} ({})", skill.name, skill.digest),
                Err(e) => {
                    failed += 1;
                    println!(
                        "FAILED  openclaw skill {}: {}",
                        skill.name,
                        one_line(&e.to_string())
                    );
                    // The error itself is printed above; the record is what matters.
                    drop(self.refuse(Some(&skill.name), Some(skill.digest), e).await);
                }
            }
        }
        if failed > 0 {
            anyhow::bail!(
                "{failed} of {} OpenClaw skills failed verification",
                locked.len()
            );
        }
        Ok(())
    }

    /// Records the refusal and returns the error to end the command with.
    async fn refuse(
        &self,
        name: Option<&ModuleName>,
        digest: Option<hardshell_modules::Digest>,
        error: SkillError,
    ) -> anyhow::Error {
        let Some(reason) = error.refusal() else {
            return anyhow::Error::new(error);
        };
        let event = AuditEvent::ModuleRefused(ModuleRefused {
            module: name.cloned(),
            package: digest,
            reason,
            actor: None,
        });
        match crate::context::audit_cli(&self.audit, event).await {
            Ok(()) => anyhow::Error::new(error),
            Err(audit) => anyhow::Error::new(error).context(format!(
                "and recording the refusal in the audit log failed: {audit:#}"
            )),
        }
    }
}

/// The owner's yes: `--accept` naming this tree's digest, or "y" at a
/// terminal. Without either, no.
fn ask(skill: &Skill, accept: Option<&str>) -> Result<SkillAcceptance, SkillError> {
    if let Some(given) = accept {
        return SkillAcceptance::by_digest(skill, given);
    }
    let refused = |detail: String| SkillError::NotAccepted {
        name: skill.name.clone(),
        detail,
    };
    if !std::io::stdin().is_terminal() {
        return Err(refused(format!(
            "no terminal to ask on; after reviewing the above, pass --accept {}",
            skill.digest()
        )));
    }
    let question = format!("lock OpenClaw skill {} ({})?", skill.name, skill.digest());
    match super::yes_at_terminal(&question) {
        Ok(true) => Ok(SkillAcceptance::confirmed(skill)),
        Ok(false) => Err(refused("you answered no".into())),
        Err(e) => Err(refused(format!("reading the answer: {e}"))),
    }
}

/// Everything the skill is, for the owner to read: its files and sizes,
/// its SKILL.md and every script in full (escaped: a skill's text must
/// not act on the terminal), its requirements and install steps.
fn print_review(skill: &Skill) {
    println!("openclaw skill  {}", skill.name);
    println!("digest          {}", skill.digest());
    println!(
        "about           {}",
        one_line(&skill.front_matter.description)
    );
    println!("files:");
    for (path, file) in skill.tree.files() {
        let exec = if file.executable { "  executable" } else { "" };
        println!("  {:>9} bytes  {path}{exec}", file.bytes.len());
    }
    match &skill.front_matter.requirements {
        Some(requirements) => println!("requires        {}", one_line(requirements)),
        None => println!("requires        nothing declared"),
    }
    if skill.front_matter.install.is_empty() {
        println!("install steps   none");
    }
    for step in &skill.front_matter.install {
        println!("install step    {}", one_line(step));
    }
    if let Some(skill_md) = skill.tree.file(SKILL_MD) {
        print_file(SKILL_MD, &skill_md.bytes);
    }
    let scripts = skill.scripts();
    if scripts.is_empty() {
        println!("scripts         none");
    }
    for path in scripts {
        if let Some(file) = skill.tree.files().get(path) {
            print_file(&format!("script {path}"), &file.bytes);
        }
    }
    println!(
        "OpenClaw's agent follows SKILL.md and may run any file above: read them before accepting"
    );
}

/// A file in full, each line behind `| `, or a note that it is not text.
fn print_file(title: &str, bytes: &[u8]) {
    println!("----- {title} -----");
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            for line in printable(text).lines() {
                println!("| {line}");
            }
        }
        Err(_) => println!(
            "(not text: {} bytes, sha256 {}; it cannot be shown here: review it another way)",
            bytes.len(),
            hardshell_modules::sha256(bytes)
        ),
    }
    println!("----- end of {title} -----");
}
