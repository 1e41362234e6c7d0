//! `hardshell pair ls|approve|add|revoke`: who may talk to the agent from a
//! chat platform. The operator at this machine, holding the master key, is
//! the authority here, as for `token create`; every change is audited.

use anyhow::{Context as _, bail};
use chrono::{SecondsFormat, Utc};
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{PairingApproved, PairingRevoked};
use hardshell_channels::{ChannelRole, Code, Pairing, Pairings, Platform, Sender};
use hardshell_egress::Credentials;
use hardshell_storage::ObjectKey;

use crate::cli::{Global, PairCommand, PairRoleArg};
use crate::context;

pub async fn run(global: &Global, command: &PairCommand) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let master = hardshell_storage::MasterKey::load(&context::master_key_source(global, &loaded))?;
    let secrets = context::open_secrets(&loaded, &master).await?;
    // No shell runs: what is resolved here needs no leak scan.
    let mut credentials = Credentials::new(&loaded, &secrets);
    let store = context::open_state(&loaded, &master, &mut credentials).await?;
    let pairings = Pairings::new(store.root().scope(&ObjectKey::parse("channels/pairing")?)?);
    let audit = context::audit_scope(&loaded, &master, &mut credentials, &store).await?;
    let now = Utc::now();
    match command {
        PairCommand::Ls => {
            let (paired, pending) = pairings.list(now).await?;
            if paired.is_empty() && pending.is_empty() {
                println!("no paired senders and no requests");
            }
            for pairing in paired {
                println!(
                    "paired   {:40}  {:5}  since {}",
                    pairing.sender.to_string(),
                    pairing.role.as_str(),
                    pairing
                        .approved_at
                        .to_rfc3339_opts(SecondsFormat::Secs, true)
                );
            }
            for request in pending {
                println!(
                    "waiting  {:40}  asked {}, expires {}",
                    request.sender.to_string(),
                    request
                        .requested_at
                        .to_rfc3339_opts(SecondsFormat::Secs, true),
                    request
                        .expires_at
                        .to_rfc3339_opts(SecondsFormat::Secs, true)
                );
            }
        }
        PairCommand::Approve { code, role } => {
            let pairing = pairings
                .approve(&Code::typed(code), role_of(*role), now)
                .await?;
            approved(&pairings, &audit, &pairing).await?;
        }
        PairCommand::Add { sender, role } => {
            let sender = parse_sender(sender)?;
            let pairing = pairings.add(&sender, role_of(*role), now).await?;
            approved(&pairings, &audit, &pairing).await?;
        }
        PairCommand::Revoke { sender } => {
            let sender = parse_sender(sender)?;
            match pairings.revoke(&sender).await? {
                Some(_) => {
                    let event = AuditEvent::PairingRevoked(PairingRevoked {
                        sender: sender.clone(),
                        actor: None,
                    });
                    context::audit_cli(&audit, event).await?;
                    println!("revoked {sender}: its next message is a stranger's");
                }
                None => bail!("{sender} is not paired"),
            }
        }
    }
    Ok(())
}

/// Records an approval, or takes it back: unaudited, it must not stand.
async fn approved(
    pairings: &Pairings,
    audit: &hardshell_storage::Scope,
    pairing: &Pairing,
) -> anyhow::Result<()> {
    let event = AuditEvent::PairingApproved(PairingApproved {
        sender: pairing.sender.clone(),
        role: pairing.role,
        subject: pairing.subject(),
        actor: None,
    });
    if let Err(e) = context::audit_cli(audit, event).await {
        pairings.revoke(&pairing.sender).await?;
        return Err(e.context("recording the pairing in the audit log; it was revoked"));
    }
    println!(
        "paired {} as {} ({})",
        pairing.sender,
        pairing.role.as_str(),
        match pairing.role {
            ChannelRole::Owner => "it is you: your sessions and memory",
            ChannelRole::Guest => "a principal of its own, chat only",
        }
    );
    Ok(())
}

fn role_of(role: PairRoleArg) -> ChannelRole {
    match role {
        PairRoleArg::Owner => ChannelRole::Owner,
        PairRoleArg::Guest => ChannelRole::Guest,
    }
}

/// `platform:id`, e.g. `telegram:123456789` or `slack:T0123:U0456`.
fn parse_sender(text: &str) -> anyhow::Result<Sender> {
    let (platform, id) = text
        .split_once(':')
        .context("a sender is platform:id, e.g. telegram:123456789")?;
    Ok(Sender::parse(Platform::parse(platform)?, id)?)
}
