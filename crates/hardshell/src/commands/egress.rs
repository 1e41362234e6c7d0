//! `hardshell egress ca [rotate]`: the egress CA's certificate, for an
//! operator's own clients, and its replacement. The key stays in the secret
//! store; nothing here prints or writes it.

use std::time::UNIX_EPOCH;

use chrono::{DateTime, SecondsFormat, Utc};
use hardshell_audit::AuditEvent;
use hardshell_audit::event::SecretStored;
use hardshell_intercept::{CA_SECRET, EgressCa};
use hardshell_secrets::SecretName;

use crate::cli::{CaAction, EgressCommand, Global};
use crate::context;

pub async fn run(global: &Global, command: &EgressCommand) -> anyhow::Result<()> {
    let EgressCommand::Ca { action } = command;
    let loaded = context::load_config(global)?;
    let master = hardshell_storage::MasterKey::load(&context::master_key_source(global, &loaded))?;
    let secrets = context::open_secrets(&loaded, &master).await?;
    let id = context::install_id();
    match action {
        None => {
            let (ca, made) = EgressCa::load_or_make(&secrets, &id).await?;
            if made {
                let event = AuditEvent::SecretStored(SecretStored {
                    name: SecretName::parse(CA_SECRET)?,
                    replaced: false,
                    actor: None,
                });
                super::secret::audit(&loaded, &master, &secrets, event).await;
            }
            // The certificate alone on standard output, so `> ca.pem` is it.
            print!("{}", ca.ca_pem());
            eprintln!("{}", describe(&ca));
        }
        Some(CaAction::Rotate) => {
            let ca = EgressCa::rotate(&secrets, &id).await?;
            let event = AuditEvent::SecretStored(SecretStored {
                name: SecretName::parse(CA_SECRET)?,
                replaced: true,
                actor: None,
            });
            super::secret::audit(&loaded, &master, &secrets, event).await;
            println!("replaced the egress CA: {}", describe(&ca));
            println!(
                "a running edge takes it up within a second (its log says \"egress CA replaced\"); \
                 clients you gave the old certificate need the new one (`hardshell egress ca`)"
            );
        }
    }
    Ok(())
}

fn describe(ca: &EgressCa) -> String {
    let until = ca
        .not_after()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| DateTime::<Utc>::from_timestamp(i64::try_from(d.as_secs()).ok()?, 0))
        .map_or_else(
            || "?".to_owned(),
            |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
    format!("fingerprint {}, valid until {until}", ca.fingerprint())
}
