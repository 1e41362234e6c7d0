//! The agent's `exec` tool, decided and run by the edge: which commands run
//! without asking, the owner's answers for the rest, and the tool shell that
//! runs them.
//!
//! Invariants: every command is decided by [`ExecService`] and runs in a
//! fresh [`ToolShell`] of its own (the real one, over `hardshell-sandbox`, is
//! `hardshell-shells`', so this crate, and the edge that uses it, start no
//! shell); every decision and run is in the audit log, by the command's
//! digest only; a command's output reaches the agent only through the leak
//! scanner the service was built with (there is no service without one).
//!
//! The agent only asks (`/exec/v1/run` on the control socket). The edge vets
//! the command against `[exec] allow` ([`vet`]): a command that runs only
//! listed programs runs at once; any other is refused (`allowlist`) or put to
//! the person whose session it is (`ask`), who answers on
//! `POST /api/sessions/{id}/approvals/{approval}` while the agent waits on
//! `/exec/v1/approvals/{approval}/wait`. A question unanswered
//! `[exec] approval_timeout_secs` after it was asked expires as a refusal,
//! whether or not the agent waits on it. Every command runs in a fresh shell
//! of its own over the session's workspace, whatever the decision was:
//! approval decides whether it runs, the shell decides what it can touch.
//!
//! The workload cannot create shells itself (its seccomp filter refuses new
//! namespaces), so tool shells are made outside it, by the edge's process
//! (`hardshell_shells::SandboxShell`), with a policy narrower than the
//! workload's own: no control socket, no agent socket, the session's
//! workspace only.
//!
//! What the owner is shown comes from the edge's own records, never from the
//! agent's stream: a question's text is the command the edge holds for that
//! id in that session, and every command the edge runs is announced to the
//! session's clients ([`ExecEvent`]) with the text it runs. An approval holds
//! only while the workspace is as it was when the question was asked
//! ([`workspaces`]).
//!
//! Commands are audited by their SHA-256, never their text: command lines
//! carry tokens and passwords as often as anything else.
#![forbid(unsafe_code)]

mod audit;
pub mod files;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
mod tool_shell;
mod untrusted;
mod vet;
mod workspaces;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardshell_audit::event::{ExecDecision, ExecEnding, ExecFinished, ExecReason};
use hardshell_audit::{AuditEvent, AuditLog};
use hardshell_broker::secrets::LiveScanner;
use hardshell_config::{Approval, Exec as ExecConfig};
use hardshell_protocol::{ExecAnswer, ExecEnd, ExecRequest};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, oneshot};
use tokio::time::Instant;
use tracing::Instrument as _;

use audit::{ExecTrail, decided};
pub use files::{FileError, SharedFileInfo};
use files::{SHARED_TOTAL_FILES, SharedFiles};
pub use tool_shell::{ShellRun, ToolShell, ToolShellError};
pub use untrusted::{UNTRUSTED_REASON, UntrustedSessions};
use vet::{Vetting, vet};
use workspaces::{WorkspaceHold, WorkspaceRun, Workspaces};

/// Most questions waiting at once, across sessions: a runaway (or hostile)
/// agent cannot pile them up, and each expires at its deadline whether or
/// not anyone waits on it, so it cannot hold them open either.
const MAX_PENDING: usize = 16;

/// Events kept for a chat stream that reads slowly; past this it misses the
/// oldest (and its client says so).
const EVENTS_KEPT: usize = 64;

/// Decides and runs the `exec` tool's commands.
pub struct ExecService {
    config: ExecConfig,
    allow: BTreeSet<String>,
    shell: Arc<dyn ToolShell>,
    pending: Mutex<HashMap<String, Pending>>,
    workspaces: Workspaces,
    /// What the edge runs and how questions end, for the sessions' clients.
    events: broadcast::Sender<ExecEvent>,
    /// Where decisions and runs are recorded: the edge's audit log.
    audit: ExecTrail,
    /// Secret values cut out of every command's output, current as of each
    /// command's end (secrets stored later too).
    redaction: Arc<LiveScanner>,
    /// Sessions that have read web content: none of their commands runs
    /// without the owner's yes.
    untrusted: Arc<UntrustedSessions>,
    /// Files the agent shared, kept for download.
    shared: Mutex<SharedFiles>,
}

impl std::fmt::Debug for ExecService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecService")
            .field("approval", &self.config.approval)
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

