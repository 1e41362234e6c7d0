//! `hardshell device issue|list|revoke`: client certificates from the edge's own
//! CA, for device posture (mTLS). The host command line is how the first device
//! is paired: with `require_device` on, nothing reaches the admin API without one.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{SecondsFormat, Utc};
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{DeviceIssued, DeviceRevoked};
use hardshell_auth::devices::DeviceName;
use hardshell_egress::Credentials;

use crate::cli::{DeviceCommand, Global};
use crate::context;

pub async fn run(global: &Global, command: &DeviceCommand) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let master = hardshell_storage::MasterKey::load(&context::master_key_source(global, &loaded))?;
    let secrets = context::open_secrets(&loaded, &master).await?;
    // No shell runs: what is resolved here needs no leak scan.
    let mut credentials = Credentials::new(&loaded, &secrets);
    let store = context::open_state(&loaded, &master, &mut credentials).await?;
    let audit = context::audit_scope(&loaded, &master, &mut credentials, &store).await?;
    let devices = hardshell_edge::device_authority(&store).await?;

    match command {
        DeviceCommand::Issue { name, days, out } => {
            let name = DeviceName::parse(name)?;
            let issued = devices
                .issue(
                    &name,
                    Duration::from_secs(days.saturating_mul(86_400)),
                    Utc::now(),
                )
                .await?;
            let event = AuditEvent::DeviceIssued(DeviceIssued {
                device: issued.name.to_string(),
                serial: issued.serial.clone(),
                actor: None,
            });
            if let Err(e) = context::audit_cli(&audit, event).await {
                devices.revoke(&name, Utc::now()).await?;
                return Err(e.context("recording the new device in the audit log; it was revoked"));
            }
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            let cert = out.join(format!("{name}.crt"));
            let key = out.join(format!("{name}.key"));
            let ca = out.join("hardshell-devices-ca.crt");
            write_new(&cert, issued.cert_pem.as_bytes(), 0o644)?;
            write_new(&key, issued.key_pem.as_bytes(), 0o600)?;
            std::fs::write(&ca, devices.ca_certificate_pem())
                .with_context(|| format!("writing {}", ca.display()))?;
            println!(
                "issued device {name} (serial {}, valid until {})",
                issued.serial,
                issued.not_after.to_rfc3339_opts(SecondsFormat::Secs, true)
            );
            println!("  certificate  {}", cert.display());
            println!(
                "  key          {} (mode 0600; hardshell keeps no copy)",
                key.display()
            );
            println!(
                "  e.g. curl --cert {} --key {} {}",
                cert.display(),
                key.display(),
                loaded.public_url
            );
            if !loaded.config.access.devices.enabled {
                eprintln!(
                    "note: [access.devices] is not enabled; the edge ignores device certificates until it is"
                );
            }
        }
        DeviceCommand::List => {
            let list = devices.list().await?;
            if list.is_empty() {
                println!("no devices");
            }
            for device in list {
                let state = match device.revoked_at {
                    Some(_) => "revoked",
                    None if device.not_after <= Utc::now() => "expired",
                    None => "active",
                };
                println!(
                    "{:24}  {:7}  serial {}  until {}",
                    device.name.as_str(),
                    state,
                    device.serial,
                    device.not_after.to_rfc3339_opts(SecondsFormat::Secs, true)
                );
            }
        }
        DeviceCommand::Revoke { name } => {
            let name = DeviceName::parse(name)?;
            let info = devices.revoke(&name, Utc::now()).await?;
            let event = AuditEvent::DeviceRevoked(DeviceRevoked {
                serial: info.serial.clone(),
                actor: None,
            });
            context::audit_cli(&audit, event).await?;
            println!(
                "revoked device {name} (serial {}); a running edge refuses it within a minute",
                info.serial
            );
        }
    }
    Ok(())
}

/// Writes a new file with `mode`, refusing to replace one.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .with_context(|| format!("writing {}", path.display()))
}
