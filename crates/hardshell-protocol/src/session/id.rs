//! Session ids: `<channel>-<name>`, parsed once so every id is a valid storage key
//! segment and can never name another session's objects.

use std::fmt;

use hardshell_storage::{MAX_SEGMENT_LEN, ObjectKey};
use serde::{Deserialize, Serialize};

/// A conversation's id, such as `web-3f9c…`, `api-…` or `telegram-123456789`.
///
/// The channel is 1 to 16 lower-case letters; the name is what storage keys allow
/// (`A-Z a-z 0-9 . _ -`), the whole id at most 128 characters. Sender ids that do
/// not fit (a WhatsApp `+49…` number) are refused rather than rewritten: a lossy
/// rewrite could map two senders onto one conversation.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "session id {id:?} is not <channel>-<name>: a channel of 1-16 letters a-z, a name of A-Z a-z 0-9 . _ -, at most 128 characters"
)]
pub struct SessionIdError {
    pub id: String,
}

const MAX_CHANNEL_LEN: usize = 16;

impl SessionId {
    pub fn parse(text: &str) -> Result<Self, SessionIdError> {
        let error = || SessionIdError {
            id: text.chars().take(MAX_SEGMENT_LEN + 1).collect(),
        };
        let (channel, name) = text.split_once('-').ok_or_else(error)?;
        let channel_ok = !channel.is_empty()
            && channel.len() <= MAX_CHANNEL_LEN
            && channel.bytes().all(|b| b.is_ascii_lowercase());
        // The storage key rules are the authority; the name only has to be non-empty
        // on top of them.
        if !channel_ok || name.is_empty() || ObjectKey::segment(text).is_err() {
            return Err(error());
        }
        Ok(Self(text.to_owned()))
    }

    /// A fresh id for a new conversation on `channel`: `<channel>-<32 hex digits>`.
    pub fn generate(channel: &str) -> Result<Self, SessionIdError> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|_| SessionIdError {
            id: format!("{channel}-<random>"),
        })?;
        Self::parse(&format!("{channel}-{}", hex::encode(random)))
    }

    /// The conversation with one sender on a channel, e.g. `telegram-123456789`.
    pub fn for_sender(channel: &str, sender: &str) -> Result<Self, SessionIdError> {
        Self::parse(&format!("{channel}-{sender}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the first `-`, e.g. `telegram`.
    pub fn channel(&self) -> &str {
        self.0
            .split_once('-')
            .map_or(&self.0, |(channel, _)| channel)
    }

    /// The tag of the principal the edge made this session for (the id's
    /// second part, `<channel>-<tag>-<random>`), when it has one.
    pub fn subject_tag(&self) -> Option<&str> {
        let mut parts = self.0.splitn(3, '-');
        let (_, tag, _) = (parts.next()?, parts.next()?, parts.next()?);
        (tag.len() == 8
            && tag
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .then_some(tag)
    }
}

/// The tag a principal's session ids carry: 8 hex digits of the SHA-256 of
/// its subject. The edge makes ids with it (and lets a principal use only
/// ids with its own); the agent reads it to know whose memory a session may
/// use.
pub fn subject_tag(subject: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(subject.as_bytes())[..4])
}

impl TryFrom<String> for SessionId {
    type Error = SessionIdError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_names_the_tag_of_its_principal() {
        let owner = subject_tag("owner");
        let id = SessionId::parse(&format!("telegram-{owner}-0011")).unwrap();
        assert_eq!(id.subject_tag(), Some(owner.as_str()));
        for untagged in ["api-x", "web-1a2b3c4d", "web-1A2B3C4D-00", "web-1a2b3c-00"] {
            assert_eq!(
                SessionId::parse(untagged).unwrap().subject_tag(),
                None,
                "{untagged}"
            );
        }
    }

    #[test]
    fn channel_ids_are_accepted() {
        for ok in [
            "web-abc",
            "api-0f3A",
            "telegram-123456789",
            "slack-U12.AB_c-d",
        ] {
            assert_eq!(SessionId::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(
            SessionId::for_sender("telegram", "42").unwrap().channel(),
            "telegram"
        );
        let generated = SessionId::generate("web").unwrap();
        assert!(generated.as_str().starts_with("web-"));
        assert_eq!(generated.as_str().len(), 4 + 32);
        assert_ne!(generated, SessionId::generate("web").unwrap());
    }

    #[test]
    fn ids_that_are_not_one_key_segment_are_refused() {
        let long = format!("web-{}", "a".repeat(MAX_SEGMENT_LEN));
        for bad in [
            "",
            "web",
            "web-",
            "-abc",
            "Web-abc",
            "we b-abc",
            "web-a/b",
            "web-a b",
            "web-+4912345",
            "web-ü",
            "verylongchannelname-x",
            long.as_str(),
        ] {
            assert!(SessionId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SessionId::for_sender("whatsapp", "+491234").is_err());
        assert!(SessionId::generate("Web").is_err());
    }

    #[test]
    fn ids_deserialise_only_when_valid() {
        let id: SessionId = serde_json::from_str(r#""web-abc""#).unwrap();
        assert_eq!(id.as_str(), "web-abc");
        assert!(serde_json::from_str::<SessionId>(r#""web-../x""#).is_err());
    }
}
