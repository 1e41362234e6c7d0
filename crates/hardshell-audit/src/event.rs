//! Audit events: one struct per fact, named in the past tense, each holding only
//! the fields that fact needs. [`AuditEvent`] wraps them for the log and is
//! serialized as `{"type":"request_denied", ...fields}`, every field always
//! present (`null` when absent), so each type has one fixed shape. The one
//! exception is a field added after records were written: it is left out at
//! its default, so an older record still serializes to its stored bytes.
//!
//! What no event holds: header values, cookies, request paths or query strings,
//! request or response bodies, secret values, tokens, passwords, claimed (not yet
//! proven) identities, or any free-form map. Identifiers only: see [`Route`], [`RequestId`], [`TokenId`].

mod browser;
mod channels;
mod fields;
mod files;
mod modules;
mod outcomes;
mod recorded;
mod workload;

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use hardshell_auth::{Method, TokenScope};
use hardshell_secrets::SecretName;
use serde::{Deserialize, Serialize};

pub use browser::{BrowserNavigated, BrowserSessionEnded, BrowserSessionStarted, CdpRefused};
pub use channels::{
    ChannelMessageRefused, PairingApproved, PairingRequested, PairingRevoked, WebhookRejected,
};
pub(crate) use fields::rfc3339;
pub use fields::{
    BrowserHost, CdpMethod, ChainModel, FieldError, HttpMethod, LimitedBy, RequestId, Route,
    StateName, SwitchReason, TokenId,
};
pub use files::{FileDeposited, FileShared};
pub use modules::{
    ModuleAdded, ModuleCalled, ModuleOutcome, ModuleRefusal, ModuleRefused, ModuleRemoved,
    ModuleUpdated,
};
pub use outcomes::{
    BrowserEnding, CdpClient, CdpRefusal, ChannelRefusal, EgressCarriage, EgressDecision,
    ExecDecision, ExecEnding, ExecReason, NoteChange, ShellKind, StateLoss, StateOutcome,
    TurnEnding, WebhookRejection,
};
pub use recorded::{LegacyText, Recorded, disturbs};
pub use workload::{
    WorkloadStateLost, WorkloadStatePrepared, WorkloadStateRestored, WorkloadStateSnapshotted,
};

/// Every fact the audit log records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuditEvent {
    RequestAllowed(RequestAllowed),
    RequestDenied(RequestDenied),
    RateLimited(RateLimited),
    LoginSucceeded(LoginSucceeded),
    LoginFailed(LoginFailed),
    SessionHandedOver(SessionHandedOver),
    CredentialRejected(CredentialRejected),
    SessionRevoked(SessionRevoked),
    TokenCreated(TokenCreated),
    TokenRevoked(TokenRevoked),
    SecretStored(SecretStored),
    SecretRemoved(SecretRemoved),
    DeviceIssued(DeviceIssued),
    DeviceRevoked(DeviceRevoked),
    SetupLinkIssued(SetupLinkIssued),
    PasskeyRegistered(PasskeyRegistered),
    PasskeyRemoved(PasskeyRemoved),
    ProviderSwitched(ProviderSwitched),
    TurnFinished(TurnFinished),
    MemoryNoteChanged(MemoryNoteChanged),
    ExecDecided(ExecDecided),
    ExecFinished(ExecFinished),
    ApprovalEventDropped(ApprovalEventDropped),
    EgressDecided(EgressDecided),
    SecretMisdirected(SecretMisdirected),
    SecretLeakBlocked(SecretLeakBlocked),
    SecretRedacted(SecretRedacted),
    RequestsSummarized(RequestsSummarized),
    WorkloadImageResolved(WorkloadImageResolved),
    WorkloadStatePrepared(WorkloadStatePrepared),
    WorkloadStateLost(WorkloadStateLost),
    WorkloadStateRestored(WorkloadStateRestored),
    WorkloadStateSnapshotted(WorkloadStateSnapshotted),
    BrowserSessionStarted(BrowserSessionStarted),
    BrowserSessionEnded(BrowserSessionEnded),
    CdpRefused(CdpRefused),
    BrowserNavigated(BrowserNavigated),
    PairingRequested(PairingRequested),
    PairingApproved(PairingApproved),
    PairingRevoked(PairingRevoked),
    ChannelMessageRefused(ChannelMessageRefused),
    WebhookRejected(WebhookRejected),
    FileDeposited(FileDeposited),
    FileShared(FileShared),
    ModuleAdded(ModuleAdded),
    ModuleUpdated(ModuleUpdated),
    ModuleRemoved(ModuleRemoved),
    ModuleRefused(ModuleRefused),
    ModuleCalled(ModuleCalled),
}

