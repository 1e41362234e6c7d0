//! Searching a log newest first, a page at a time, as the admin page does.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use hardshell_audit::event::{SessionRevoked, TokenCreated, TokenId};
use hardshell_audit::{AuditEvent, LogId, Query, log_ids, search};
use hardshell_auth::TokenScope;

use crate::support::*;

fn everything() -> Query {
    Query {
        types: BTreeSet::new(),
        principal: None,
        since: None,
        until: None,
        before_seq: None,
        limit: 100,
        max_segments: 100,
    }
}

fn revoked(subject: &str, actor: &str) -> AuditEvent {
    AuditEvent::SessionRevoked(SessionRevoked {
        subject: subject.to_owned(),
        actor: Some(actor.to_owned()),
    })
}

fn token_created(actor: &str) -> AuditEvent {
    AuditEvent::TokenCreated(TokenCreated {
        token_id: TokenId::new("0123456789abcdef").unwrap(),
        scope: TokenScope::Chat,
        expires_at: None,
        actor: Some(actor.to_owned()),
    })
}

/// Ten records in segments of three: requests 1–4, then a session revoked by
/// `admin` (5), a token made by `owner` (6), requests 7–10.
async fn mixed() -> TestLog {
    let test = TestLog::new().await;
    let log = test.open(small_segments(3)).await;
    for n in 1..=4 {
        log.record(request(n)).unwrap();
    }
    log.record(revoked("guest", "admin")).unwrap();
    log.record(token_created("owner")).unwrap();
    for n in 7..=10 {
        log.record(request(n)).unwrap();
    }
    log.shutdown().await.unwrap();
    test
}

#[tokio::test]
async fn pages_go_newest_first_and_continue_where_they_ended() {
    let test = mixed().await;
    let query = Query {
        limit: 4,
        ..everything()
    };
    let first = search(&test.scope, &test.log_id, &query).await.unwrap();
    assert_eq!(seqs(&first.records), [10, 9, 8, 7]);
    assert_eq!(first.next_before, Some(7));
    let second = search(
        &test.scope,
        &test.log_id,
        &Query {
            before_seq: first.next_before,
            ..query.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(seqs(&second.records), [6, 5, 4, 3]);
    let third = search(
        &test.scope,
        &test.log_id,
        &Query {
            before_seq: second.next_before,
            ..query
        },
    )
    .await
    .unwrap();
    assert_eq!(seqs(&third.records), [2, 1]);
    assert_eq!(third.next_before, None, "nothing is older");
    assert_eq!(first.damaged + second.damaged + third.damaged, 0);
}

#[tokio::test]
async fn types_and_principals_filter() {
    let test = mixed().await;
    let types = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
    let found = |query: Query| {
        let test = &test;
        async move {
            seqs(
                &search(&test.scope, &test.log_id, &query)
                    .await
                    .unwrap()
                    .records,
            )
        }
    };
    assert_eq!(
        found(Query {
            types: types(&["token_created", "session_revoked"]),
            ..everything()
        })
        .await,
        [6, 5]
    );
    // `actor` or `subject`, exactly.
    let by = |who: &str| Query {
        principal: Some(who.to_owned()),
        ..everything()
    };
    assert_eq!(found(by("admin")).await, [5]);
    assert_eq!(found(by("guest")).await, [5]);
    assert_eq!(found(by("owner")).await, [10, 9, 8, 7, 6, 4, 3, 2, 1]);
    assert!(found(by("own")).await.is_empty());
    assert!(found(by("nobody")).await.is_empty());
    assert!(
        found(Query {
            types: types(&["no_such_type"]),
            ..everything()
        })
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn times_bound_the_search() {
    let test = mixed().await;
    let all = search(&test.scope, &test.log_id, &everything())
        .await
        .unwrap()
        .records;
    let time_of =
        |seq: u64| -> DateTime<Utc> { all.iter().find(|r| r.seq() == seq).unwrap().time() };
    let since = time_of(5);
    let until = time_of(8);
    let page = search(
        &test.scope,
        &test.log_id,
        &Query {
            since: Some(since),
            until: Some(until),
            ..everything()
        },
    )
    .await
    .unwrap();
    // Records written in the same instant share a time: every record in
    // [since, until) is there, and none outside it.
    for record in &all {
        let inside = record.time() >= since && record.time() < until;
        assert_eq!(
            page.records.iter().any(|r| r.seq() == record.seq()),
            inside,
            "seq {}",
            record.seq()
        );
    }
    assert!(page.records.iter().any(|r| r.seq() == 5));
}

#[tokio::test]
async fn a_long_search_stops_after_its_segments_and_says_where_to_go_on() {
    let test = mixed().await;
    let query = Query {
        types: ["token_created".to_owned()].into(),
        max_segments: 2,
        ..everything()
    };
    // Segments hold 1–3, 4–6, 7–9, 10: two segments read are 10 and 7–9.
    let first = search(&test.scope, &test.log_id, &query).await.unwrap();
    assert!(first.records.is_empty());
    assert_eq!(first.next_before, Some(7));
    let second = search(
        &test.scope,
        &test.log_id,
        &Query {
            before_seq: first.next_before,
            ..query
        },
    )
    .await
    .unwrap();
    assert_eq!(seqs(&second.records), [6]);
}

#[tokio::test]
async fn a_damaged_line_is_counted_not_shown() {
    let test = mixed().await;
    test.rewrite(&segment(4), |lines| {
        lines[1] = lines[1].replace("guest", "ghost");
    })
    .await;
    let page = search(&test.scope, &test.log_id, &everything())
        .await
        .unwrap();
    assert_eq!(page.damaged, 1);
    assert_eq!(seqs(&page.records), [10, 9, 8, 7, 6, 4, 3, 2, 1]);
    assert!(!test.verify().await.is_intact());
}

#[tokio::test]
async fn every_log_in_the_scope_is_listed() {
    let test = mixed().await;
    let other = LogId::new("cli-host").unwrap();
    let log = hardshell_audit::AuditLog::open(&test.scope, &other, manual_flush())
        .await
        .unwrap();
    log.record(secret_stored()).unwrap();
    log.shutdown().await.unwrap();
    let ids: Vec<String> = log_ids(&test.scope)
        .await
        .unwrap()
        .iter()
        .map(|id| id.as_str().to_owned())
        .collect();
    assert_eq!(ids, ["cli-host", "edge"]);
    let theirs = search(&test.scope, &other, &everything()).await.unwrap();
    assert_eq!(seqs(&theirs.records), [1]);
}