/// What the edge tells a session's clients about its commands, from its own
/// records: the text is the edge's, never the agent's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    /// The edge starts running `command` in the session's workspace.
    Running {
        session: String,
        command: String,
        decision: RunDecision,
    },
    /// The question `id` was answered or expired; `ran`: its command ran.
    Resolved {
        session: String,
        id: String,
        ran: bool,
    },
    /// The agent shared a file of the session's workspace; the edge keeps
    /// it for download.
    File {
        session: String,
        file: SharedFileInfo,
    },
}

impl ExecEvent {
    pub fn session(&self) -> &str {
        match self {
            ExecEvent::Running { session, .. }
            | ExecEvent::Resolved { session, .. }
            | ExecEvent::File { session, .. } => session,
        }
    }
}

/// A question the edge holds, as its owner is shown it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub command: String,
    /// Why it is asked although every program in it may be listed
    /// ([`UNTRUSTED_REASON`]); `None`: the command itself is why.
    pub reason: Option<&'static str>,
}

/// A question waiting for its answer ([`ExecService::waiting_everywhere`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub session: String,
    pub approval: String,
    /// The command as the edge holds it (the agent wrote it: untrusted text).
    pub command: String,
    pub reason: Option<&'static str>,
    /// Unanswered for this long more, it expires.
    pub expires_in: Duration,
}

/// Why a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunDecision {
    /// Every program in it is listed.
    Allowed,
    /// The session's owner said yes.
    Approved,
}

/// A question put to a session's owner.
struct Pending {
    session: String,
    command: String,
    /// Why the owner is asked, when it is more than the command itself.
    reason: Option<&'static str>,
    /// The workspace as it was when asked: the approval covers that.
    workspace: WorkspaceHold,
    /// Asked plus `[exec] approval_timeout_secs`: unanswered by then, it
    /// expires, waited on or not.
    deadline: Instant,
    /// Taken by the one waiter.
    answer: Option<oneshot::Receiver<Answer>>,
    /// Taken by the one answer.
    reply: Option<oneshot::Sender<Answer>>,
}

#[derive(Debug)]
struct Answer {
    approve: bool,
    actor: String,
}

/// Why an answer was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// No such question for this session (or it expired).
    Unknown,
    /// It was answered already.
    Answered,
}

impl ExecService {
    /// Commands decided by `config`, run in `shell`, recorded in `audit`,
    /// their output cut of every value `redaction` looks for.
    pub fn new(
        config: ExecConfig,
        shell: Arc<dyn ToolShell>,
        audit: Arc<AuditLog>,
        redaction: Arc<LiveScanner>,
    ) -> Self {
        let shared = SharedFiles::new(config.max_file_bytes().saturating_mul(SHARED_TOTAL_FILES));
        Self {
            allow: config.allow.iter().cloned().collect(),
            config,
            shell,
            pending: Mutex::new(HashMap::new()),
            workspaces: Workspaces::default(),
            events: broadcast::channel(EVENTS_KEPT).0,
            audit: ExecTrail::new(audit),
            redaction,
            untrusted: Arc::default(),
            shared: Mutex::new(shared),
        }
    }

    /// The sessions that have read untrusted content (marked by the
    /// browser's CDP service for the agent's sessions).
    pub fn untrusted(&self) -> Arc<UntrustedSessions> {
        self.untrusted.clone()
    }

    /// What happens to commands from now on, in every session (a stream
    /// keeps its own session's).
    pub fn subscribe(&self) -> broadcast::Receiver<ExecEvent> {
        self.events.subscribe()
    }

    /// The command the edge holds for question `approval` in `session`, and
    /// why it asks: the only text a question is shown with. `None` when
    /// there is no such question, it is another session's, or it expired.
    pub fn question(&self, session: &str, approval: &str) -> Option<Question> {
        let now = Instant::now();
        lock(&self.pending)
            .get(approval)
            .filter(|question| question.session == session && question.deadline > now)
            .map(|question| Question {
                command: question.command.clone(),
                reason: question.reason,
            })
    }