impl AuditEvent {
    /// The `type` tag, e.g. `request_denied`: for metrics labels and filters.
    pub fn type_name(&self) -> &'static str {
        match self {
            AuditEvent::RequestAllowed(_) => "request_allowed",
            AuditEvent::RequestDenied(_) => "request_denied",
            AuditEvent::RateLimited(_) => "rate_limited",
            AuditEvent::LoginSucceeded(_) => "login_succeeded",
            AuditEvent::LoginFailed(_) => "login_failed",
            AuditEvent::SessionHandedOver(_) => "session_handed_over",
            AuditEvent::CredentialRejected(_) => "credential_rejected",
            AuditEvent::SessionRevoked(_) => "session_revoked",
            AuditEvent::TokenCreated(_) => "token_created",
            AuditEvent::TokenRevoked(_) => "token_revoked",
            AuditEvent::SecretStored(_) => "secret_stored",
            AuditEvent::SecretRemoved(_) => "secret_removed",
            AuditEvent::DeviceIssued(_) => "device_issued",
            AuditEvent::DeviceRevoked(_) => "device_revoked",
            AuditEvent::SetupLinkIssued(_) => "setup_link_issued",
            AuditEvent::PasskeyRegistered(_) => "passkey_registered",
            AuditEvent::PasskeyRemoved(_) => "passkey_removed",
            AuditEvent::ProviderSwitched(_) => "provider_switched",
            AuditEvent::TurnFinished(_) => "turn_finished",
            AuditEvent::MemoryNoteChanged(_) => "memory_note_changed",
            AuditEvent::ExecDecided(_) => "exec_decided",
            AuditEvent::ExecFinished(_) => "exec_finished",
            AuditEvent::ApprovalEventDropped(_) => "approval_event_dropped",
            AuditEvent::EgressDecided(_) => "egress_decided",
            AuditEvent::SecretMisdirected(_) => "secret_misdirected",
            AuditEvent::SecretLeakBlocked(_) => "secret_leak_blocked",
            AuditEvent::SecretRedacted(_) => "secret_redacted",
            AuditEvent::RequestsSummarized(_) => "requests_summarized",
            AuditEvent::WorkloadImageResolved(_) => "workload_image_resolved",
            AuditEvent::WorkloadStatePrepared(_) => "workload_state_prepared",
            AuditEvent::WorkloadStateLost(_) => "workload_state_lost",
            AuditEvent::WorkloadStateRestored(_) => "workload_state_restored",
            AuditEvent::WorkloadStateSnapshotted(_) => "workload_state_snapshotted",
            AuditEvent::BrowserSessionStarted(_) => "browser_session_started",
            AuditEvent::BrowserSessionEnded(_) => "browser_session_ended",
            AuditEvent::CdpRefused(_) => "cdp_refused",
            AuditEvent::BrowserNavigated(_) => "browser_navigated",
            AuditEvent::PairingRequested(_) => "pairing_requested",
            AuditEvent::PairingApproved(_) => "pairing_approved",
            AuditEvent::PairingRevoked(_) => "pairing_revoked",
            AuditEvent::ChannelMessageRefused(_) => "channel_message_refused",
            AuditEvent::WebhookRejected(_) => "webhook_rejected",
            AuditEvent::FileDeposited(_) => "file_deposited",
            AuditEvent::FileShared(_) => "file_shared",
            AuditEvent::ModuleAdded(_) => "module_added",
            AuditEvent::ModuleUpdated(_) => "module_updated",
            AuditEvent::ModuleRemoved(_) => "module_removed",
            AuditEvent::ModuleRefused(_) => "module_refused",
            AuditEvent::ModuleCalled(_) => "module_called",
        }
    }
}

/// The pipeline let a request through to its route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestAllowed {
    pub request_id: RequestId,
    pub client: IpAddr,
    pub method: HttpMethod,
    /// `None` when no route matched.
    pub route: Option<Route>,
    /// `None` on public routes reached without authenticating.
    pub subject: Option<String>,
    pub auth_method: Option<Method>,
}

/// The pipeline refused a request (authentication or authorization).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDenied {
    pub request_id: RequestId,
    pub client: IpAddr,
    pub method: HttpMethod,
    pub route: Option<Route>,
    pub subject: Option<String>,
    pub auth_method: Option<Method>,
    /// The HTTP status sent: 401 or 403.
    pub status: u16,
    /// Why, in hardshell's words (a denial's message), never the client's input.
    pub reason: String,
}

