//! Files in and out, as the service decides them: the recording shell keeps
//! files in memory; the real walk on disk is `hardshell-shells`' and tested
//! there against real volumes and real shells.

use bytes::Bytes;
use hardshell_config::Approval;
use hardshell_protocol::ExecAnswer;

use super::{OTHER_SESSION, approve_and_wait, refusal};
use crate::files::FileError;
use crate::testing::{Harness, SESSION, pending};
use crate::{ExecEvent, SharedFileInfo};

const CONTENT: &[u8] = b"secret quarterly numbers\n";

/// The hex SHA-256 of [`CONTENT`].
fn content_digest() -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(CONTENT))
}

async fn file_records(harness: &Harness, kind: &str) -> Vec<serde_json::Value> {
    harness
        .records()
        .await
        .into_iter()
        .filter(|record| record["type"] == kind)
        .collect()
}

#[tokio::test]
async fn a_question_asked_before_a_deposit_can_no_longer_be_approved() {
    let harness = Harness::new(Approval::Ask).await;
    let approval = pending(harness.request(SESSION, "bash inbox/run.sh").await);
    // A file arrives from a chat while the owner is asked: what the
    // command would run is no longer what was asked about.
    let name = harness
        .service
        .deposit(SESSION, "run.sh", Bytes::from_static(b"id > pwned\n"))
        .await
        .unwrap();
    assert_eq!(name, "run.sh");
    let reason = refusal(approve_and_wait(&harness, &approval).await);
    assert!(reason.contains("a file was put in it"), "{reason}");
    assert!(harness.ran().is_empty(), "the approved command did not run");

    // Asked again after the deposit, with nothing in between, it runs; a
    // deposit in another session does not count.
    let approval = pending(harness.request(SESSION, "bash inbox/run.sh").await);
    harness
        .service
        .deposit(OTHER_SESSION, "run.sh", Bytes::from_static(b"x"))
        .await
        .unwrap();
    let answer = approve_and_wait(&harness, &approval).await;
    assert!(matches!(answer, ExecAnswer::Ran { .. }), "{answer:?}");
}

#[tokio::test]
async fn a_deposit_is_audited_by_its_cleaned_name_size_and_digest_never_its_content() {
    let harness = Harness::new(Approval::Ask).await;
    let first = harness
        .service
        .deposit(SESSION, "../../Q3 report.txt", Bytes::from_static(CONTENT))
        .await
        .unwrap();
    assert_eq!(first, "Q3_report.txt");
    let second = harness
        .service
        .deposit(SESSION, "Q3 report.txt", Bytes::from_static(CONTENT))
        .await
        .unwrap();
    assert_eq!(second, "Q3_report-2.txt", "never over the first");
    let records = file_records(&harness, "file_deposited").await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["session"], SESSION);
    assert_eq!(records[0]["name"], "Q3_report.txt");
    assert_eq!(records[1]["name"], "Q3_report-2.txt");
    assert_eq!(records[0]["size"], CONTENT.len());
    assert_eq!(records[0]["sha256"], content_digest());
    let text = serde_json::to_string(&harness.records().await).unwrap();
    assert!(!text.contains("quarterly"), "no content in any record");
}

#[tokio::test]
async fn a_deposit_too_large_or_for_a_bad_session_is_refused_before_any_write() {
    let harness = Harness::new(Approval::Ask).await;
    let max = 20 << 20;
    let big = Bytes::from(vec![0u8; max + 1]);
    let error = harness
        .service
        .deposit(SESSION, "big.bin", big)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FileError::TooLarge { size, .. } if size == max as u64 + 1),
        "{error}"
    );
    assert!(error.to_string().contains("max_file_mb"), "{error}");
    // Exactly the bound is taken.
    let exact = Bytes::from(vec![0u8; max]);
    harness
        .service
        .deposit(SESSION, "exact.bin", exact)
        .await
        .unwrap();
    for bad in ["../etc", "Web-1", ""] {
        let error = harness
            .service
            .deposit(bad, "x", Bytes::from_static(b"x"))
            .await
            .unwrap_err();
        assert!(matches!(error, FileError::SessionId), "{bad:?}: {error}");
    }
    let names: Vec<String> = {
        let files = harness.shell.files.lock().unwrap();
        files.keys().map(|(_, path)| path.clone()).collect()
    };
    assert_eq!(names, ["inbox/exact.bin"]);
    assert_eq!(file_records(&harness, "file_deposited").await.len(), 1);
}

#[tokio::test]
async fn a_shared_file_is_kept_announced_and_audited_for_its_session_only() {
    let harness = Harness::new(Approval::Ask).await;
    let mut events = harness.service.subscribe();
    harness.shell.put(SESSION, "out/plot.png", CONTENT);
    let shared = harness
        .service
        .share(SESSION, "/workspace/out/plot.png")
        .await
        .unwrap();
    assert_eq!(shared.name, "plot.png");
    assert_eq!(shared.size, CONTENT.len() as u64);
    assert_eq!(shared.id.len(), 32, "a random id: {}", shared.id);
    let event = events.try_recv().unwrap();
    assert_eq!(
        event,
        ExecEvent::File {
            session: SESSION.to_owned(),
            file: SharedFileInfo {
                id: shared.id.clone(),
                name: "plot.png".into(),
                size: CONTENT.len() as u64,
            },
        }
    );
    let (name, bytes) = harness.service.shared_file(SESSION, &shared.id).unwrap();
    assert_eq!((name.as_str(), &bytes[..]), ("plot.png", CONTENT));
    // Another session's owner, or an id nobody was given, gets nothing.
    assert!(
        harness
            .service
            .shared_file(OTHER_SESSION, &shared.id)
            .is_none()
    );
    assert!(harness.service.shared_file(SESSION, "0000").is_none());

    let records = file_records(&harness, "file_shared").await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["name"], "plot.png");
    assert_eq!(records[0]["sha256"], content_digest());
    let text = serde_json::to_string(&harness.records().await).unwrap();
    assert!(!text.contains("quarterly"), "no content in any record");
}

#[tokio::test]
async fn a_share_the_shell_refuses_keeps_announces_and_audits_nothing() {
    let harness = Harness::new(Approval::Ask).await;
    let mut events = harness.service.subscribe();
    harness.shell.put(OTHER_SESSION, "mine.txt", CONTENT);
    let error = harness
        .service
        .share(SESSION, "/workspace/mine.txt")
        .await
        .unwrap_err();
    assert!(matches!(error, FileError::NotFound { .. }), "{error}");
    let error = harness
        .service
        .share("../x", "/workspace/mine.txt")
        .await
        .unwrap_err();
    assert!(matches!(error, FileError::SessionId), "{error}");
    assert!(events.try_recv().is_err(), "nothing announced");
    assert!(file_records(&harness, "file_shared").await.is_empty());
}
