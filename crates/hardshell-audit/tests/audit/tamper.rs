//! Tampering with stored records through the storage API (plaintext, as someone
//! holding the master key could) and checking that `verify` says what and where.
//! Every log here holds records 1..=9 in segments 1, 4 and 7.

use hardshell_audit::{Finding, FindingKind};

use crate::support::*;

fn only(findings: &[Finding]) -> &Finding {
    assert_eq!(findings.len(), 1, "{findings:#?}");
    &findings[0]
}

#[tokio::test]
async fn an_untouched_log_is_intact() {
    let test = TestLog::written(9).await;
    let report = test.verify().await;
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!((report.segments, report.records), (3, 9));
}

#[tokio::test]
async fn an_edited_record_is_found_where_it_is() {
    let test = TestLog::written(9).await;
    test.rewrite(&segment(4), |lines| {
        lines[1] = lines[1].replace("198.51.100.7", "203.0.113.1");
    })
    .await;
    let finding = only(&test.verify().await.findings).clone();
    assert_eq!(finding.kind, FindingKind::Edited);
    assert_eq!(finding.object, segment(4));
    assert_eq!((finding.seq, finding.line), (Some(5), Some(2)));
}

#[tokio::test]
async fn an_edited_record_with_a_recomputed_hash_breaks_the_next_link() {
    let test = TestLog::written(9).await;
    test.rewrite(&segment(4), |lines| {
        lines[1] = rehash(&lines[1].replace("198.51.100.7", "203.0.113.1"));
    })
    .await;
    let finding = only(&test.verify().await.findings).clone();
    assert_eq!(finding.kind, FindingKind::BrokenLink);
    assert_eq!((finding.object, finding.seq), (segment(4), Some(6)));
}

#[tokio::test]
async fn a_deleted_record_leaves_a_gap() {
    let test = TestLog::written(9).await;
    test.rewrite(&segment(4), |lines| {
        lines.remove(1);
    })
    .await;
    let finding = only(&test.verify().await.findings).clone();
    assert_eq!(finding.kind, FindingKind::Gap);
    assert_eq!((finding.object, finding.seq), (segment(4), Some(5)));
}

#[tokio::test]
async fn a_deleted_segment_leaves_a_gap_of_its_records() {
    let test = TestLog::written(9).await;
    test.scope.delete(&key(&segment(4))).await.unwrap();
    let finding = only(&test.verify().await.findings).clone();
    assert_eq!(finding.kind, FindingKind::Gap);
    assert_eq!(finding.seq, Some(4));
    assert!(
        finding.detail.contains("records 4 to 6"),
        "{}",
        finding.detail
    );
}

#[tokio::test]
async fn a_deleted_first_segment_leaves_a_gap_from_the_start() {
    let test = TestLog::written(9).await;
    test.scope.delete(&key(&segment(1))).await.unwrap();
    let finding = only(&test.verify().await.findings).clone();
    assert_eq!((finding.kind, finding.seq), (FindingKind::Gap, Some(1)));
}

#[tokio::test]
async fn a_duplicated_record_is_reported_as_inserted() {
    let test = TestLog::written(9).await;
    test.rewrite(&segment(4), |lines| {
        let copy = lines[0].clone();
        lines.insert(2, copy);
    })
    .await;
    let finding = only(&test.verify().await.findings).clone();
    assert_eq!(finding.kind, FindingKind::Inserted);
    assert_eq!(
        (finding.object, finding.seq, finding.line),
        (segment(4), Some(4), Some(3))
    );
}

#[tokio::test]
async fn a_forged_record_in_place_of_a_real_one_is_found() {
    let test = TestLog::written(9).await;
    test.rewrite(&segment(4), |lines| {
        // A forger's own record 5, correctly hashed and linked to 4, inserted
        // before the real 5.
        let forged = rehash(&lines[1].replace("req-5", "req-forged"));
        lines.insert(1, forged);
    })
    .await;
    let findings = test.verify().await.findings;
    let kinds: Vec<FindingKind> = findings.iter().map(|f| f.kind).collect();
    // The real 5 is now a second 5, and 6 does not link to the forged one.
    assert!(kinds.contains(&FindingKind::Inserted), "{findings:#?}");
    assert!(kinds.contains(&FindingKind::BrokenLink), "{findings:#?}");
}

#[tokio::test]
async fn swapped_records_are_reported_as_reordered() {
    let test = TestLog::written(9).await;
    test.rewrite(&segment(4), |lines| lines.swap(0, 1)).await;
    let finding = only(&test.verify().await.findings).clone();
    assert_eq!(finding.kind, FindingKind::Reordered);
    assert_eq!(
        (finding.object, finding.seq, finding.line),
        (segment(4), Some(4), Some(2))
    );
}