    /// The agent asks to run a command.
    pub async fn request(&self, request: ExecRequest) -> ExecAnswer {
        let audit = &self.audit;
        self.expire();
        let ExecRequest { session, command } = request;
        if !is_session_id(&session) {
            return refused("the session id is not valid");
        }
        let digest = sha256(&command);
        let decide = |decision: ExecDecision, reason: Option<ExecReason>| {
            audit.note(decided(&session, &digest, decision, reason, None));
        };
        let (approval, why, reason) = match (self.config.approval, vet(&command, &self.allow)) {
            (Approval::Deny, _) => {
                decide(ExecDecision::Refused, Some(ExecReason::ExecDisabled));
                return refused("[exec] approval is \"deny\"");
            }
            (approval, Vetting::Allowed) if self.untrusted.contains(&session) => (
                approval,
                UNTRUSTED_REASON.to_owned(),
                ExecReason::UntrustedContent,
            ),
            (_, Vetting::Allowed) => {
                decide(ExecDecision::Allowed, None);
                let workspace_run = self.workspaces.start(&session);
                return self
                    .run(workspace_run, session, command, RunDecision::Allowed)
                    .await;
            }
            (approval, Vetting::NeedsApproval(why)) => (approval, why, ExecReason::NotListed),
            (approval, Vetting::RunsPrograms(why)) => (approval, why, ExecReason::RunsPrograms),
        };
        if approval == Approval::Allowlist {
            decide(ExecDecision::Refused, Some(reason));
            return refused(&format!(
                "{why}, and [exec] approval is \"allowlist\": only commands whose every \
                 program is listed, and runs no others, run"
            ));
        }
        // Sessions of the OpenAI-compatible API have nobody to ask: their
        // stream carries no questions.
        if session.starts_with("api-") {
            decide(ExecDecision::Refused, Some(ExecReason::NoOneToAsk));
            return refused(&format!("{why}, and nobody can be asked on the API"));
        }
        let Some(id) = random_id() else {
            decide(ExecDecision::Refused, Some(ExecReason::NoRandomness));
            return refused("the system's random number source failed");
        };
        let (reply, answer) = oneshot::channel();
        let workspace = self.workspaces.hold(&session);
        let deadline = self.deadline();
        {
            let mut pending = lock(&self.pending);
            if pending.len() >= MAX_PENDING {
                drop(pending);
                drop(workspace);
                decide(ExecDecision::Refused, Some(ExecReason::TooManyPending));
                return refused("too many commands are waiting for an answer");
            }
            pending.insert(
                id.clone(),
                Pending {
                    session: session.clone(),
                    command,
                    reason: (reason == ExecReason::UntrustedContent).then_some(UNTRUSTED_REASON),
                    workspace,
                    deadline,
                    answer: Some(answer),
                    reply: Some(reply),
                },
            );
        }
        decide(ExecDecision::Asked, Some(reason));
        // Why it waits is not logged: the reason can quote a word of the
        // command, which may be a credential. The agent already has it.
        tracing::info!(session = %session, approval = %id, "exec command waits for the owner");
        ExecAnswer::Pending { approval: id }
    }

    /// The agent waits for the answer to `approval`; runs the command if it
    /// was approved and the workspace is as it was when asked. Expires as a
    /// refusal at the question's deadline, however late the wait began.
    pub async fn wait(&self, approval: &str) -> ExecAnswer {
        let audit = &self.audit;
        self.expire();
        let Some((answer, deadline)) = lock(&self.pending)
            .get_mut(approval)
            .and_then(|pending| Some((pending.answer.take()?, pending.deadline)))
        else {
            return refused("no such question, or it is already being waited on");
        };
        let answer = tokio::time::timeout_at(deadline, answer).await;
        let Some(Pending {
            session,
            command,
            workspace,
            ..
        }) = lock(&self.pending).remove(approval)
        else {
            // Another call expired it at its deadline, and audited that. An
            // answer that came just before is lost with it: refused, never
            // run past the deadline.
            return self.unanswered();
        };
        let resolved = |ran: bool| {
            let _ = self.events.send(ExecEvent::Resolved {
                session: session.clone(),
                id: approval.to_owned(),
                ran,
            });
        };
        let digest = sha256(&command);
        let decided =
            |decision: ExecDecision, reason: Option<ExecReason>, actor: Option<String>| {
                decided(&session, &digest, decision, reason, actor)
            };
        match answer {
            Ok(Ok(Answer {
                approve: true,
                actor,
            })) => {
                // Written before the command runs: an approval is the owner's
                // decision, and it must be on record if the run is.
                if let Err(e) = audit
                    .admin_action(decided(ExecDecision::Approved, None, Some(actor)))
                    .await
                {
                    tracing::error!(error = %e, "not running an approved command: the approval could not be recorded");
                    resolved(false);
                    return refused(
                        "the approval could not be recorded, so the command did not run",
                    );
                }
                let Ok(workspace_run) = self.workspaces.start_approved(&workspace) else {
                    audit.note(decided(
                        ExecDecision::Refused,
                        Some(ExecReason::WorkspaceChanged),
                        None,
                    ));
                    resolved(false);
                    return refused(
                        "another command ran in the workspace (or a file was put in it) while \
                         the owner was asked, so what was approved may not be what would run; \
                         ask again",
                    );
                };
                // The run holds the workspace's record from here.
                drop(workspace);
                let answer = self
                    .run(
                        workspace_run,
                        session.clone(),
                        command,
                        RunDecision::Approved,
                    )
                    .await;
                resolved(matches!(answer, ExecAnswer::Ran { .. }));
                answer
            }
            Ok(Ok(Answer {
                approve: false,
                actor,
            })) => {
                audit.note(decided(
                    ExecDecision::Refused,
                    Some(ExecReason::OwnerRefused),
                    Some(actor),
                ));
                resolved(false);
                refused("the owner refused to run it")
            }
            Ok(Err(_)) | Err(_) => {
                self.note_expired(approval, &session, &command);
                self.unanswered()
            }
        }
    }

