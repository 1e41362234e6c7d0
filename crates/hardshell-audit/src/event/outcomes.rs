//! The closed sets that exec, egress, turn and note records choose from. Each value
//! is written as the snake_case word it had when these fields were free
//! strings, so records from before (which the hash chain covers byte for
//! byte) read back and serialize unchanged. Every value a release ever wrote
//! is in its set, so none of these needs [`super::Recorded`]'s legacy
//! fallback: a word outside the set is not an old record but a wrong one, and
//! reading it fails like any other malformed field.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::fields::FieldError;

/// Declares a fieldless enum serialized as one fixed word per variant, with
/// `as_str`, `Display` and a `FromStr` that accepts exactly those words.
macro_rules! closed_set {
    (
        $(#[$doc:meta])*
        $name:ident, $field:literal {
            $($(#[$variant_doc:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$variant_doc])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The word the record holds.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = FieldError;
            fn from_str(text: &str) -> Result<Self, FieldError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(FieldError {
                        field: $field,
                        value: text.chars().take(64).collect(),
                        rule: concat!("one of:", $(" ", $text,)+),
                    }),
                }
            }
        }
    };
}

closed_set!(
    /// Whether a command from the `exec` tool may run.
    ExecDecision, "exec decision" {
        /// Every program in it is listed.
        Allowed = "allowed",
        /// The owner is asked.
        Asked = "asked",
        /// The owner approved it.
        Approved = "approved",
        Refused = "refused",
    }
);

closed_set!(
    /// Why an exec command was asked about or refused.
    ExecReason, "exec reason" {
        /// A program in it is not on the allowlist.
        NotListed = "not_listed",
        /// A listed program that can run others.
        RunsPrograms = "runs_programs",
        /// Listed, but the conversation has read web content: asked all
        /// the same (`hardshell_exec::UntrustedSessions`).
        UntrustedContent = "untrusted_content",
        OwnerRefused = "owner_refused",
        /// The question expired.
        Unanswered = "unanswered",
        /// An API session: its stream carries no questions.
        NoOneToAsk = "no_one_to_ask",
        TooManyPending = "too_many_pending",
        /// `[exec] approval = "deny"`.
        ExecDisabled = "exec_disabled",
        /// No approval id could be drawn.
        NoRandomness = "no_randomness",
        /// Approved, but another command ran in the workspace while the owner
        /// was asked.
        WorkspaceChanged = "workspace_changed",
    }
);

closed_set!(
    /// How an exec command's shell ended.
    ExecEnding, "exec ending" {
        /// The command exited on its own.
        Exited = "exited",
        /// It exited after forks were refused at its process limit.
        Pids = "pids",
        /// The wall clock ran out.
        Timeout = "timeout",
        /// The memory limit was reached.
        Memory = "memory",
        /// A signal ended it.
        Signal = "signal",
        /// hardshell stopped it (shutdown).
        Terminated = "terminated",
        /// Its shell could not start.
        Failed = "failed",
    }
);

closed_set!(
    /// Whether the egress broker let a shell connect.
    EgressDecision, "egress decision" {
        Allowed = "allowed",
        Refused = "refused",
    }
);

closed_set!(
    /// How an allowed connection or request left: what the broker could read.
    EgressCarriage, "egress carriage" {
        /// A plain-HTTP request (or one on a `tls` route), read whole.
        Request = "request",
        /// A `CONNECT` whose TLS the broker ends: each request inside is
        /// read and recorded on its own.
        InspectedTunnel = "inspected_tunnel",
        /// A request read inside an inspected tunnel.
        InspectedRequest = "inspected_request",
        /// A raw `CONNECT` tunnel (`inspect = false`): a host and a port only.
        RawTunnel = "raw_tunnel",
    }
);

closed_set!(
    /// Which kind of shell a broker serves.
    ShellKind, "shell kind" {
        /// The tool shells `exec` runs commands in.
        Exec = "exec",
        /// The shell the built-in agent runs in.
        Agent = "agent",
        /// A browser session's shell (`hardshell-browser`).
        Browser = "browser",
        /// A module's shell (its host process, `hardshell module-host`).
        Module = "module",
    }
);

closed_set!(
    /// What the owner did to a memory note.
    NoteChange, "note change" {
        Written = "written",
        Deleted = "deleted",
    }
);

closed_set!(
    /// How an agent turn ended.
    TurnEnding, "turn ending" {
        Completed = "completed",
        Refused = "refused",
        Failed = "failed",
    }
);

closed_set!(
    /// What `hardshell up` found and did to a workload's state before
    /// starting it.
    StateOutcome, "state outcome" {
        /// Neither side had state yet.
        Fresh = "fresh",
        /// The local copy was missing or empty; a generation was restored.
        Restored = "restored",
        /// The local copy already equalled the current generation.
        UpToDate = "up_to_date",
        /// Local changes on the current base were pushed as a new generation.
        Pushed = "pushed",
        /// A stale local copy was kept as a snapshot and the current
        /// generation restored over it.
        SetAside = "set_aside",
    }
);

closed_set!(
    /// Why a running workload's state could no longer be kept.
    StateLoss, "state loss" {
        /// Another holder took the lease (or none is held any more).
        LeaseLost = "lease_lost",
        /// The remote's generation moved under a live lease.
        RemoteChanged = "remote_changed",
    }
);

closed_set!(
    /// Who a browser session's CDP client is.
    CdpClient, "cdp client" {
        /// A client of the edge's `/cdp` route (its request has its own
        /// `request_allowed` record, with the address and principal).
        Edge = "edge",
        /// The built-in agent's `browser` tool.
        Agent = "agent",
        /// A workload (OpenClaw's browser tool) through its unix socket.
        Workload = "workload",
    }
);

closed_set!(
    /// Why the CDP proxy refused a client's command.
    CdpRefusal, "cdp refusal" {
        /// The method is not in the policy's table.
        NotListed = "not_listed",
        /// The table denies the method (its entry says why).
        Denied = "denied",
        /// A navigation to a URL that is not http(s) or `about:blank`.
        UrlScheme = "url_scheme",
        /// A file to upload outside the session's upload directory.
        UploadPath = "upload_path",
        /// A cookie method without a browser context (it would span them all).
        NoBrowserContext = "no_browser_context",
        /// Parameters the policy had to read were not of the protocol's shape.
        MalformedParams = "malformed_params",
        RateLimited = "rate_limited",
        /// Too many of the client's commands were waiting for an answer.
        TooManyInFlight = "too_many_in_flight",
        /// A new page past the session's page limit.
        PageLimit = "page_limit",
    }
);

closed_set!(
    /// How a browser session ended.
    BrowserEnding, "browser ending" {
        ClientClosed = "client_closed",
        /// The browser's side closed or failed (crashed, killed).
        BrowserEnded = "browser_ended",
        /// No message from the client for the idle timeout.
        Idle = "idle",
        /// The session's maximum lifetime was reached.
        Lifetime = "lifetime",
        /// The client sent something that is not a CDP command.
        ClientMalformed = "client_malformed",
        /// The client sent a message over its size limit.
        ClientTooLarge = "client_too_large",
        /// The client sent a binary frame.
        ClientBinary = "client_binary",
        /// The browser sent something that is not a CDP answer or event.
        BrowserMalformed = "browser_malformed",
        /// The browser sent a message over its size limit.
        BrowserTooLarge = "browser_too_large",
        /// hardshell stopped it: the client's credential was revoked, or
        /// the edge is stopping.
        Stopped = "stopped",
    }
);

closed_set!(
    /// Why a chat message was not passed to the agent.
    ChannelRefusal, "channel refusal" {
        /// Nobody paired the sender; it got a pairing code or nothing, as
        /// `[channels] unpaired` says.
        Unpaired = "unpaired",
        /// The sender asked for codes faster than its limit allows.
        PairingLimited = "pairing_limited",
        /// The channel's `allow` list does not name the sender.
        SenderNotAllowed = "sender_not_allowed",
        /// A group or channel the config does not list.
        GroupNotAllowed = "group_not_allowed",
    }
);

closed_set!(
    /// Why a webhook delivery failed its platform's verification.
    WebhookRejection, "webhook rejection" {
        /// No signature header (Slack, Discord, WhatsApp).
        MissingSignature = "missing_signature",
        /// A signature header that is not of the platform's form.
        MalformedSignature = "malformed_signature",
        /// A well-formed signature that does not verify.
        BadSignature = "bad_signature",
        /// A signed timestamp outside the freshness window.
        StaleTimestamp = "stale_timestamp",
        /// A delivery already seen (event, update or message id).
        Replayed = "replayed",
        /// Telegram's `X-Telegram-Bot-Api-Secret-Token` missing or wrong.
        WrongSecretToken = "wrong_secret_token",
        /// WhatsApp's subscription handshake with a wrong `hub.verify_token`.
        WrongVerifyToken = "wrong_verify_token",
        /// A signed WhatsApp delivery for another phone number than ours.
        WrongPhoneNumber = "wrong_phone_number",
        /// A verified body that is not of the platform's event shape.
        Malformed = "malformed",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn words_round_trip<T>(all: &[T])
    where
        T: Copy + fmt::Debug + PartialEq + Serialize + for<'de> Deserialize<'de> + FromStr,
        T: fmt::Display,
    {
        for &value in all {
            let json = serde_json::to_string(&value).unwrap();
            assert_eq!(json, format!("\"{value}\""));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), value);
            assert!(value.to_string().parse::<T>().ok() == Some(value));
        }
    }

    #[test]
    fn every_value_is_written_as_its_word_and_read_back() {
        words_round_trip(ExecDecision::ALL);
        words_round_trip(ExecReason::ALL);
        words_round_trip(ExecEnding::ALL);
        words_round_trip(EgressDecision::ALL);
        words_round_trip(EgressCarriage::ALL);
        words_round_trip(ShellKind::ALL);
        words_round_trip(TurnEnding::ALL);
        words_round_trip(NoteChange::ALL);
        words_round_trip(StateOutcome::ALL);
        words_round_trip(StateLoss::ALL);
        words_round_trip(CdpClient::ALL);
        words_round_trip(CdpRefusal::ALL);
        words_round_trip(BrowserEnding::ALL);
        words_round_trip(ChannelRefusal::ALL);
        words_round_trip(WebhookRejection::ALL);
    }

    #[test]
    fn a_word_outside_the_set_is_refused() {
        assert!(serde_json::from_str::<ExecDecision>("\"denied\"").is_err());
        assert!(serde_json::from_str::<ExecEnding>("\"Exited\"").is_err());
        let err = "crashed".parse::<ExecEnding>().unwrap_err();
        assert_eq!(err.field, "exec ending");
        assert!(err.to_string().contains("exited"), "{err}");
    }
}
