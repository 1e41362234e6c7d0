//! The writer: batching, durable records, segments, restarts, other writers.

use std::time::Duration;

use hardshell_audit::{AuditError, AuditLog, AuditOptions, Tail};
use hardshell_testkit::SmallDisk;

use crate::support::*;

#[tokio::test]
async fn flushed_records_form_an_intact_chain_with_a_head() {
    let test = TestLog::new().await;
    let log = test.open(manual_flush()).await;
    for n in 1..=5 {
        assert_eq!(log.record(request(n)).unwrap(), n);
    }
    log.flush().await.unwrap();
    let report = test.verify().await;
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 5);
    assert_eq!(report.last_seq, Some(5));
    assert_eq!(report.head.map(|h| h.seq), Some(5));
    assert_eq!(report.unanchored, 0);
}

#[tokio::test]
async fn records_wait_in_memory_until_a_flush() {
    let test = TestLog::new().await;
    let log = test.open(manual_flush()).await;
    log.record(request(1)).unwrap();
    log.record(request(2)).unwrap();
    assert_eq!(log.backlog(), 2);
    assert_eq!(test.verify().await.records, 0);
    log.flush().await.unwrap();
    assert_eq!(log.backlog(), 0);
    assert_eq!(test.verify().await.records, 2);
}

#[tokio::test]
async fn a_durable_record_is_in_storage_when_record_durable_returns() {
    let test = TestLog::new().await;
    let log = test.open(manual_flush()).await;
    log.record(request(1)).unwrap();
    let seq = log.record_durable(secret_stored()).await.unwrap();
    assert_eq!(seq, 2);
    assert_eq!(log.backlog(), 0);
    // A second process, with its own store handle, sees both records.
    let other = test.reopen_scope().await;
    let mut tail = Tail::new(&other, &test.log_id, 1).unwrap();
    let records = tail.read().await.unwrap();
    assert_eq!(seqs(&records), [1, 2]);
    assert_eq!(records[1].event(), &secret_stored());
}

#[tokio::test]
async fn the_background_flush_ships_records_on_its_own() {
    let test = TestLog::new().await;
    let options = AuditOptions {
        flush_interval: Duration::from_millis(20),
        ..AuditOptions::default()
    };
    let log = test.open(options).await;
    log.record(request(1)).unwrap();
    let mut tail = Tail::new(&test.scope, &test.log_id, 1).unwrap();
    let records = tokio::time::timeout(
        Duration::from_secs(10),
        tail.follow(Duration::from_millis(10)),
    )
    .await
    .expect("the background flush never stored the record")
    .unwrap();
    assert_eq!(seqs(&records), [1]);
    drop(log);
}

#[tokio::test]
async fn a_restart_continues_the_same_chain() {
    let test = TestLog::new().await;
    let first = test.open(small_segments(3)).await;
    for n in 1..=4 {
        first.record(request(n)).unwrap();
    }
    first.shutdown().await.unwrap();
    let second = test.open(small_segments(3)).await;
    assert_eq!(second.record(request(5)).unwrap(), 5);
    second.record(request(6)).unwrap();
    second.shutdown().await.unwrap();
    let report = test.verify().await;
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 6);
    let records = Tail::new(&test.scope, &test.log_id, 1)
        .unwrap()
        .read()
        .await
        .unwrap();
    assert_eq!(records[4].prev(), records[3].hash());
}

#[tokio::test]
async fn segments_roll_over_at_the_record_limit() {
    let test = TestLog::written(7).await;
    let objects: Vec<String> = test
        .scope
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key.to_string())
        .collect();
    assert_eq!(
        objects,
        ["edge/head".to_owned(), segment(1), segment(4), segment(7)]
    );
    assert_eq!(test.lines(&segment(4)).await.len(), 3);
    assert!(test.verify().await.is_intact());
}

#[tokio::test]
async fn segments_roll_over_at_the_size_limit() {
    let test = TestLog::new().await;
    let options = AuditOptions {
        max_segment_bytes: 10,
        ..manual_flush()
    };
    let log = test.open(options).await;
    for n in 1..=3 {
        log.record(request(n)).unwrap();
    }
    log.shutdown().await.unwrap();
    let report = test.verify().await;
    assert!(report.is_intact(), "{:?}", report.findings);
    // Each record is larger than the limit, so each has a segment of its own.
    assert_eq!(report.segments, 3);
}

#[tokio::test]
async fn a_second_writer_on_the_same_log_stops_the_first_without_overwriting() {
    let test = TestLog::new().await;
    let first = test.open(manual_flush()).await;
    first.record(request(1)).unwrap();
    first.flush().await.unwrap();

    let second = test.open(manual_flush()).await;
    second.record(request(2)).unwrap();
    second.flush().await.unwrap();

    first.record(request(99)).unwrap();
    let err = first.flush().await.unwrap_err();
    assert!(
        matches!(err, AuditError::ConcurrentWriter { ref log, .. } if log == "edge"),
        "{err}"
    );
    assert!(err.to_string().contains("edge/segments/"), "{err}");
    // Stopped for good: later records are refused too.
    assert!(matches!(
        first.record(request(100)),
        Err(AuditError::ConcurrentWriter { .. })
    ));
    let report = test.verify().await;
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 2);
}

