//! Pairing: how a sender on a chat platform becomes a principal.
//!
//! A sender nobody paired who writes to the bot is given a short code and
//! nothing else. The owner, told the code by the person (in person, by
//! phone: a channel the owner trusts), approves it with `hardshell pair
//! approve CODE --role owner|guest`; from then on that sender's messages reach
//! the agent as the principal the role names. The owner can list and revoke.
//!
//! What holds:
//! - A code is 8 characters of an alphabet without look-alikes (40 bits),
//!   drawn from the system's random source, valid one hour, used once. The
//!   code is what proves the approver saw that sender's request; `pair ls`
//!   never shows it.
//! - A stranger cannot keep the owner from pairing. A sender holds at most one
//!   code and is re-sent it at most every [`RESEND_EVERY`]; a new code only
//!   when the old one expired. Pending requests are bounded per platform
//!   ([`MAX_PENDING`]) by dropping the oldest, never by refusing the newest:
//!   a flood of accounts pushes out older requests but never stops the next
//!   one, the owner's, from getting its code. (OpenClaw caps pending
//!   requests at three and refuses the fourth, so three strangers block it.)
//! - Pairings live in the sealed state store, one object per platform,
//!   changed only by compare-and-swap, so the CLI, the edge and another
//!   replica agree; the edge reads them for every message, so a revocation
//!   holds from the next message on.

use chrono::{DateTime, Duration, Utc};
use hardshell_storage::{Modification, ObjectKey, Scope, StorageError};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::{ChannelRole, Platform, Sender};

/// The code alphabet: upper-case letters and digits without 0/O and 1/I,
/// 32 of them.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Characters in a code.
pub const CODE_LENGTH: usize = 8;
/// How long a code can be approved.
pub const CODE_LIFETIME: Duration = Duration::hours(1);
/// How often a sender with a code is told it again.
pub const RESEND_EVERY: Duration = Duration::minutes(10);
/// Pending requests kept per platform; the oldest give way.
pub const MAX_PENDING: usize = 64;
/// Paired senders per platform.
pub const MAX_PAIRED: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum PairingError {
    #[error("pairing store: {0}")]
    Store(#[from] StorageError),
    #[error("pairing store: the record for {platform} is unreadable: {detail}")]
    Unreadable { platform: Platform, detail: String },
    #[error(
        "no pending pairing request has this code (codes expire after an hour and are used once)"
    )]
    UnknownCode,
    #[error("{platform} already has {MAX_PAIRED} paired senders; revoke one first")]
    TooManyPaired { platform: Platform },
    #[error("the system's random source failed: {0}")]
    Random(String),
}

/// A pairing code as the sender is shown it. Its `Debug` hides it: a code is
/// a credential until it is used or expires.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    fn random() -> Result<Self, PairingError> {
        let mut bytes = [0u8; CODE_LENGTH];
        getrandom::fill(&mut bytes).map_err(|e| PairingError::Random(e.to_string()))?;
        // 256 is a multiple of 32: every character is equally likely.
        let code = bytes
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % 32]))
            .collect();
        Ok(Code(code))
    }

    /// A code as the owner types it: case, spaces and dashes do not matter.
    pub fn typed(text: &str) -> Self {
        Code(
            text.chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        )
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn matches(&self, other: &Code) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Code(<redacted>)")
    }
}

/// What a message from an unpaired sender gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A new code, or the sender's pending one again: tell the sender.
    Code(Code),
    /// The sender was told its code less than [`RESEND_EVERY`] ago: say
    /// nothing, so the bot is no amplifier.
    Quiet,
}

/// A paired sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pairing {
    pub sender: Sender,
    pub role: ChannelRole,
    pub approved_at: DateTime<Utc>,
}

impl Pairing {
    /// The principal subject this sender's messages carry: the owner's own,
    /// or one of the sender's.
    pub fn subject(&self) -> String {
        match self.role {
            ChannelRole::Owner => OWNER_SUBJECT.to_owned(),
            ChannelRole::Guest => self.sender.subject(),
        }
    }
}

/// The owner's principal subject, as the passkey login names it.
pub const OWNER_SUBJECT: &str = "owner";

