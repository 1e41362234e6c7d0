//! The decisions: what runs at once, what is refused, what waits for whom.
//! The shell here records what it was asked to run; the real one is tested in
//! `hardshell-sandbox` and end to end in `hardshell`'s agent tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use hardshell_broker::secrets::{
    LeakScanner, LiveScanner, NamedSecret, NamedValues, SecretSource, SourceError,
};
use hardshell_config::Approval;
use hardshell_protocol::ExecAnswer;

use super::{AnswerError, ExecEvent, RunDecision, is_session_id};
use crate::testing::{Harness, SESSION, pending};

const OTHER_SESSION: &str = "web-ffffffff-00112233445566778899aabb";

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
async fn a_conversation_that_read_web_pages_runs_no_listed_command_unasked() {
    // Ask: the listed command waits for the owner, who is told why.
    let harness = Harness::new(Approval::Ask).await;
    harness.service.untrusted().mark(SESSION);
    let approval = pending(harness.request(SESSION, "ls -la").await);
    assert!(harness.ran().is_empty(), "nothing runs before the answer");
    let question = harness.service.question(SESSION, &approval).unwrap();
    assert_eq!(question.command, "ls -la");
    assert_eq!(question.reason, Some(super::UNTRUSTED_REASON));
    let records = harness.exec_records().await;
    assert_eq!(records[0]["decision"], "asked");
    assert_eq!(records[0]["reason"], "untrusted_content");
    // Another conversation's listed command still runs at once.
    let ExecAnswer::Ran { .. } = harness.request(OTHER_SESSION, "ls -la").await else {
        panic!("an unmarked session's listed command is asked about");
    };
    // Allowlist: nobody to ask, so it is refused.
    let harness = Harness::new(Approval::Allowlist).await;
    harness.service.untrusted().mark(SESSION);
    let reason = refusal(harness.request(SESSION, "ls -la").await);
    assert!(reason.contains("web pages"), "{reason}");
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
    let waiter = harness.service.wait(&approval);
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
    let reason = refusal(harness.service.wait(&approval).await);
    assert!(reason.contains("refused"), "{reason}");
    assert!(harness.ran().is_empty());
    let records = harness.exec_records().await;
    assert_eq!(records[1]["decision"], "refused");
    assert_eq!(records[1]["reason"], "owner_refused");
    assert_eq!(records[1]["actor"], "owner");
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_question_expires_as_a_refusal() {
    let harness = Harness::new(Approval::Ask).await;
    let approval = pending(harness.request(SESSION, "make").await);
    let reason = refusal(harness.service.wait(&approval).await);
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
    let first = harness.service.wait(&approval).await;
    assert!(matches!(first, ExecAnswer::Ran { .. }), "{first:?}");
    let second = refusal(harness.service.wait(&approval).await);
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

/// Approves `approval` as the owner and waits for what came of it.
async fn approve_and_wait(harness: &Harness, approval: &str) -> ExecAnswer {
    harness
        .service
        .answer(SESSION, approval, true, "owner")
        .unwrap();
    harness.service.wait(approval).await
}

#[tokio::test]
async fn an_approval_is_refused_when_a_command_changed_the_workspace_meanwhile() {
    let harness = Harness::new(Approval::Ask).await;
    let approval = pending(harness.request(SESSION, "bash build.sh").await);
    // Meanwhile a listed command rewrites what the approved one would run.
    let answer = harness.request(SESSION, "cat > build.sh").await;
    assert!(matches!(answer, ExecAnswer::Ran { .. }), "{answer:?}");
    let reason = refusal(approve_and_wait(&harness, &approval).await);
    assert!(
        reason.contains("another command ran in the workspace"),
        "{reason}"
    );
    assert_eq!(
        harness.ran(),
        ["cat > build.sh"],
        "the approved command did not run"
    );
    let records = harness.exec_records().await;
    let last = records.last().unwrap();
    assert_eq!(last["decision"], "refused");
    assert_eq!(last["reason"], "workspace_changed");

    // Asked again with nothing running in between, it runs; another
    // session's commands do not count.
    let approval = pending(harness.request(SESSION, "bash build.sh").await);
    let answer = harness.request(OTHER_SESSION, "ls").await;
    assert!(matches!(answer, ExecAnswer::Ran { .. }), "{answer:?}");
    let answer = approve_and_wait(&harness, &approval).await;
    assert!(matches!(answer, ExecAnswer::Ran { .. }), "{answer:?}");
    assert_eq!(harness.ran().last().unwrap(), "bash build.sh");
}

#[tokio::test]
async fn every_command_the_edge_runs_is_announced_with_the_text_it_runs() {
    let harness = Harness::new(Approval::Ask).await;
    let mut events = harness.service.subscribe();
    harness.request(SESSION, "ls -la").await;
    let approval = pending(harness.request(SESSION, "id").await);
    approve_and_wait(&harness, &approval).await;
    let refused = pending(harness.request(SESSION, "curl x").await);
    harness
        .service
        .answer(SESSION, &refused, false, "owner")
        .unwrap();
    harness.service.wait(&refused).await;
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    let running = |command: &str, decision| ExecEvent::Running {
        session: SESSION.into(),
        command: command.into(),
        decision,
    };
    let resolved = |id: &str, ran| ExecEvent::Resolved {
        session: SESSION.into(),
        id: id.into(),
        ran,
    };
    assert_eq!(
        seen,
        [
            running("ls -la", RunDecision::Allowed),
            running("id", RunDecision::Approved),
            resolved(&approval, true),
            resolved(&refused, false),
        ]
    );
}

#[tokio::test]
async fn a_question_is_known_only_to_its_own_session_with_the_edges_text() {
    let harness = Harness::new(Approval::Ask).await;
    let approval = pending(harness.request(SESSION, "rm -rf build").await);
    assert_eq!(
        harness.service.question(SESSION, &approval),
        Some(super::Question {
            command: "rm -rf build".into(),
            reason: None
        })
    );
    assert_eq!(harness.service.question(OTHER_SESSION, &approval), None);
    assert_eq!(harness.service.question(SESSION, &"0".repeat(32)), None);
}

#[tokio::test]
async fn listed_programs_that_run_programs_are_asked_about_or_refused() {
    let harness = Harness::allowing(Approval::Allowlist, &["ls", "git"]).await;
    let reason = refusal(harness.request(SESSION, "git status").await);
    assert!(reason.contains("`git` can run other programs"), "{reason}");
    assert!(harness.ran().is_empty());
    let records = harness.exec_records().await;
    assert_eq!(records[0]["reason"], "runs_programs");

    let harness = Harness::allowing(Approval::Ask, &["ls", "git"]).await;
    pending(
        harness
            .request(SESSION, "git -c alias.x='!id > pwned' x")
            .await,
    );
    assert!(harness.ran().is_empty());
    let records = harness.exec_records().await;
    assert_eq!(records[0]["decision"], "asked");
    assert_eq!(records[0]["reason"], "runs_programs");
}

#[tokio::test]
async fn a_fork_bomb_is_reported_and_audited_as_hitting_the_process_limit() {
    let harness = Harness::new(Approval::Ask).await;
    harness
        .shell
        .pids_limit_hit
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let ExecAnswer::Ran { report } = harness.request(SESSION, "ls").await else {
        panic!("it did not run");
    };
    assert!(report.pids_limit_hit);
    let records = harness.exec_records().await;
    let finished = records.last().unwrap();
    assert_eq!(finished["type"], "exec_finished");
    assert_eq!(finished["ended"], "pids");
    assert_eq!(finished["pids_limit_hit"], true);
}

/// How many questions the audit has as expired unanswered.
async fn unanswered_records(harness: &Harness) -> usize {
    harness
        .exec_records()
        .await
        .iter()
        .filter(|record| record["reason"] == "unanswered")
        .count()
}

#[tokio::test(start_paused = true)]
async fn questions_nobody_waits_on_expire_and_free_their_places() {
    let harness = Harness::new(Approval::Ask).await;
    let mut events = harness.service.subscribe();
    let mut asked = Vec::new();
    for _ in 0..super::MAX_PENDING {
        asked.push(pending(harness.request(SESSION, "make").await));
    }
    let reason = refusal(harness.request(OTHER_SESSION, "make").await);
    assert!(reason.contains("too many"), "{reason}");

    // Nobody waits; at their deadline they are gone, and another session's
    // question is taken.
    tokio::time::advance(Duration::from_secs(2)).await;
    pending(harness.request(OTHER_SESSION, "make").await);
    assert_eq!(unanswered_records(&harness).await, super::MAX_PENDING);
    let mut expired = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let ExecEvent::Resolved { id, ran: false, .. } = event {
            expired.push(id);
        }
    }
    expired.sort();
    asked.sort();
    assert_eq!(expired, asked, "each is announced as ended");
    for approval in &asked {
        let reason = refusal(harness.service.wait(approval).await);
        assert!(reason.contains("no such question"), "{reason}");
    }
    assert!(harness.ran().is_empty());
    assert_eq!(
        harness.service.workspaces.recorded(),
        1,
        "only the live one"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_begun_late_gets_only_the_time_left() {
    let harness = Harness::new(Approval::Ask).await;
    let approval = pending(harness.request(SESSION, "make").await);
    tokio::time::advance(Duration::from_millis(1500)).await;
    // Half a second is left of the 2 s; a wait given a fresh 2 s would
    // outlast the second given here.
    let wait = harness.service.wait(&approval);
    let ended = tokio::time::timeout(Duration::from_secs(1), wait).await;
    let reason = refusal(ended.expect("the wait ends at the question's deadline"));
    assert!(reason.contains("nobody answered within 2 s"), "{reason}");
    assert_eq!(unanswered_records(&harness).await, 1);
}

#[tokio::test(start_paused = true)]
async fn a_question_expired_under_its_waiter_is_refused_and_audited_once() {
    let harness = Harness::new(Approval::Ask).await;
    let approval = pending(harness.request(SESSION, "make").await);
    let wait = harness.service.wait(&approval);
    tokio::pin!(wait);
    assert!(futures::poll!(&mut wait).is_pending());
    tokio::time::advance(Duration::from_secs(2)).await;
    // Another call comes first and expires it.
    assert!(harness.service.waiting(SESSION).is_empty());
    let reason = refusal(wait.await);
    assert!(reason.contains("nobody answered within 2 s"), "{reason}");
    assert_eq!(unanswered_records(&harness).await, 1);
    assert!(harness.ran().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_answer_after_the_deadline_is_refused_and_one_before_it_taken() {
    let harness = Harness::new(Approval::Ask).await;
    let late = pending(harness.request(SESSION, "make").await);
    tokio::time::advance(Duration::from_millis(1900)).await;
    let in_time = pending(harness.request(SESSION, "make install").await);
    tokio::time::advance(Duration::from_millis(100)).await;
    assert_eq!(harness.service.question(SESSION, &late), None);
    assert_eq!(
        harness.service.answer(SESSION, &late, true, "owner"),
        Err(AnswerError::Unknown)
    );
    assert_eq!(
        harness.service.waiting(SESSION),
        [(in_time.clone(), "make install".to_owned())]
    );
    let answer = approve_and_wait(&harness, &in_time).await;
    assert!(matches!(answer, ExecAnswer::Ran { .. }), "{answer:?}");
    assert_eq!(harness.ran(), ["make install"]);
}

#[tokio::test]
async fn workspace_records_do_not_grow_with_the_sessions_named() {
    let harness = Harness::new(Approval::Ask).await;
    for n in 0..200 {
        let session = format!("web-{n:08x}-00112233445566778899aabb");
        let answer = harness.request(&session, "ls").await;
        assert!(matches!(answer, ExecAnswer::Ran { .. }), "{answer:?}");
    }
    assert_eq!(harness.service.workspaces.recorded(), 0);
    // A question holds its session's record until it ends; meanwhile the
    // record still tells a changed workspace from an unchanged one.
    let stale = pending(harness.request(SESSION, "bash build.sh").await);
    harness.request(SESSION, "cat > build.sh").await;
    let fresh = pending(harness.request(SESSION, "bash build.sh").await);
    assert_eq!(harness.service.workspaces.recorded(), 1);
    let reason = refusal(approve_and_wait(&harness, &stale).await);
    assert!(reason.contains("another command ran"), "{reason}");
    let answer = approve_and_wait(&harness, &fresh).await;
    assert!(matches!(answer, ExecAnswer::Ran { .. }), "{answer:?}");
    assert_eq!(harness.service.workspaces.recorded(), 0);
}

/// Secrets as a store holds them: one put later is there at the next check.
#[derive(Debug, Default)]
struct Stored(Mutex<NamedValues>);

impl SecretSource for Stored {
    fn fingerprint(&self) -> BoxFuture<'_, Result<String, SourceError>> {
        let count = self.0.lock().unwrap().len();
        Box::pin(async move { Ok(count.to_string()) })
    }

    fn values(&self) -> BoxFuture<'_, Result<NamedValues, SourceError>> {
        let values = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(values) })
    }
}

/// What `command` printed, as the agent is given it.
async fn printed(h: &Harness, command: &str) -> (String, String) {
    match h.request(SESSION, command).await {
        ExecAnswer::Ran { report } => (report.stdout, report.stderr),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_secret_stored_after_the_start_is_redacted_from_output() {
    let stored = Arc::new(Stored::default());
    let scanner = LiveScanner::watching(stored.clone(), Vec::new(), Duration::ZERO);
    let h = Harness::redacting(Approval::Allowlist, scanner).await;
    let value = "later-stored-0123456789";
    *h.shell.prints.lock().unwrap() = Some((format!("token {value}\n"), String::new()));
    assert!(printed(&h, "cat token").await.0.contains(value));
    stored
        .0
        .lock()
        .unwrap()
        .push(NamedSecret::new("LATER", value.as_bytes().to_vec()));
    let (stdout, _) = printed(&h, "cat token").await;
    assert_eq!(stdout, "token [redacted:LATER]\n");
}

/// A service cannot be built without its redaction (`ExecService::new`
/// takes it), so a value known at the start is cut from the very first
/// command's output, split across both streams too, and its redaction is
/// audited by name only.
#[tokio::test]
async fn the_first_commands_output_is_redacted_by_the_scanner_the_service_was_built_with() {
    let value = "known-at-start-0123456789";
    let scanner = LiveScanner::fixed(LeakScanner::new(&[NamedSecret::new(
        "GITHUB_TOKEN",
        value.as_bytes().to_vec(),
    )]));
    let h = Harness::redacting(Approval::Allowlist, scanner).await;
    *h.shell.prints.lock().unwrap() = Some((format!("a {value} b\n"), format!("{value}\n")));
    let (stdout, stderr) = printed(&h, "cat token").await;
    assert_eq!(stdout, "a [redacted:GITHUB_TOKEN] b\n");
    assert_eq!(stderr, "[redacted:GITHUB_TOKEN]\n");
    let records = h.records().await;
    let redacted: Vec<_> = records
        .iter()
        .filter(|record| record["type"] == "secret_redacted")
        .collect();
    assert_eq!(redacted.len(), 1, "{records:?}");
    assert_eq!(redacted[0]["secret"], "GITHUB_TOKEN");
    assert!(!serde_json::to_string(&records).unwrap().contains(value));
}

mod files;
mod spans;
