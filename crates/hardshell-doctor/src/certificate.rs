//! The edge's own certificate (`[edge.tls] cert`): not expired, and not
//! about to.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &["tls.certificate"];

/// Within this many days of its end a certificate is a medium finding.
const RENEW_WITHIN_DAYS: i64 = 21;
/// Within this many, or past its end, a high one.
const URGENT_WITHIN_DAYS: i64 = 3;

/// The findings for the certificate chain at `path`, whose first
/// certificate is the edge's, at `now`.
pub fn check(path: &Path, now: DateTime<Utc>) -> Vec<Finding> {
    let finding = |severity, what: String, why: &str, fix: &str| {
        vec![Finding::new("tls.certificate", severity, what, why, fix)]
    };
    let not_after = match std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| not_after(&bytes))
    {
        Ok(end) => end,
        Err(why) => {
            return finding(
                Severity::High,
                format!(
                    "the edge's certificate {} cannot be read: {why}",
                    path.display()
                ),
                "The edge does not start without it.",
                "point [edge.tls] cert at the PEM file of the certificate and its chain",
            );
        }
    };
    let left = not_after - now;
    let when = not_after.format("%Y-%m-%d %H:%M UTC");
    let why = "Browsers and clients refuse an expired certificate: the owner is locked out \
               until it is replaced, and is taught to click through warnings.";
    let fix = "renew it and put the new one at the same path; the edge reads it again at \
               its next start";
    if left <= Duration::zero() {
        finding(
            Severity::High,
            format!(
                "the edge's certificate {} expired on {when}",
                path.display()
            ),
            why,
            fix,
        )
    } else if left <= Duration::days(URGENT_WITHIN_DAYS) {
        finding(
            Severity::High,
            format!(
                "the edge's certificate {} expires on {when}",
                path.display()
            ),
            why,
            fix,
        )
    } else if left <= Duration::days(RENEW_WITHIN_DAYS) {
        finding(
            Severity::Medium,
            format!(
                "the edge's certificate {} expires on {when}",
                path.display()
            ),
            why,
            fix,
        )
    } else {
        Vec::new()
    }
}

/// The findings for the certificate `hardshell up` got from ACME, as stored
/// (its chain's PEM), at `now`. `up` renews it 30 days before its end (a third
/// of its life for a shorter one): two thirds of that window gone by with
/// the certificate still there means renewals fail (three weeks left, for
/// Let's Encrypt's 90 days). None stored means no order has succeeded yet.
pub fn check_acme(chain_pem: Option<&str>, now: DateTime<Utc>) -> Vec<Finding> {
    let finding = |severity, what: String, why: &str, fix: &str| {
        vec![Finding::new("tls.certificate", severity, what, why, fix)]
    };
    let fix = "read `hardshell up`'s log for the ACME server's words (\"getting a certificate \
               from the ACME server failed\"): the names must reach the edge on port 443 \
               (or http_listen on 80 with challenge = \"http-01\")";
    let Some(chain) = chain_pem else {
        return finding(
            Severity::Medium,
            "no certificate from ACME is stored yet".to_owned(),
            "Until one is, the edge completes no TLS handshake but an ACME server's.",
            fix,
        );
    };
    let (not_before, not_after) = match validity(chain.as_bytes()) {
        Ok(validity) => validity,
        Err(why) => {
            return finding(
                Severity::High,
                format!("the stored ACME certificate cannot be read: {why}"),
                "The edge orders a new one, and serves nothing until it has it.",
                fix,
            );
        }
    };
    let when = not_after.format("%Y-%m-%d %H:%M UTC");
    let why = "A certificate from ACME is renewed 30 days before its end: one this close \
               to it means renewals fail, and browsers will refuse it when it ends.";
    let left = not_after - now;
    let window = Duration::days(30).min((not_after - not_before) / 3);
    if left <= Duration::zero() {
        finding(
            Severity::High,
            format!("the edge's ACME certificate expired on {when}"),
            why,
            fix,
        )
    } else if left <= window * 2 / 3 {
        finding(
            Severity::High,
            format!("the edge's ACME certificate expires on {when} and was not renewed"),
            why,
            fix,
        )
    } else {
        Vec::new()
    }
}

/// When the first certificate in the PEM `bytes` ends.
fn not_after(bytes: &[u8]) -> Result<DateTime<Utc>, String> {
    validity(bytes).map(|(_, end)| end)
}

/// When the first certificate in the PEM `bytes` starts and ends.
fn validity(bytes: &[u8]) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let blocks = pem::parse_many(bytes).map_err(|e| e.to_string())?;
    let first = blocks
        .iter()
        .find(|block| block.tag() == "CERTIFICATE")
        .ok_or("no CERTIFICATE in it")?;
    let (_, certificate) =
        x509_parser::parse_x509_certificate(first.contents()).map_err(|e| e.to_string())?;
    let time = |at: i64| {
        DateTime::from_timestamp(at, 0).ok_or_else(|| format!("a time out of range: {at}"))
    };
    Ok((
        time(certificate.validity().not_before.timestamp())?,
        time(certificate.validity().not_after.timestamp())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate's PEM, valid until `end`.
    fn certificate_until(end: DateTime<Utc>) -> String {
        let mut params = rcgen::CertificateParams::new(vec!["hs.test".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = time::OffsetDateTime::from_unix_timestamp(end.timestamp()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    fn severities(path: &Path, now: DateTime<Utc>) -> Vec<Severity> {
        check(path, now).into_iter().map(|f| f.severity).collect()
    }

    #[test]
    fn a_certificate_is_medium_three_weeks_before_its_end_and_high_three_days_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        let end = DateTime::parse_from_rfc3339("2026-12-31T00:00:00Z")
            .unwrap()
            .to_utc();
        std::fs::write(&path, certificate_until(end)).unwrap();
        assert_eq!(severities(&path, end - Duration::days(60)), []);
        assert_eq!(
            severities(&path, end - Duration::days(20)),
            [Severity::Medium]
        );
        assert_eq!(severities(&path, end - Duration::days(2)), [Severity::High]);
        let past = check(&path, end + Duration::days(1));
        assert_eq!(past.len(), 1);
        assert!(
            past[0].what.ends_with("expired on 2026-12-31 00:00 UTC"),
            "{past:?}"
        );
    }

    #[test]
    fn an_acme_certificate_not_renewed_three_weeks_before_its_end_is_high() {
        let end = DateTime::parse_from_rfc3339("2026-12-31T00:00:00Z")
            .unwrap()
            .to_utc();
        let pem = certificate_until(end);
        let severities = |now| {
            check_acme(Some(&pem), now)
                .into_iter()
                .map(|f| f.severity)
                .collect::<Vec<_>>()
        };
        assert_eq!(severities(end - Duration::days(40)), []);
        assert_eq!(severities(end - Duration::days(20)), [Severity::High]);
        assert_eq!(severities(end + Duration::days(1)), [Severity::High]);
        let none = check_acme(None, end);
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].severity, Severity::Medium);
        assert_eq!(check_acme(Some("junk"), end)[0].severity, Severity::High);
    }

    #[test]
    fn a_missing_or_unreadable_certificate_is_high() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        assert_eq!(severities(&path, Utc::now()), [Severity::High]);
        std::fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let found = check(&path, Utc::now());
        assert!(found[0].what.ends_with("no CERTIFICATE in it"), "{found:?}");
    }
}