    /// Removes every question past its deadline, as refusals: a question
    /// nobody waits on must not hold one of the [`MAX_PENDING`] places (or
    /// its workspace's record) for ever. Called on every request, wait,
    /// answer and listing, so an expired question is never acted on.
    fn expire(&self) {
        let now = Instant::now();
        let expired: Vec<(String, Pending)> = lock(&self.pending)
            .extract_if(|_, question| question.deadline <= now)
            .collect();
        // Audited (and their workspace holds released) outside the lock.
        for (id, question) in expired {
            self.note_expired(&id, &question.session, &question.command);
        }
    }

    /// Audits and announces that question `id` expired unanswered.
    fn note_expired(&self, id: &str, session: &str, command: &str) {
        self.audit.note(decided(
            session,
            &sha256(command),
            ExecDecision::Refused,
            Some(ExecReason::Unanswered),
            None,
        ));
        tracing::info!(session = %session, approval = %id, "exec question expired unanswered");
        let _ = self.events.send(ExecEvent::Resolved {
            session: session.to_owned(),
            id: id.to_owned(),
            ran: false,
        });
    }

    /// What the agent is told of an expired question.
    fn unanswered(&self) -> ExecAnswer {
        refused(&format!(
            "nobody answered within {} s",
            self.config.approval_timeout_secs
        ))
    }

    /// The deadline of a question asked now: `[exec] approval_timeout_secs`
    /// on, or at most a year (past what the clock can hold, adding panics).
    fn deadline(&self) -> Instant {
        const YEAR_SECS: u64 = 365 * 24 * 60 * 60;
        let timeout = Duration::from_secs(self.config.approval_timeout_secs.min(YEAR_SECS));
        Instant::now() + timeout
    }

    /// The person whose session it is answers a question; an expired one is
    /// [`AnswerError::Unknown`].
    pub fn answer(
        &self,
        session: &str,
        approval: &str,
        approve: bool,
        actor: &str,
    ) -> Result<(), AnswerError> {
        self.expire();
        let mut pending = lock(&self.pending);
        let question = pending
            .get_mut(approval)
            .filter(|question| question.session == session)
            .ok_or(AnswerError::Unknown)?;
        let reply = question.reply.take().ok_or(AnswerError::Answered)?;
        // The waiter may have given up a moment ago; the question is then gone
        // for it either way.
        let _ = reply.send(Answer {
            approve,
            actor: actor.to_owned(),
        });
        Ok(())
    }

    /// Questions waiting in `session`: `(approval id, command)`, for a client
    /// that (re)opens the conversation.
    pub fn waiting(&self, session: &str) -> Vec<(String, String)> {
        self.expire();
        lock(&self.pending)
            .iter()
            .filter(|(_, question)| question.session == session && question.reply.is_some())
            .map(|(id, question)| (id.clone(), question.command.clone()))
            .collect()
    }

    /// Every question waiting for an answer, in every session, oldest
    /// deadline first: for the admin page.
    pub fn waiting_everywhere(&self) -> Vec<Waiting> {
        self.expire();
        let now = Instant::now();
        let mut waiting: Vec<Waiting> = lock(&self.pending)
            .iter()
            .filter(|(_, question)| question.reply.is_some())
            .map(|(id, question)| Waiting {
                session: question.session.clone(),
                approval: id.clone(),
                command: question.command.clone(),
                reason: question.reason,
                expires_in: question.deadline.saturating_duration_since(now),
            })
            .collect();
        waiting.sort_by_key(|question| question.expires_in);
        waiting
    }

