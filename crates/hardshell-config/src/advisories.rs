//! Known-vulnerable OpenClaw releases: an image reference that names one is
//! refused at load (unless `[dangerous] known_vulnerable_images`), by
//! `hardshell import`, and is meant for `hardshell doctor`.
//!
//! Judged by the image's tag only: a tag is a claim, not proof (the digest
//! pins the bytes, not the version inside), so this catches the deployments
//! that say which release they run — the seed's own advice is to pin a tag —
//! and says nothing about an untagged or unrecognised one.

use std::cmp::Ordering;
use std::fmt;

use hardshell_vocabulary::ImageRef;

/// Repository names OpenClaw has been published under (it was Clawdbot, then
/// Moltbot); the last path component of the image's repository is compared.
const OPENCLAW_NAMES: &[&str] = &["openclaw", "clawdbot", "moltbot"];

/// One advisory with a remote-code-execution impact and its first fixed release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advisory {
    /// CVE or GHSA identifier.
    pub id: &'static str,
    /// Other identifiers for it.
    pub aliases: &'static [&'static str],
    /// What an attacker gets.
    pub summary: &'static str,
    /// The first release without it.
    pub fixed_in: OpenClawVersion,
}

/// The table. GHSA-rqpp-rjj8-7wv8 and GHSA-943q-mwmv-hhvh (named in the
/// project's notes) are not here: their affected ranges could not be
/// confirmed, and a guessed range would refuse or pass the wrong releases.
pub const OPENCLAW_ADVISORIES: &[Advisory] = &[
    Advisory {
        id: "CVE-2026-25253",
        aliases: &[],
        summary: "the Control UI follows a gatewayUrl query parameter and sends it the \
                  gateway token, which gives remote code execution",
        fixed_in: OpenClawVersion::release(2026, 1, 29),
    },
    Advisory {
        id: "CVE-2026-25593",
        aliases: &["GHSA-g55j-c2v4-pjcg"],
        summary: "config.apply over the gateway's WebSocket API without authentication \
                  sets a cliPath the gateway then runs",
        fixed_in: OpenClawVersion::release(2026, 1, 20),
    },
];

/// An OpenClaw release: `YYYY.M.D`, with an optional `-N` re-publish (later
/// than the plain release) or another suffix (a pre-release, earlier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenClawVersion {
    year: u16,
    month: u8,
    day: u8,
    /// `-beta.1` and the like: before the release of the same date.
    prerelease: bool,
}

impl OpenClawVersion {
    const fn release(year: u16, month: u8, day: u8) -> Self {
        Self {
            year,
            month,
            day,
            prerelease: false,
        }
    }

    /// `2026.9.6`, `v2026.1.29`, `2026.2.6-3`, `2026.3.0-beta.1`; `None` for
    /// anything else (`latest`, `v2.4.1`: no OpenClaw release looks like that).
    pub fn parse(tag: &str) -> Option<Self> {
        let tag = tag.strip_prefix('v').unwrap_or(tag);
        let (core, suffix) = match tag.split_once('-') {
            Some((core, suffix)) => (core, Some(suffix)),
            None => (tag, None),
        };
        let mut parts = core.split('.');
        let number = |part: Option<&str>| {
            part.filter(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u16>().ok())
        };
        let (year, month, day) = (
            number(parts.next())?,
            number(parts.next())?,
            number(parts.next())?,
        );
        if parts.next().is_some() || !(2025..=2100).contains(&year) {
            return None;
        }
        let month = u8::try_from(month).ok().filter(|m| (1..=12).contains(m))?;
        let day = u8::try_from(day).ok().filter(|d| d <= &31)?;
        let prerelease =
            suffix.is_some_and(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()));
        Some(Self {
            year,
            month,
            day,
            prerelease,
        })
    }
}

impl PartialOrd for OpenClawVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OpenClawVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.year, self.month, self.day)
            .cmp(&(other.year, other.month, other.day))
            // A pre-release comes before the release of its date.
            .then(other.prerelease.cmp(&self.prerelease))
    }
}

impl fmt::Display for OpenClawVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.year, self.month, self.day)
    }
}

/// What the table says about an image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not an OpenClaw image (by its repository's name), or a local layout.
    NotOpenClaw,
    /// OpenClaw, but its tag names no release this can compare (`latest`,
    /// none): whether it is affected cannot be told from the reference.
    Unknown,
    /// A release no advisory in the table affects.
    Clear(OpenClawVersion),
    /// A release the listed advisories affect.
    Affected(OpenClawVersion, Vec<&'static Advisory>),
}

