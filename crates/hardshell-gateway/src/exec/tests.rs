//! The decisions: what runs at once, what is refused, what waits for whom.
//! The shell here records what it was asked to run; the real one is tested in
//! `hardshell-sandbox` and end to end in `hardshell`'s agent tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use hardshell_agent::protocol::{ExecAnswer, ExecReport, ExecRequest};
use hardshell_audit::{AuditEvent, AuditLog, AuditOptions, LogId, Tail};
use hardshell_config::{Approval, Exec as ExecConfig};
use hardshell_storage::{LocalOptions, Location, MasterKey, ObjectKey, Scope, Sealing, Store};

use super::{AnswerError, ExecService, ShellRun, ToolShell, is_session_id};
use crate::audit::Trail;

const SESSION: &str = "web-0a1b2c3d-00112233445566778899aabb";

#[derive(Debug, Default)]
struct RecordingShell {
    runs: Mutex<Vec<ShellRun>>,
}

impl ToolShell for Arc<RecordingShell> {
    fn run(&self, run: ShellRun) -> BoxFuture<'static, Result<ExecReport, String>> {
        self.runs.lock().unwrap().push(run);
        Box::pin(async {
            Ok(ExecReport {
                exit_code: Some(0),
                ended: "exited".into(),
                stdout: "ran\n".into(),
                stderr: String::new(),
                truncated: false,
                duration_ms: 3,
            })
        })
    }
}

struct Harness {
    service: ExecService,
    shell: Arc<RecordingShell>,
    trail: Trail,
    scope: Scope,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new(approval: Approval) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &Location::Local(LocalOptions {
                objects: dir.path().join("objects"),
                locks: dir.path().join("locks"),
            }),
            Sealing::Envelope(MasterKey::generate().unwrap()),
        )
        .await
        .unwrap();
        let scope = store
            .root()
            .scope(&ObjectKey::parse("audit").unwrap())
            .unwrap();
        let log = AuditLog::open(&scope, &log_id(), AuditOptions::default())
            .await
            .unwrap();
        let shell = Arc::new(RecordingShell::default());
        let config = ExecConfig {
            approval,
            allow: vec!["ls".into(), "cat".into()],
            approval_timeout_secs: 2,
            ..ExecConfig::default()
        };
        Self {
            service: ExecService::new(config, Arc::new(shell.clone())),
            shell,
            trail: Trail::new(log),
            scope,
            _dir: dir,
        }
    }

    async fn request(&self, session: &str, command: &str) -> ExecAnswer {
        let request = ExecRequest {
            session: session.into(),
            command: command.into(),
        };
        self.service.request(request, &self.trail).await
    }

    fn ran(&self) -> Vec<String> {
        let runs = self.shell.runs.lock().unwrap();
        runs.iter().map(|run| run.command.clone()).collect()
    }

    /// The exec records written so far, as JSON.
    async fn exec_records(&self) -> Vec<serde_json::Value> {
        self.trail.flush().await;
        let mut tail = Tail::new(&self.scope, &log_id(), 1).unwrap();
        tail.read()
            .await
            .unwrap()
            .iter()
            .map(|record| record.event())
            .filter(|event| {
                matches!(
                    event,
                    AuditEvent::ExecDecided(_) | AuditEvent::ExecFinished(_)
                )
            })
            .map(|event| serde_json::to_value(event).unwrap())
            .collect()
    }
}

fn log_id() -> LogId {
    LogId::new("exec-test").unwrap()
}

fn pending(answer: ExecAnswer) -> String {
    match answer {
        ExecAnswer::Pending { approval } => approval,
        other => panic!("expected a question, got {other:?}"),
    }
}