/// A pending request, as `pair ls` shows it: never its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    pub sender: Sender,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    pending: Vec<Pending>,
    paired: Vec<Pairing>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    sender: Sender,
    code: String,
    requested_at: DateTime<Utc>,
    told_at: DateTime<Utc>,
}

impl Pending {
    fn expires_at(&self) -> DateTime<Utc> {
        self.requested_at + CODE_LIFETIME
    }
}

/// The pairings of every platform, in the state store's `channels/pairing/`.
#[derive(Debug, Clone)]
pub struct Pairings {
    scope: Scope,
}

impl Pairings {
    /// `scope` is the state store's `channels/pairing` scope.
    pub fn new(scope: Scope) -> Self {
        Self { scope }
    }

    fn key(platform: Platform) -> Result<ObjectKey, PairingError> {
        ObjectKey::parse(&format!("{platform}.json")).map_err(|e| PairingError::Unreadable {
            platform,
            detail: e.to_string(),
        })
    }

    async fn read(&self, platform: Platform) -> Result<Record, PairingError> {
        match self.scope.get(&Self::key(platform)?).await? {
            Some(stored) => parse(platform, Some(&stored.value)),
            None => Ok(Record::default()),
        }
    }

    /// Runs `step` on the platform's record and writes the record back,
    /// by compare-and-swap, when `step` says it changed.
    async fn change<T>(
        &self,
        platform: Platform,
        mut step: impl FnMut(&mut Record) -> Result<Step<T>, PairingError>,
    ) -> Result<T, PairingError> {
        self.scope
            .modify(&Self::key(platform)?, |current| {
                let mut record = parse(platform, current)?;
                match step(&mut record)? {
                    Step::Keep(output) => Ok(Modification::Keep(output)),
                    Step::Write(output) => {
                        let bytes =
                            serde_json::to_vec(&record).map_err(|e| PairingError::Unreadable {
                                platform,
                                detail: e.to_string(),
                            })?;
                        Ok(Modification::Write(bytes, output))
                    }
                }
            })
            .await
    }

    /// The sender's pairing, if the owner approved one.
    pub async fn paired(&self, sender: &Sender) -> Result<Option<Pairing>, PairingError> {
        let record = self.read(sender.platform()).await?;
        Ok(record.paired.into_iter().find(|p| &p.sender == sender))
    }

    /// A message from `sender`, who is not paired: a code to tell them, or
    /// nothing (see [`Request`]).
    pub async fn request(
        &self,
        sender: &Sender,
        now: DateTime<Utc>,
    ) -> Result<Request, PairingError> {
        let fresh = Code::random()?;
        self.change(sender.platform(), |record| {
            if record.paired.iter().any(|p| &p.sender == sender) {
                return Ok(Step::Keep(Request::Quiet));
            }
            if let Some(pending) = record
                .pending
                .iter_mut()
                .find(|p| &p.sender == sender && p.expires_at() > now)
            {
                if now - pending.told_at < RESEND_EVERY {
                    return Ok(Step::Keep(Request::Quiet));
                }
                pending.told_at = now;
                return Ok(Step::Write(Request::Code(Code(pending.code.clone()))));
            }
            record
                .pending
                .retain(|p| p.expires_at() > now && &p.sender != sender);
            // Oldest first: the ones that give way for a new request.
            record.pending.sort_by_key(|p| p.requested_at);
            while record.pending.len() >= MAX_PENDING {
                record.pending.remove(0);
            }
            record.pending.push(Pending {
                sender: sender.clone(),
                code: fresh.0.clone(),
                requested_at: now,
                told_at: now,
            });
            Ok(Step::Write(Request::Code(fresh.clone())))
        })
        .await
    }

