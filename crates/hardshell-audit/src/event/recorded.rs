//! Fields whose type was narrowed after records of the older, free-text form
//! were already written. The log is append-only and hash-chained, so those
//! records must keep reading back, byte for byte, as what they were; new
//! records must still only hold the checked type.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A field as the log holds it: the checked value, or the free text a release
/// before the check wrote.
///
/// Reading tries [`Recorded::Checked`] first, so an old record whose text
/// happens to pass the check reads as checked (and serializes to the same
/// bytes). Code that records a new event builds `Checked` (or uses `From<T>`):
/// [`LegacyText`] has no constructor outside deserialization, so new free text
/// cannot be written. This is a compile-time property of the type, which is
/// why no test exercises it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Recorded<T> {
    Checked(T),
    Legacy(LegacyText),
}

impl<T> Recorded<T> {
    /// The checked value, `None` for a record written before the check.
    pub fn checked(&self) -> Option<&T> {
        match self {
            Recorded::Checked(value) => Some(value),
            Recorded::Legacy(_) => None,
        }
    }
}

impl<T> From<T> for Recorded<T> {
    fn from(value: T) -> Self {
        Recorded::Checked(value)
    }
}

impl<T: fmt::Display> fmt::Display for Recorded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recorded::Checked(value) => value.fmt(f),
            Recorded::Legacy(text) => text.fmt(f),
        }
    }
}

/// Free text from a record written before its field was checked. Whoever
/// wrote it may have been a hostile agent, so it is never shown raw: `Debug`
/// and `Display` escape control and bidirectional characters. It serializes
/// back to exactly the string it was read from (the record's hash covers
/// those bytes), and it can only be made by deserializing: the field is
/// private and there is no constructor.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LegacyText(String);

impl LegacyText {
    fn write_escaped(&self, f: &mut fmt::Formatter<'_>, also: &[char]) -> fmt::Result {
        for c in self.0.chars() {
            if disturbs(c) || also.contains(&c) {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for LegacyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_escaped(f, &[])
    }
}

impl fmt::Debug for LegacyText {
    /// Quotes and backslashes escaped too, so the quoted text cannot seem to
    /// end early.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LegacyText(\"")?;
        self.write_escaped(f, &['"', '\\'])?;
        f.write_str("\")")
    }
}

/// The one predicate for text that must be shown escaped (the vocabulary's).
pub use hardshell_vocabulary::text::disturbs;

#[cfg(test)]
mod tests {
    use super::{LegacyText, Recorded};
    use crate::event::SwitchReason;

    #[test]
    fn checked_text_reads_as_checked_and_anything_else_as_legacy() {
        let read = |json: &str| serde_json::from_str::<Recorded<SwitchReason>>(json).unwrap();
        assert_eq!(
            read("\"overloaded\""),
            Recorded::Checked(SwitchReason::Overloaded)
        );
        let legacy = read("\"anthropic answered 529 three times\"");
        assert!(legacy.checked().is_none());
        assert_eq!(
            serde_json::to_string(&legacy).unwrap(),
            "\"anthropic answered 529 three times\""
        );
    }

    #[test]
    fn legacy_text_is_shown_escaped_but_written_back_as_read() {
        // As serde_json writes it: C0 controls as \u00XX, U+202E and U+009B raw.
        let json = "\"a\\u001b]0;pwned\\u0007\u{202e}\u{9b}2Jb\\\"\\n\"";
        let text: LegacyText = serde_json::from_str(json).unwrap();
        let shown = format!("{text} {text:?}");
        assert!(
            !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{shown:?}"
        );
        assert_eq!(
            text.to_string(),
            "a\\u{1b}]0;pwned\\u{7}\\u{202e}\\u{9b}2Jb\"\\u{a}"
        );
        assert_eq!(
            format!("{text:?}"),
            "LegacyText(\"a\\u{1b}]0;pwned\\u{7}\\u{202e}\\u{9b}2Jb\\u{22}\\u{a}\")"
        );
        assert_eq!(serde_json::to_string(&text).unwrap(), json);
    }
}