fn refusal(answer: ExecAnswer) -> String {
    match answer {
        ExecAnswer::Refused { reason } => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_command_of_listed_programs_runs_at_once_in_every_mode_but_deny() {
    for approval in [Approval::Allowlist, Approval::Ask] {
        let harness = Harness::new(approval).await;
        let answer = harness.request(SESSION, "ls -la | cat").await;
        let ExecAnswer::Ran { report } = answer else {
            panic!("{approval:?}: {answer:?}");
        };
        assert_eq!(report.stdout, "ran\n");
        assert_eq!(harness.ran(), ["ls -la | cat"]);
        let run = &harness.shell.runs.lock().unwrap()[0];
        assert_eq!(run.session, SESSION);
        assert_eq!(run.timeout, Duration::from_secs(60));
    }
    let harness = Harness::new(Approval::Deny).await;
    assert!(refusal(harness.request(SESSION, "ls").await).contains("deny"));
    assert!(harness.ran().is_empty());
}

#[tokio::test]
async fn allowlist_refuses_a_command_with_an_unlisted_program_and_says_which() {
    let harness = Harness::new(Approval::Allowlist).await;
    let reason = refusal(harness.request(SESSION, "ls; curl http://x").await);
    assert!(reason.contains("`curl`"), "{reason}");
    assert!(reason.contains("allowlist"), "{reason}");
    assert!(harness.ran().is_empty());
}

#[tokio::test]
async fn ask_runs_the_command_once_the_owner_approves() {
    let harness = Harness::new(Approval::Ask).await;
    let approval = pending(harness.request(SESSION, "rm -rf build").await);
    assert!(harness.ran().is_empty(), "nothing runs before the answer");
    assert_eq!(
        harness.service.waiting(SESSION),
        [(approval.clone(), "rm -rf build".to_owned())]
    );
    let waiter = harness.service.wait(&approval, &harness.trail);
    let answer = async {
        tokio::task::yield_now().await;
        harness
            .service
            .answer(SESSION, &approval, true, "owner")
            .unwrap();
    };
    let (answer, ()) = tokio::join!(waiter, answer);
    assert!(matches!(answer, ExecAnswer::Ran { .. }), "{answer:?}");
    assert_eq!(harness.ran(), ["rm -rf build"]);
    assert!(harness.service.waiting(SESSION).is_empty());
    // A second answer finds nothing.
    assert_eq!(
        harness.service.answer(SESSION, &approval, true, "owner"),
        Err(AnswerError::Unknown)
    );

    let records = harness.exec_records().await;
    let decisions: Vec<_> = records
        .iter()
        .map(|r| (r["type"].as_str().unwrap(), r["decision"].as_str()))
        .collect();
    assert_eq!(
        decisions,
        [
            ("exec_decided", Some("asked")),
            ("exec_decided", Some("approved")),
            ("exec_finished", None)
        ]
    );
    assert_eq!(records[1]["actor"], "owner");
    // The command is on record by its digest only.
    let text = serde_json::to_string(&records).unwrap();
    assert!(!text.contains("rm -rf"), "{text}");
    assert!(text.contains(&super::sha256("rm -rf build")));
}

#[tokio::test]
async fn ask_does_not_run_a_refused_command_and_audits_who_refused() {
    let harness = Harness::new(Approval::Ask).await;
    let approval = pending(harness.request(SESSION, "curl http://x").await);
    harness
        .service
        .answer(SESSION, &approval, false, "owner")
        .unwrap();
    assert_eq!(
        harness.service.answer(SESSION, &approval, true, "owner"),
        Err(AnswerError::Answered),
        "an answer cannot be changed"
    );
    let reason = refusal(harness.service.wait(&approval, &harness.trail).await);
    assert!(reason.contains("refused"), "{reason}");
    assert!(harness.ran().is_empty());
    let records = harness.exec_records().await;
    assert_eq!(records[1]["decision"], "refused");
    assert_eq!(records[1]["reason"], "owner_refused");
    assert_eq!(records[1]["actor"], "owner");
}

#[tokio::test]
async fn an_unanswered_question_expires_as_a_refusal() {
    let harness = Harness::new(Approval::Ask).await;
    let approval = pending(harness.request(SESSION, "make").await);
    let reason = refusal(harness.service.wait(&approval, &harness.trail).await);
    assert!(reason.contains("nobody answered within 2 s"), "{reason}");
    assert!(harness.ran().is_empty());
    assert_eq!(
        harness.service.answer(SESSION, &approval, true, "owner"),
        Err(AnswerError::Unknown),
        "a late answer finds nothing"
    );
    let records = harness.exec_records().await;
    assert_eq!(records[1]["reason"], "unanswered");
}

#[tokio::test]
async fn only_the_questions_session_can_answer_it_and_only_one_waiter_waits() {
    let harness = Harness::new(Approval::Ask).await;
    let approval = pending(harness.request(SESSION, "make").await);
    let other = "web-ffffffff-00112233445566778899aabb";
    assert_eq!(
        harness.service.answer(other, &approval, true, "someone"),
        Err(AnswerError::Unknown)
    );
    assert!(harness.service.waiting(other).is_empty());
    assert_eq!(
        harness
            .service
            .answer(SESSION, "0".repeat(32).as_str(), true, "owner"),
        Err(AnswerError::Unknown)
    );
    harness
        .service
        .answer(SESSION, &approval, true, "owner")
        .unwrap();
    let first = harness.service.wait(&approval, &harness.trail).await;
    assert!(matches!(first, ExecAnswer::Ran { .. }), "{first:?}");
    let second = refusal(harness.service.wait(&approval, &harness.trail).await);
    assert!(second.contains("no such question"), "{second}");
    assert_eq!(harness.ran().len(), 1);
}

#[tokio::test]
async fn api_sessions_have_nobody_to_ask() {
    let harness = Harness::new(Approval::Ask).await;
    let reason = refusal(
        harness
            .request("api-0a1b2c3d-00112233445566778899aabb", "make")
            .await,
    );
    assert!(reason.contains("nobody can be asked"), "{reason}");
}

#[tokio::test]
async fn questions_are_capped_and_bad_session_ids_refused() {
    let harness = Harness::new(Approval::Ask).await;
    for _ in 0..super::MAX_PENDING {
        pending(harness.request(SESSION, "make").await);
    }
    let reason = refusal(harness.request(SESSION, "make").await);
    assert!(reason.contains("too many"), "{reason}");
    for bad in ["", "../etc", "web/../../x", "Web-1", "-x", &"a".repeat(97)] {
        assert!(!is_session_id(bad), "{bad:?}");
        let reason = refusal(harness.request(bad, "ls").await);
        assert!(reason.contains("session id"), "{reason}");
    }
    assert!(harness.ran().is_empty());
}
