//! Reading a log from a seq on, and following it as it grows.

use std::time::Duration;

use hardshell_audit::{AuditError, Tail};

use crate::support::*;

#[tokio::test]
async fn tail_reads_from_a_seq_across_segments() {
    let test = TestLog::written(8).await;
    let mut tail = Tail::new(&test.scope, &test.log_id, 3).unwrap();
    assert_eq!(seqs(&tail.read().await.unwrap()), [3, 4, 5, 6, 7, 8]);
    assert!(tail.read().await.unwrap().is_empty());
    assert_eq!(tail.next_seq(), 9);
}

#[tokio::test]
async fn tail_follows_records_as_they_are_flushed() {
    let test = TestLog::new().await;
    let log = test.open(small_segments(2)).await;
    log.record(request(1)).unwrap();
    log.flush().await.unwrap();
    let mut tail = Tail::new(&test.scope, &test.log_id, 0).unwrap();
    assert_eq!(seqs(&tail.read().await.unwrap()), [1]);

    let follower = tokio::spawn(async move {
        let mut seen = Vec::new();
        while seen.len() < 3 {
            seen.extend(seqs(&tail.follow(Duration::from_millis(5)).await.unwrap()));
        }
        seen
    });
    for n in 2..=4 {
        log.record(request(n)).unwrap();
        log.flush().await.unwrap();
    }
    let seen = tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .expect("tail did not follow")
        .unwrap();
    assert_eq!(seen, [2, 3, 4]);
    log.shutdown().await.unwrap();
}

#[tokio::test]
async fn tail_refuses_an_edited_record() {
    let test = TestLog::written(6).await;
    test.rewrite(&segment(4), |lines| {
        lines[1] = lines[1].replace("req-5", "req-6");
    })
    .await;
    let mut tail = Tail::new(&test.scope, &test.log_id, 1).unwrap();
    let err = tail.read().await.unwrap_err();
    assert!(
        matches!(err, AuditError::Tampered { seq: 5, ref object, .. } if *object == segment(4)),
        "{err}"
    );
}

#[tokio::test]
async fn tail_refuses_a_record_that_does_not_link() {
    let test = TestLog::written(6).await;
    test.rewrite(&segment(4), |lines| {
        lines[1] = rehash(&lines[1].replace("req-5", "req-6"));
    })
    .await;
    let mut tail = Tail::new(&test.scope, &test.log_id, 4).unwrap();
    let err = tail.read().await.unwrap_err();
    assert!(matches!(err, AuditError::Tampered { seq: 6, .. }), "{err}");
}

#[tokio::test]
async fn tail_refuses_to_skip_missing_records() {
    let test = TestLog::written(9).await;
    test.scope.delete(&key(&segment(4))).await.unwrap();
    let mut tail = Tail::new(&test.scope, &test.log_id, 1).unwrap();
    let err = tail.read().await.unwrap_err();
    assert!(matches!(err, AuditError::Tampered { seq: 7, .. }), "{err}");
}

/// Found while writing the `audit_log` fuzz target: the damaged line's claimed
/// seq was incremented, which overflowed (a panic in debug builds, and in
/// release a wrap to 0 that skipped the line as "before the start").
#[tokio::test]
async fn tail_refuses_a_damaged_line_whatever_seq_it_claims() {
    let test = TestLog::written(3).await;
    test.rewrite(&segment(1), |lines| {
        lines[2] = format!("{{\"seq\":{}}}", u64::MAX);
    })
    .await;
    let mut tail = Tail::new(&test.scope, &test.log_id, 1).unwrap();
    let err = tail.read().await.unwrap_err();
    assert!(
        matches!(err, AuditError::Tampered { seq: u64::MAX, .. }),
        "{err}"
    );
}