#[tokio::test]
async fn removed_trailing_records_are_reported_as_truncated() {
    let test = TestLog::written(9).await;
    test.rewrite(&segment(7), |lines| {
        lines.truncate(1);
    })
    .await;
    let finding = only(&test.verify().await.findings).clone();
    assert_eq!(finding.kind, FindingKind::Truncated);
    assert_eq!(
        (finding.object.as_str(), finding.seq),
        ("edge/head", Some(8))
    );
}

#[tokio::test]
async fn a_removed_last_segment_is_reported_as_truncated() {
    let test = TestLog::written(9).await;
    test.scope.delete(&key(&segment(7))).await.unwrap();
    let finding = only(&test.verify().await.findings).clone();
    assert_eq!(
        (finding.kind, finding.seq),
        (FindingKind::Truncated, Some(7))
    );
}

#[tokio::test]
async fn a_removed_head_is_reported_as_truncated() {
    let test = TestLog::written(9).await;
    test.scope.delete(&key("edge/head")).await.unwrap();
    let finding = only(&test.verify().await.findings).clone();
    assert_eq!(finding.kind, FindingKind::Truncated);
    assert_eq!(finding.object, "edge/head");
}

#[tokio::test]
async fn a_head_naming_another_hash_is_a_broken_link() {
    let test = TestLog::written(9).await;
    let head = format!("{{\"seq\":9,\"hash\":\"{}\"}}", "ab".repeat(32));
    test.scope
        .put(&key("edge/head"), head.as_bytes())
        .await
        .unwrap();
    let finding = only(&test.verify().await.findings).clone();
    assert_eq!(finding.kind, FindingKind::BrokenLink);
    assert_eq!(
        (finding.object.as_str(), finding.seq),
        ("edge/head", Some(9))
    );
}

#[tokio::test]
async fn a_first_record_not_linked_to_genesis_is_a_broken_link() {
    let test = TestLog::written(9).await;
    test.rewrite(&segment(1), |lines| {
        lines[0] = rehash(&lines[0].replace(&"0".repeat(64), &"1".repeat(64)));
    })
    .await;
    let findings = test.verify().await.findings;
    let kinds: Vec<(FindingKind, Option<u64>)> = findings.iter().map(|f| (f.kind, f.seq)).collect();
    // Record 1 no longer starts the chain, and record 2 no longer links to it.
    assert_eq!(
        kinds,
        [
            (FindingKind::BrokenLink, Some(1)),
            (FindingKind::BrokenLink, Some(2))
        ]
    );
}

#[tokio::test]
async fn a_stray_object_under_segments_is_reported_as_inserted() {
    let test = TestLog::written(9).await;
    test.scope
        .put(&key("edge/segments/extra"), b"{}\n")
        .await
        .unwrap();
    let finding = only(&test.verify().await.findings).clone();
    assert_eq!(finding.kind, FindingKind::Inserted);
    assert_eq!(finding.object, "edge/segments/extra");
}

#[tokio::test]
async fn a_segment_damaged_at_rest_is_reported_as_edited() {
    let test = TestLog::written(9).await;
    let path = test.raw_path(&segment(4));
    let mut sealed = std::fs::read(&path).unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    std::fs::write(&path, sealed).unwrap();
    let findings = test.verify().await.findings;
    assert_eq!(findings[0].kind, FindingKind::Edited, "{findings:#?}");
    assert_eq!(findings[0].object, segment(4));
    // Its records cannot be read, so they are also missing.
    assert!(
        findings
            .iter()
            .any(|f| f.kind == FindingKind::Gap && f.seq == Some(4))
    );
}

#[tokio::test]
async fn findings_read_as_one_line_each() {
    let test = TestLog::written(9).await;
    test.rewrite(&segment(4), |lines| lines.swap(0, 1)).await;
    let shown = test.verify().await.findings[0].to_string();
    assert_eq!(
        shown,
        format!(
            "reordered: {} seq 4 line 2: seq 4 is stored after seq 5",
            segment(4)
        )
    );
}

#[tokio::test]
async fn a_head_that_is_not_a_head_is_reported_as_edited() {
    let test = TestLog::written(9).await;
    test.scope
        .put(&key("edge/head"), b"{\"seq\":\"nine\"}")
        .await
        .unwrap();
    let finding = only(&test.verify().await.findings).clone();
    assert_eq!(finding.kind, FindingKind::Edited);
    assert_eq!(finding.object, "edge/head");
}

#[tokio::test]
async fn a_log_never_written_is_intact_and_empty() {
    let test = TestLog::new().await;
    let report = test.verify().await;
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(
        (report.records, report.last_seq, report.head),
        (0, None, None)
    );
}
