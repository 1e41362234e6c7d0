//! `hardshell token create|list|revoke`: API tokens for the CLI and programs.
//! The token is printed once, at creation; only its hash is kept.

use anyhow::bail;
use chrono::{SecondsFormat, Utc};
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{TokenCreated, TokenId, TokenRevoked};
use hardshell_auth::{TokenScope, TokenStore};
use hardshell_egress::Credentials;
use hardshell_storage::ObjectKey;

use crate::cli::{Global, TokenCommand, TokenScopeArg};
use crate::context;

pub async fn run(global: &Global, command: &TokenCommand) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let master = hardshell_storage::MasterKey::load(&context::master_key_source(global, &loaded))?;
    let secrets = context::open_secrets(&loaded, &master).await?;
    // No shell runs: what is resolved here needs no leak scan.
    let mut credentials = Credentials::new(&loaded, &secrets);
    let store = context::open_state(&loaded, &master, &mut credentials).await?;
    let tokens = TokenStore::new(store.root().scope(&ObjectKey::parse("tokens")?)?);
    let audit = context::audit_scope(&loaded, &master, &mut credentials, &store).await?;
    match command {
        TokenCommand::Create {
            name,
            scope,
            expires_in,
        } => {
            let scope = match scope {
                TokenScopeArg::Chat => TokenScope::Chat,
                TokenScopeArg::Admin => TokenScope::Admin,
                TokenScopeArg::Browser => TokenScope::Browser,
            };
            let (record, token) = tokens.create(name, scope, expires_in.0, Utc::now()).await?;
            let event = AuditEvent::TokenCreated(TokenCreated {
                token_id: TokenId::new(&record.id)?,
                scope: record.scope,
                expires_at: Some(record.expires_at),
                actor: None,
            });
            if let Err(e) = context::audit_cli(&audit, event).await {
                // Unaudited, the token must not exist.
                tokens.revoke(&record.id, Utc::now()).await?;
                return Err(e.context("recording the new token in the audit log; it was revoked"));
            }
            eprintln!(
                "created token {} ({}, expires {}); it is shown only now:",
                record.id,
                record.scope.as_str(),
                record.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)
            );
            println!("{}", token.expose());
        }
        TokenCommand::List => {
            let records = tokens.list().await?;
            if records.is_empty() {
                println!("no tokens");
            }
            for record in records {
                let state = match record.revoked_at {
                    Some(_) => "revoked",
                    None if record.expires_at <= Utc::now() => "expired",
                    None => "active",
                };
                // The last use is kept to the day.
                let used = record.last_used_at.map_or_else(
                    || "never".to_owned(),
                    |at| at.format("%Y-%m-%d").to_string(),
                );
                println!(
                    "{}  {:7}  {:7}  expires {}  used {:10}  {}",
                    record.id,
                    state,
                    record.scope.as_str(),
                    record.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    used,
                    record.name
                );
            }
        }
        TokenCommand::Revoke { id } => match tokens.revoke(id, Utc::now()).await? {
            Some(record) => {
                let event = AuditEvent::TokenRevoked(TokenRevoked {
                    token_id: TokenId::new(&record.id)?,
                    actor: None,
                });
                context::audit_cli(&audit, event).await?;
                println!("revoked token {id}");
            }
            None => bail!("no token with id {id}"),
        },
    }
    Ok(())
}