    /// Runs `command` as `workspace_run`, which ends with it, announcing it
    /// to the session's clients first; in an `exec_run` span that names the
    /// session and the command's digest, never its text: the agent wrote it,
    /// and it may hold what a prompt planted for the log to carry.
    async fn run(
        &self,
        workspace_run: WorkspaceRun<'_>,
        session: String,
        command: String,
        decision: RunDecision,
    ) -> ExecAnswer {
        let digest = sha256(&command);
        let span = tracing::info_span!("exec_run", session = %session, command_sha256 = %digest);
        self.run_in_span(workspace_run, session, command, digest, decision)
            .instrument(span)
            .await
    }

    async fn run_in_span(
        &self,
        workspace_run: WorkspaceRun<'_>,
        session: String,
        command: String,
        digest: String,
        decision: RunDecision,
    ) -> ExecAnswer {
        let audit = &self.audit;
        // Nobody listening (no chat open) is not an error.
        let _ = self.events.send(ExecEvent::Running {
            session: session.clone(),
            command: command.clone(),
            decision,
        });
        let run = ShellRun {
            session: session.clone(),
            command,
            timeout: Duration::from_secs(self.config.timeout_secs),
            max_output_bytes: self.config.max_output_bytes,
            memory_mb: self.config.memory_mb,
            max_pids: self.config.max_pids,
        };
        let started = std::time::Instant::now();
        let result = self.shell.run(run).await;
        drop(workspace_run);
        let finished =
            |ended: ExecEnding, exit_code: Option<i32>, duration_ms: u64, pids_limit_hit: bool| {
                AuditEvent::ExecFinished(ExecFinished {
                    session: session.clone(),
                    command_sha256: digest.clone(),
                    ended,
                    exit_code,
                    duration_ms,
                    pids_limit_hit: Some(pids_limit_hit),
                })
            };
        match result {
            Ok(mut report) => {
                audit.note(finished(
                    recorded_ending(report.ended),
                    report.exit_code,
                    report.duration_ms,
                    report.pids_limit_hit,
                ));
                let scanner = self.redaction.current().await;
                // Each stream, and both joined: a value can be printed half
                // to each.
                let (stdout, stderr, findings) =
                    scanner.redact_streams(&report.stdout, &report.stderr);
                (report.stdout, report.stderr) = (stdout, stderr);
                let mut found: Vec<String> = findings.into_iter().map(|f| f.name).collect();
                found.sort();
                found.dedup();
                for name in found {
                    tracing::warn!(session = %session, secret = %name, "a command's output held a secret's value; redacted");
                    if let Ok(secret) = hardshell_secrets::SecretName::parse(&name) {
                        audit.note(AuditEvent::SecretRedacted(
                            hardshell_audit::event::SecretRedacted {
                                session: session.clone(),
                                secret,
                            },
                        ));
                    }
                }
                ExecAnswer::Ran { report }
            }
            Err(e) => {
                tracing::error!(session = %session, error = %e, "exec shell failed to start");
                let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                audit.note(finished(ExecEnding::Failed, None, elapsed, false));
                refused(&format!("its shell could not start: {e}"))
            }
        }
    }
}

/// The report's ending as its record's closed set (the record also knows
/// `failed`: a run that could not be started or waited for).
fn recorded_ending(ended: ExecEnd) -> ExecEnding {
    match ended {
        ExecEnd::Exited => ExecEnding::Exited,
        ExecEnd::Signal => ExecEnding::Signal,
        ExecEnd::Pids => ExecEnding::Pids,
        ExecEnd::Timeout => ExecEnding::Timeout,
        ExecEnd::Memory => ExecEnding::Memory,
        ExecEnd::Terminated => ExecEnding::Terminated,
    }
}

fn refused(reason: &str) -> ExecAnswer {
    ExecAnswer::Refused {
        reason: reason.to_owned(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock leaves a consistent map (every update is
    // a single insert, take or remove), so a poisoned lock is still usable.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// An approval id: whoever knows it (and owns the session) may answer.
fn random_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

/// A session id the edge made (`<channel>-<tag>-<hex>`): it names a directory.
pub fn is_session_id(id: &str) -> bool {
    (1..=96).contains(&id.len())
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests;