#[tokio::test]
async fn a_full_backlog_refuses_new_records_until_flushed() {
    let test = TestLog::new().await;
    let log = test.open(backlog_of(2)).await;
    log.record(request(1)).unwrap();
    log.record(request(2)).unwrap();
    let err = log.record(request(3)).unwrap_err();
    assert!(
        matches!(err, AuditError::BacklogFull { limit: 2, .. }),
        "{err}"
    );
    log.flush().await.unwrap();
    assert_eq!(log.record(request(3)).unwrap(), 3);
}

#[tokio::test]
async fn records_survive_a_storage_failure_and_are_retried() {
    let test = TestLog::new().await;
    let log = test.open(manual_flush()).await;
    log.record(request(1)).unwrap();
    log.flush().await.unwrap();

    // Put a file where the log's directory is, so every write fails.
    let dir = test.objects.join("audit");
    let aside = test.objects.join("audit-aside");
    std::fs::rename(&dir, &aside).unwrap();
    std::fs::write(&dir, b"in the way").unwrap();
    log.record(request(2)).unwrap();
    let err = log.record_durable(secret_stored()).await.unwrap_err();
    assert!(matches!(err, AuditError::Storage { .. }), "{err}");
    assert_eq!(log.backlog(), 2);

    std::fs::remove_file(&dir).unwrap();
    std::fs::rename(&aside, &dir).unwrap();
    log.flush().await.unwrap();
    assert_eq!(log.backlog(), 0);
    let report = test.verify().await;
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 3);
}

#[tokio::test]
async fn a_full_disk_refuses_new_records_at_once_and_loses_none_already_made() {
    let disk = SmallDisk::new(2);
    let test = TestLog::on(&disk.path).await;
    let log = test.open(manual_flush()).await;
    log.record(request(1)).unwrap();
    log.flush().await.unwrap();

    disk.fill();
    // Made before any flush met the full disk: accepted, and kept.
    log.record(request(2)).unwrap();
    let err = log.flush().await.unwrap_err();
    assert!(
        matches!(&err, AuditError::Storage { source, .. } if source.is_full()),
        "{err}"
    );
    // From then on nothing new is accepted, not only once the backlog fills.
    let err = log.record(request(3)).unwrap_err();
    assert!(matches!(err, AuditError::StorageFull { .. }), "{err}");
    assert!(err.to_string().contains("full"), "{err}");
    let err = log.record_durable(secret_stored()).await.unwrap_err();
    assert!(matches!(err, AuditError::StorageFull { .. }), "{err}");
    assert_eq!(log.backlog(), 1);

    disk.free();
    log.flush().await.unwrap();
    log.record(request(3)).unwrap();
    log.shutdown().await.unwrap();
    let report = test.verify().await;
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 3);
}

#[tokio::test]
async fn open_catches_up_a_head_left_behind_by_a_killed_writer() {
    let test = TestLog::new().await;
    let log = test.open(manual_flush()).await;
    log.record(request(1)).unwrap();
    log.flush().await.unwrap();
    let old_head = test.scope.get(&key("edge/head")).await.unwrap().unwrap();
    log.record(request(2)).unwrap();
    log.shutdown().await.unwrap();
    // As if the writer died after storing the segment but before the head.
    test.scope
        .put(&key("edge/head"), &old_head.value)
        .await
        .unwrap();
    let report = test.verify().await;
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.unanchored, 1);

    test.open(manual_flush()).await.shutdown().await.unwrap();
    let report = test.verify().await;
    assert_eq!(report.head.map(|h| h.seq), Some(2));
    assert_eq!(report.unanchored, 0);
}

#[tokio::test]
async fn open_refuses_a_log_whose_trailing_records_were_removed() {
    let test = TestLog::written(4).await;
    test.scope.delete(&key(&segment(4))).await.unwrap();
    let err = AuditLog::open(&test.scope, &test.log_id, manual_flush())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Truncated {
                head_seq: 4,
                stored_seq: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn open_refuses_a_log_whose_last_segment_was_edited() {
    let test = TestLog::written(5).await;
    test.rewrite(&segment(4), |lines| {
        lines[1] = lines[1].replace("req-5", "req-6");
    })
    .await;
    let err = AuditLog::open(&test.scope, &test.log_id, manual_flush())
        .await
        .unwrap_err();
    assert!(matches!(err, AuditError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains("segments/00000000000000000004"),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_log_ids_are_refused() {
    let test = TestLog::new().await;
    for bad in ["", "a/b", ".."] {
        let err = hardshell_audit::LogId::new(bad).unwrap_err();
        assert!(matches!(err, AuditError::InvalidLogId { .. }), "{err}");
    }
    drop(test);
}

#[tokio::test]
async fn a_caller_that_gives_up_on_a_durable_record_does_not_break_the_log() {
    // An HTTP handler awaiting record_durable is dropped when its client goes
    // away. Cut such calls off at several points and check the log carries on.
    let test = TestLog::new().await;
    let log = test.open(small_segments(2)).await;
    let cut_points = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
    for wait_micros in cut_points {
        let cut_off = tokio::time::timeout(
            Duration::from_micros(wait_micros),
            log.record_durable(secret_stored()),
        )
        .await;
        drop(cut_off);
    }
    log.record_durable(secret_stored()).await.unwrap();
    log.shutdown().await.unwrap();
    let report = test.verify().await;
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, cut_points.len() as u64 + 1);
}
