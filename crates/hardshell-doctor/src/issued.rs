//! The certificates hardshell issued itself and that end: the egress CA
//! every shell trusts for the inspected routes, and each device's client
//! certificate. (The device CA lasts ten years and no device certificate
//! may outlive it: `device issue` refuses one that would.)

use chrono::{DateTime, Duration, Utc};

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &["egress.ca", "devices.certificate"];

/// Within this many days of its end the egress CA is a medium finding: a
/// rotation has to reach every client that copied the old one.
const CA_RENEW_WITHIN_DAYS: i64 = 30;
/// Within this many days of its end a device's certificate is a medium one.
const DEVICE_RENEW_WITHIN_DAYS: i64 = 14;

/// What `doctor` read of the certificates hardshell issued.
#[derive(Debug, Clone, Default)]
pub struct Issued {
    /// When the egress CA ends; `None` until `up` (or `egress ca`) made one.
    pub egress_ca: Option<DateTime<Utc>>,
    /// The device certificates not revoked.
    pub devices: Vec<Device>,
}

/// One device certificate not revoked.
#[derive(Debug, Clone)]
pub struct Device {
    pub name: String,
    pub not_after: DateTime<Utc>,
}

/// The findings for `issued` at `now`.
pub fn check(issued: &Issued, now: DateTime<Utc>) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(end) = issued.egress_ca {
        let when = end.format("%Y-%m-%d");
        let why = "Every shell trusts the egress CA for the inspected routes: once it has \
                   ended, each HTTPS request through one fails, and any client it was copied \
                   into refuses it.";
        let fix = "hardshell egress ca rotate, then install the new certificate (hardshell \
                   egress ca) wherever the old one was copied";
        if end <= now {
            findings.push(Finding::new(
                "egress.ca",
                Severity::High,
                format!("the egress CA ended on {when}"),
                why,
                fix,
            ));
        } else if end - now <= Duration::days(CA_RENEW_WITHIN_DAYS) {
            findings.push(Finding::new(
                "egress.ca",
                Severity::Medium,
                format!(
                    "the egress CA ends on {when}, in {} days",
                    (end - now).num_days()
                ),
                why,
                fix,
            ));
        }
    }
    for device in &issued.devices {
        let when = device.not_after.format("%Y-%m-%d");
        let fix = format!(
            "hardshell device revoke {name}, then hardshell device issue {name} --out DIR and \
             install what it writes on the device",
            name = device.name
        );
        if device.not_after <= now {
            findings.push(Finding::new(
                "devices.certificate",
                Severity::Low,
                format!(
                    "device {}'s certificate ended on {when} and is not revoked",
                    device.name
                ),
                "The device can no longer log in; while its name holds an ended \
                 certificate, no new one can be issued under it.",
                fix,
            ));
        } else if device.not_after - now <= Duration::days(DEVICE_RENEW_WITHIN_DAYS) {
            findings.push(Finding::new(
                "devices.certificate",
                Severity::Medium,
                format!(
                    "device {}'s certificate ends on {when}, in {} days",
                    device.name,
                    (device.not_after - now).num_days()
                ),
                "With [access.devices] required, a device without a valid certificate \
                 reaches nothing; if it is the owner's only one, the admin API is then out \
                 of reach but from this machine's command line.",
                fix,
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(findings: &[Finding]) -> Vec<(&'static str, Severity, &str)> {
        findings
            .iter()
            .map(|f| (f.check, f.severity, f.what.as_str()))
            .collect()
    }

    #[test]
    fn an_egress_ca_near_its_end_is_medium_and_past_it_high() {
        let now = DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z")
            .unwrap()
            .to_utc();
        let ca = |days| Issued {
            egress_ca: Some(now + Duration::days(days)),
            devices: Vec::new(),
        };
        assert!(check(&ca(400), now).is_empty());
        assert!(check(&Issued::default(), now).is_empty());
        assert_eq!(
            seen(&check(&ca(20), now)),
            [(
                "egress.ca",
                Severity::Medium,
                "the egress CA ends on 2026-12-26, in 20 days"
            )]
        );
        let ended = check(&ca(-1), now);
        assert_eq!(
            seen(&ended),
            [(
                "egress.ca",
                Severity::High,
                "the egress CA ended on 2026-12-05"
            )]
        );
        assert!(ended[0].fix.starts_with("hardshell egress ca rotate"));
    }

    #[test]
    fn a_device_certificate_near_its_end_is_medium_and_an_ended_one_low() {
        let now = DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z")
            .unwrap()
            .to_utc();
        let device = |name: &str, days| Device {
            name: name.into(),
            not_after: now + Duration::days(days),
        };
        let found = check(
            &Issued {
                egress_ca: None,
                devices: vec![
                    device("laptop", 300),
                    device("phone", 3),
                    device("old", -10),
                ],
            },
            now,
        );
        assert_eq!(
            seen(&found),
            [
                (
                    "devices.certificate",
                    Severity::Medium,
                    "device phone's certificate ends on 2026-12-09, in 3 days"
                ),
                (
                    "devices.certificate",
                    Severity::Low,
                    "device old's certificate ended on 2026-11-26 and is not revoked"
                ),
            ]
        );
        assert!(
            found[0]
                .fix
                .starts_with("hardshell device revoke phone, then hardshell device issue phone")
        );
    }
}
