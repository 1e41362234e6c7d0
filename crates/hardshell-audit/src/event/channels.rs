//! What happened at the chat channels: pairings asked for, approved and
//! revoked, messages the edge would not pass to the agent, and webhook
//! deliveries that failed their platform's verification. Senders by their
//! platform's immutable id only: never a pairing code (a credential until
//! it is used), a token, a display name or a message's text.

use std::net::IpAddr;

use hardshell_vocabulary::{ChannelRole, Platform, Sender};
use serde::{Deserialize, Serialize};

use super::fields::RequestId;
use super::outcomes::{ChannelRefusal, WebhookRejection};

/// A sender nobody paired asked to be paired and was given a code (the code
/// is not recorded: until the owner uses it, it is a credential).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairingRequested {
    #[serde(with = "sender")]
    pub sender: Sender,
}

/// The owner approved a pairing: the sender is now the principal `subject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairingApproved {
    #[serde(with = "sender")]
    pub sender: Sender,
    pub role: ChannelRole,
    /// The principal the sender speaks as: `owner`, or the sender's own
    /// (`telegram:12345`) for a guest.
    pub subject: String,
    /// Who approved it; `None` for the command line on the host.
    pub actor: Option<String>,
}

/// A pairing was revoked; the sender's next message is a stranger's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairingRevoked {
    #[serde(with = "sender")]
    pub sender: Sender,
    pub actor: Option<String>,
}

/// A message reached the edge from a platform and was not passed to the
/// agent. A stranger can send without limit: whoever records these bounds
/// how many one sender gets, or a flood would fill the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelMessageRefused {
    pub platform: Platform,
    /// `None` when the message named no sender hardshell can identify (a
    /// channel post, a sender id outside the platform's grammar).
    #[serde(with = "optional_sender")]
    pub sender: Option<Sender>,
    pub reason: ChannelRefusal,
}

/// A request to a channel's webhook route failed its platform's
/// verification and was refused before its body was read as an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookRejected {
    pub request_id: RequestId,
    pub client: IpAddr,
    pub platform: Platform,
    pub reason: WebhookRejection,
}

/// A [`Sender`] as one scalar, `telegram:12345` (its `Display`), checked
/// against its platform's grammar again when read: a record's fields are
/// scalars, and a name or a code in a sender's place does not read back.
mod sender {
    use hardshell_vocabulary::{Platform, Sender};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sender: &Sender, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(sender)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Sender, D::Error> {
        parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }

    /// `platform:id`; a Slack id holds a `:` of its own, so only the first
    /// one separates.
    pub(super) fn parse(text: &str) -> Result<Sender, hardshell_vocabulary::IdentityError> {
        let (platform, id) = text.split_once(':').unwrap_or((text, ""));
        Sender::parse(Platform::parse(platform)?, id)
    }
}

/// [`sender`] for a field that may be `null`.
mod optional_sender {
    use hardshell_vocabulary::Sender;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sender: &Option<Sender>, s: S) -> Result<S::Ok, S::Error> {
        match sender {
            Some(sender) => s.collect_str(sender),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Sender>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| super::sender::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests;