/// The rate limiter refused a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimited {
    pub request_id: RequestId,
    pub client: IpAddr,
    pub method: HttpMethod,
    pub route: Option<Route>,
    pub subject: Option<String>,
    pub limited_by: LimitedBy,
    /// The `Retry-After` sent, in seconds.
    pub retry_after_secs: u64,
}

/// Refused or anonymous requests of one kind from one client, counted over a
/// window instead of recorded one by one: past the first few in a window, a
/// flood of them would otherwise fill the log and its backlog (and then lock
/// the owner out, since a request that cannot be recorded is not served). The
/// requests it counts are in no other record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestsSummarized {
    /// `None` when too many clients were counted in one window to keep apart.
    pub client: Option<IpAddr>,
    pub kind: SummarizedKind,
    pub count: u64,
    #[serde(with = "rfc3339")]
    pub window_start: DateTime<Utc>,
    pub window_secs: u64,
}

/// Which record each request counted in a `RequestsSummarized` would have had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummarizedKind {
    /// `request_allowed` without a subject: a public route, anonymously.
    AnonymousAllowed,
    RequestDenied,
    CredentialRejected,
    RateLimited,
}

/// Someone proved who they are and got a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSucceeded {
    pub request_id: RequestId,
    pub client: IpAddr,
    pub subject: String,
    pub auth_method: Method,
}

/// A browser's session was handed over to the upstream's (a workload's) own
/// host: a hand-over code was redeemed there, with the browser's `state`,
/// for a session of that host in the same chain as the owner's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionHandedOver {
    pub request_id: RequestId,
    pub client: IpAddr,
    /// The principal whose session it is (proven when the code was minted).
    pub subject: String,
    /// How that principal logged in on the edge.
    pub auth_method: Method,
}

/// A login attempt failed. Holds no claimed identity: what a client typed as a
/// user name is unproven, and is sometimes a password typed in the wrong field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginFailed {
    pub request_id: RequestId,
    pub client: IpAddr,
    pub auth_method: Method,
    /// Why, in hardshell's words (e.g. "assertion signature did not verify").
    pub reason: String,
}

/// A request presented a credential that did not verify: a wrong, expired or
/// revoked API token, a dead session cookie, a bad Cloudflare Access JWT. Names
/// the kind of credential and, for tokens, the id the request claimed (an id is
/// not a secret); never the credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRejected {
    pub request_id: RequestId,
    pub client: IpAddr,
    pub credential: CredentialKind,
    /// The token id the request claimed, when it claimed one.
    pub token_id: Option<TokenId>,
    /// Why, in hardshell's words (e.g. `revoked`, `expired`, `wrong_secret`).
    pub reason: String,
}

/// The kinds of credential a request can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    ApiToken,
    Session,
    CloudflareAccess,
}

/// A passkey was registered for the owner through a setup link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegistered {
    pub request_id: RequestId,
    pub client: IpAddr,
    /// The passkey's public id (a digest of its credential id), not a secret.
    pub passkey: String,
}

/// An admin removed one of the owner's passkeys (a lost device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRemoved {
    /// The passkey's public id, as [`PasskeyRegistered`] named it.
    pub passkey: String,
    pub actor: Option<String>,
}

/// A principal's session ended before its expiry (logout or revocation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRevoked {
    /// Whose session.
    pub subject: String,
    /// Who revoked it; `None` for the command line on the host.
    pub actor: Option<String>,
}

/// An API token was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenCreated {
    pub token_id: TokenId,
    pub scope: TokenScope,
    #[serde(with = "rfc3339_option")]
    pub expires_at: Option<DateTime<Utc>>,
    /// `None` for the command line on the host.
    pub actor: Option<String>,
}

/// An API token was revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRevoked {
    pub token_id: TokenId,
    pub actor: Option<String>,
}

/// A secret was stored (created or replaced). The name only, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretStored {
    #[serde(with = "fields::secret_name")]
    pub name: SecretName,
    /// Whether a previous value was replaced.
    pub replaced: bool,
    pub actor: Option<String>,
}

/// The workload's image, as `hardshell up` is about to run it: the
/// reference the config names and the digests it resolved to. For a
/// reference without a digest (`[dangerous] unpinned_images`) this is the
/// only record of what actually ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadImageResolved {
    /// `[workload] image`, as the operator wrote it.
    pub reference: String,
    /// `sha256:…` the reference resolved to (an index or a manifest).
    pub resolved: String,
    /// `sha256:…` of this platform's manifest, whose root runs.
    pub manifest: String,
    /// Whether the reference named its digest.
    pub pinned: bool,
}