    /// Approves the pending request with `code`, on whichever platform it is:
    /// its sender is paired with `role`, and the code is spent.
    pub async fn approve(
        &self,
        code: &Code,
        role: ChannelRole,
        now: DateTime<Utc>,
    ) -> Result<Pairing, PairingError> {
        for platform in Platform::ALL {
            let approved = self
                .change(platform, |record| {
                    record.pending.retain(|p| p.expires_at() > now);
                    // Every pending code is compared, so the time taken does
                    // not say which one matched.
                    let found = record
                        .pending
                        .iter()
                        .enumerate()
                        .fold(None, |found, (at, p)| {
                            match Code(p.code.clone()).matches(code) {
                                true => Some(at),
                                false => found,
                            }
                        });
                    let Some(at) = found else {
                        return Ok(Step::Keep(None));
                    };
                    let pending = record.pending.remove(at);
                    record.paired.retain(|p| p.sender != pending.sender);
                    if record.paired.len() >= MAX_PAIRED {
                        return Err(PairingError::TooManyPaired { platform });
                    }
                    let pairing = Pairing {
                        sender: pending.sender,
                        role,
                        approved_at: now,
                    };
                    record.paired.push(pairing.clone());
                    Ok(Step::Write(Some(pairing)))
                })
                .await?;
            if let Some(pairing) = approved {
                return Ok(pairing);
            }
        }
        Err(PairingError::UnknownCode)
    }

    /// Pairs `sender` by its id, without a request: for an owner who knows
    /// the id (their own account, or with `unpaired = "silent"`, where
    /// strangers are never given codes). Replaces an earlier pairing's role.
    pub async fn add(
        &self,
        sender: &Sender,
        role: ChannelRole,
        now: DateTime<Utc>,
    ) -> Result<Pairing, PairingError> {
        let platform = sender.platform();
        self.change(platform, |record| {
            record.pending.retain(|p| &p.sender != sender);
            record.paired.retain(|p| &p.sender != sender);
            if record.paired.len() >= MAX_PAIRED {
                return Err(PairingError::TooManyPaired { platform });
            }
            let pairing = Pairing {
                sender: sender.clone(),
                role,
                approved_at: now,
            };
            record.paired.push(pairing.clone());
            Ok(Step::Write(pairing))
        })
        .await
    }

    /// Ends a sender's pairing (and any request of theirs). `None` when the
    /// sender was not paired.
    pub async fn revoke(&self, sender: &Sender) -> Result<Option<Pairing>, PairingError> {
        self.change(sender.platform(), |record| {
            let before = record.pending.len();
            record.pending.retain(|p| &p.sender != sender);
            let removed = record
                .paired
                .iter()
                .position(|p| &p.sender == sender)
                .map(|at| record.paired.remove(at));
            match (removed, before != record.pending.len()) {
                (None, false) => Ok(Step::Keep(None)),
                (removed, _) => Ok(Step::Write(removed)),
            }
        })
        .await
    }

    /// Every platform's paired senders and pending requests (unexpired).
    pub async fn list(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Pairing>, Vec<PendingRequest>), PairingError> {
        let (mut paired, mut pending) = (Vec::new(), Vec::new());
        for platform in Platform::ALL {
            let record = self.read(platform).await?;
            paired.extend(record.paired);
            pending.extend(
                record
                    .pending
                    .into_iter()
                    .filter(|p| p.expires_at() > now)
                    .map(|p| PendingRequest {
                        expires_at: p.expires_at(),
                        sender: p.sender,
                        requested_at: p.requested_at,
                    }),
            );
        }
        Ok((paired, pending))
    }
}

/// What a change to a platform's record did.
enum Step<T> {
    Keep(T),
    Write(T),
}

fn parse(platform: Platform, bytes: Option<&[u8]>) -> Result<Record, PairingError> {
    let Some(bytes) = bytes else {
        return Ok(Record::default());
    };
    let record: Record = serde_json::from_slice(bytes).map_err(|e| PairingError::Unreadable {
        platform,
        detail: e.to_string(),
    })?;
    // A record holds one platform's senders only; another's would be a
    // pairing the owner never made for this platform.
    let foreign = record
        .paired
        .iter()
        .map(|p| &p.sender)
        .chain(record.pending.iter().map(|p| &p.sender))
        .any(|s| s.platform() != platform);
    if foreign {
        return Err(PairingError::Unreadable {
            platform,
            detail: "it names a sender of another platform".into(),
        });
    }
    Ok(record)
}

#[cfg(test)]
mod tests;