/// Judges `image` against [`OPENCLAW_ADVISORIES`].
pub fn openclaw_verdict(image: &ImageRef) -> Verdict {
    let is_openclaw = image
        .image_name()
        .is_some_and(|name| OPENCLAW_NAMES.contains(&name));
    if !is_openclaw {
        return Verdict::NotOpenClaw;
    }
    let Some(version) = image.tag().and_then(OpenClawVersion::parse) else {
        return Verdict::Unknown;
    };
    let affected: Vec<&'static Advisory> = OPENCLAW_ADVISORIES
        .iter()
        .filter(|advisory| version < advisory.fixed_in)
        .collect();
    if affected.is_empty() {
        Verdict::Clear(version)
    } else {
        Verdict::Affected(version, affected)
    }
}

/// The first release no advisory in the table affects.
pub fn openclaw_floor() -> OpenClawVersion {
    OPENCLAW_ADVISORIES
        .iter()
        .map(|advisory| advisory.fixed_in)
        .max()
        .unwrap_or(OpenClawVersion::release(2026, 1, 29))
}

/// The refusal's text: which advisories, and the release to move to.
pub fn describe_affected(version: OpenClawVersion, advisories: &[&Advisory]) -> String {
    let list: Vec<String> = advisories
        .iter()
        .map(|advisory| {
            format!(
                "{} ({}; fixed in {})",
                advisory.id, advisory.summary, advisory.fixed_in
            )
        })
        .collect();
    format!(
        "OpenClaw {version} has known remote-code-execution vulnerabilities: {}; use {} or later",
        list.join("; "),
        openclaw_floor()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn verdict(reference: &str) -> Verdict {
        openclaw_verdict(&ImageRef::parse(&format!("{reference}@sha256:{HEX}")).unwrap())
    }

    #[test]
    fn releases_before_the_gateway_url_fix_are_affected() {
        let Verdict::Affected(version, advisories) = verdict("ghcr.io/openclaw/openclaw:2026.1.28")
        else {
            panic!()
        };
        assert_eq!(version.to_string(), "2026.1.28");
        let ids: Vec<_> = advisories.iter().map(|a| a.id).collect();
        assert_eq!(ids, ["CVE-2026-25253"]);
        let Verdict::Affected(_, advisories) = verdict("ghcr.io/openclaw/openclaw:v2026.1.5")
        else {
            panic!()
        };
        assert_eq!(advisories.len(), 2);
        // The last vulnerable npm release, republished, under the old name.
        assert!(matches!(
            verdict("clawdbot:2026.1.24-3"),
            Verdict::Affected(..)
        ));
        // A pre-release of the fixed date is not the fix.
        assert!(matches!(
            verdict("ghcr.io/openclaw/openclaw:2026.1.29-beta.1"),
            Verdict::Affected(..)
        ));
    }

    #[test]
    fn the_fixed_release_and_later_are_clear() {
        for tag in [
            "2026.1.29",
            "v2026.1.29",
            "2026.1.29-2",
            "2026.9.6",
            "2027.1.1",
        ] {
            assert!(
                matches!(
                    verdict(&format!("ghcr.io/openclaw/openclaw:{tag}")),
                    Verdict::Clear(_)
                ),
                "{tag}"
            );
        }
        assert_eq!(openclaw_floor().to_string(), "2026.1.29");
    }

    #[test]
    fn tags_that_name_no_release_and_other_images_are_not_judged() {
        for reference in [
            "ghcr.io/openclaw/openclaw:latest",
            "ghcr.io/openclaw/openclaw",
            "ghcr.io/openclaw/openclaw:v2.4.1",
            "ghcr.io/openclaw/openclaw:2026.13.1",
        ] {
            assert_eq!(verdict(reference), Verdict::Unknown, "{reference}");
        }
        assert_eq!(verdict("ghcr.io/acme/agent:2026.1.1"), Verdict::NotOpenClaw);
        assert_eq!(
            openclaw_verdict(&ImageRef::parse("oci:/srv/openclaw").unwrap()),
            Verdict::NotOpenClaw
        );
    }

    #[test]
    fn the_refusal_names_the_advisory_and_the_release_to_move_to() {
        let Verdict::Affected(version, advisories) = verdict("openclaw:2026.1.1") else {
            panic!()
        };
        let text = describe_affected(version, &advisories);
        assert!(text.contains("CVE-2026-25253"), "{text}");
        assert!(text.contains("CVE-2026-25593"), "{text}");
        assert!(text.contains("2026.1.29 or later"), "{text}");
    }
}