/// A secret was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRemoved {
    #[serde(with = "fields::secret_name")]
    pub name: SecretName,
    pub actor: Option<String>,
}

/// The owner changed one of the agent's memory notes by hand (the agent's own
/// saves are part of its turns). The note's name only, never its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryNoteChanged {
    pub note: String,
    pub change: NoteChange,
    pub actor: Option<String>,
}

/// Whether a command from the agent's `exec` tool may run. The command is
/// identified by its SHA-256 only: command lines can carry secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecDecided {
    pub session: String,
    pub command_sha256: String,
    pub decision: ExecDecision,
    /// Why, for `asked` and `refused`.
    pub reason: Option<ExecReason>,
    /// Who approved or refused, when a person did.
    pub actor: Option<String>,
}

/// A command from the `exec` tool ran in its own shell, and how that ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecFinished {
    pub session: String,
    pub command_sha256: String,
    pub ended: ExecEnding,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// Some fork was refused at the process limit, however it ended.
    /// Whether the run hit its process limit. Always written now; absent in
    /// records from before the field existed, and `false` written out in
    /// records of the release that added it: each reads back, and
    /// serializes to its stored bytes, as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit_hit: Option<bool>,
}

/// The agent's stream announced a question the edge does not hold for the
/// turn's session (a compromised agent showing the owner a command other than
/// the one waiting); it was not passed on. Nothing the agent wrote is kept:
/// not its id, not its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalEventDropped {
    /// The turn's request, as the edge numbered it.
    pub request_id: RequestId,
    /// The turn's session, as the edge knows it.
    pub session: String,
}

/// The egress broker let a shell connect, or refused. Host and port only:
/// never a path, query or header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressDecided {
    /// Which shells' broker.
    pub shell: ShellKind,
    pub host: String,
    pub port: u16,
    pub decision: EgressDecision,
    /// Why it was refused, in the broker's words.
    pub reason: Option<String>,
    /// How an allowed one left: whether the broker read it. Absent on
    /// refusals, and in records from before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carriage: Option<EgressCarriage>,
}

/// A shell aimed a secret's placeholder at a host the secret is not bound to;
/// the request was refused. The secret's name only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretMisdirected {
    pub shell: ShellKind,
    #[serde(with = "fields::secret_name")]
    pub secret: SecretName,
    pub host: String,
}

/// A request leaving a shell carried a secret's value (in some encoding);
/// it was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretLeakBlocked {
    pub shell: ShellKind,
    #[serde(with = "fields::secret_name")]
    pub secret: SecretName,
    pub host: String,
}

/// A tool's output held a secret's value, which was cut out before the
/// model or the user saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRedacted {
    pub session: String,
    #[serde(with = "fields::secret_name")]
    pub secret: SecretName,
}

/// A device certificate was issued. The certificate is public; its key never
/// passes through the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceIssued {
    /// The name given at issue, e.g. `laptop`.
    pub device: String,
    /// Certificate serial number, hex.
    pub serial: String,
    pub actor: Option<String>,
}

/// A device certificate was revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRevoked {
    pub serial: String,
    pub actor: Option<String>,
}

/// A one-time setup link was issued. The link is a credential; only when it
/// expires is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupLinkIssued {
    #[serde(with = "rfc3339")]
    pub expires_at: DateTime<Utc>,
    pub actor: Option<String>,
}

/// The agent's fallback chain moved on from one model to another, as the
/// agent reported it: both are entries of the configured chain (checked by
/// the edge), the reason one of a closed set. Records written before these
/// were checked hold free text (provider names, a sentence) and read back as
/// [`Recorded::Legacy`]; new records can only be [`Recorded::Checked`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSwitched {
    /// `provider/model`, e.g. `anthropic/claude-sonnet-4-5`.
    pub from: Recorded<ChainModel>,
    pub to: Recorded<ChainModel>,
    pub reason: Recorded<SwitchReason>,
}

/// Optional timestamps, in the same fixed form as [`rfc3339`].
mod rfc3339_option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => s.serialize_str(&super::rfc3339::format(time)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|time| time.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests;

/// The agent finished a turn: how it ended and what it cost. Holds no message
/// text: conversations are state, not audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnFinished {
    pub request_id: RequestId,
    /// The principal the turn ran for.
    pub subject: String,
    /// The session id (an identifier the edge made, not user text).
    pub session: String,
    pub end: TurnEnding,
    /// Why it did not complete, in hardshell's words; `None` when it did.
    pub reason: Option<String>,
    pub steps: u32,
    pub tool_calls: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
}
