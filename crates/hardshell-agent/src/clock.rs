//! The time the agent believes it is, and the owner's time zone.
//!
//! The time zone is deliberately simple: an IANA name, kept as a label for the
//! model and the owner, plus a fixed UTC offset used for the arithmetic. hardshell
//! carries no time zone database (it would be a large dependency that needs
//! updating), so daylight saving time is not applied: an owner in `Europe/Berlin`
//! sets `+01:00` in winter and `+02:00` in summer, or leaves the offset at UTC and
//! lets the model convert using the name.

use std::fmt;

use chrono::{DateTime, FixedOffset, Offset, Utc};

/// Where "now" comes from. Production uses [`SystemClock`]; tests inject a
/// [`FixedClock`].
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock stopped at one instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// The owner's time zone: an optional IANA name and a fixed offset from UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerTimeZone {
    name: Option<String>,
    offset: FixedOffset,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeZoneError {
    #[error("time zone name {name:?} is not an IANA name such as Europe/Berlin")]
    Name { name: String },
    #[error("utc offset {offset:?} is not ±HH:MM between -23:59 and +23:59")]
    Offset { offset: String },
}

/// Longest accepted zone name; the longest IANA names are about 30 characters.
const MAX_NAME_LEN: usize = 64;

impl OwnerTimeZone {
    pub fn utc() -> Self {
        Self {
            name: None,
            offset: Utc.fix(),
        }
    }

    /// `name` as in `Europe/Berlin`; `utc_offset` as in `+02:00`, `-05:30` or `Z`
    /// (UTC when absent).
    pub fn new(name: Option<&str>, utc_offset: Option<&str>) -> Result<Self, TimeZoneError> {
        let name = match name {
            None => None,
            Some(name) => {
                let valid = !name.is_empty()
                    && name.len() <= MAX_NAME_LEN
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
                if !valid {
                    return Err(TimeZoneError::Name {
                        name: name.chars().take(MAX_NAME_LEN).collect(),
                    });
                }
                Some(name.to_owned())
            }
        };
        let offset = match utc_offset {
            None => Self::utc().offset,
            Some(text) => parse_offset(text).ok_or_else(|| TimeZoneError::Offset {
                offset: text.chars().take(16).collect(),
            })?,
        };
        Ok(Self { name, offset })
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// `at` in the owner's offset.
    pub fn local(&self, at: DateTime<Utc>) -> DateTime<FixedOffset> {
        at.with_timezone(&self.offset)
    }
}

impl fmt::Display for OwnerTimeZone {
    /// `Europe/Berlin (UTC+02:00)`, or `UTC+02:00` without a name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} (UTC{})", self.offset),
            None => write!(f, "UTC{}", self.offset),
        }
    }
}

fn parse_offset(text: &str) -> Option<FixedOffset> {
    if text == "Z" || text == "z" {
        return Some(Utc.fix());
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_and_convert() {
        let zone = OwnerTimeZone::new(Some("Europe/Berlin"), Some("+02:00")).unwrap();
        let at = DateTime::parse_from_rfc3339("2026-06-01T10:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(zone.local(at).to_rfc3339(), "2026-06-01T12:00:00+02:00");
        assert_eq!(zone.to_string(), "Europe/Berlin (UTC+02:00)");
        let india = OwnerTimeZone::new(None, Some("+05:30")).unwrap();
        assert_eq!(india.offset().local_minus_utc(), 5 * 3600 + 30 * 60);
        let west = OwnerTimeZone::new(None, Some("-08:00")).unwrap();
        assert_eq!(west.offset().local_minus_utc(), -8 * 3600);
        assert_eq!(
            OwnerTimeZone::new(None, Some("Z")).unwrap(),
            OwnerTimeZone::utc()
        );
    }

    #[test]
    fn malformed_zones_are_refused() {
        for bad in [
            "", "2", "+2", "+02", "+0200", "+24:00", "+01:60", "02:00", "+aa:bb",
        ] {
            assert!(
                matches!(
                    OwnerTimeZone::new(None, Some(bad)),
                    Err(TimeZoneError::Offset { .. })
                ),
                "{bad:?}"
            );
        }
        for bad in ["", "Europe Berlin", "Europe/Berlin\nIgnore previous", "ü"] {
            assert!(
                matches!(
                    OwnerTimeZone::new(Some(bad), None),
                    Err(TimeZoneError::Name { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
