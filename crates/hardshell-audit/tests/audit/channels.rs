//! Channel records through the real writer: stored, verified and read back
//! as written, and a stored sender rewritten to a name is found by `verify`.

use hardshell_audit::event::{
    ChannelMessageRefused, ChannelRefusal, PairingApproved, PairingRequested, PairingRevoked,
    RequestId, WebhookRejected, WebhookRejection,
};
use hardshell_audit::{AuditEvent, FindingKind, Tail};
use hardshell_vocabulary::{ChannelRole, Platform, Sender};

use crate::support::*;

/// A stranger asks, is paired as a guest, is revoked, writes again; a forged
/// webhook is turned away.
fn pairing_story() -> Vec<AuditEvent> {
    let sender = Sender::parse(Platform::Telegram, "123456789").unwrap();
    vec![
        AuditEvent::PairingRequested(PairingRequested {
            sender: sender.clone(),
        }),
        AuditEvent::PairingApproved(PairingApproved {
            sender: sender.clone(),
            role: ChannelRole::Guest,
            subject: sender.subject(),
            actor: Some("owner".to_owned()),
        }),
        AuditEvent::PairingRevoked(PairingRevoked {
            sender: sender.clone(),
            actor: None,
        }),
        AuditEvent::ChannelMessageRefused(ChannelMessageRefused {
            platform: Platform::Telegram,
            sender: Some(sender),
            reason: ChannelRefusal::Unpaired,
        }),
        AuditEvent::WebhookRejected(WebhookRejected {
            request_id: RequestId::new("req-9").unwrap(),
            client: "203.0.113.9".parse().unwrap(),
            platform: Platform::Telegram,
            reason: WebhookRejection::WrongSecretToken,
        }),
    ]
}

#[tokio::test]
async fn channel_records_are_stored_verified_and_read_back_as_written() {
    let test = TestLog::new().await;
    let log = test.open(small_segments(2)).await;
    for event in pairing_story() {
        log.record(event).unwrap();
    }
    log.shutdown().await.unwrap();
    let report = test.verify().await;
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 5);
    let mut tail = Tail::new(&test.scope, &test.log_id, 1).unwrap();
    let read: Vec<AuditEvent> = tail
        .read()
        .await
        .unwrap()
        .iter()
        .map(|record| record.event().clone())
        .collect();
    assert_eq!(read, pairing_story());
}

#[tokio::test]
async fn a_stored_sender_rewritten_to_a_name_is_found_by_verify() {
    let test = TestLog::new().await;
    let log = test.open(small_segments(2)).await;
    for event in pairing_story() {
        log.record(event).unwrap();
    }
    log.shutdown().await.unwrap();
    test.rewrite(&segment(1), |lines| {
        // Re-hashed as a careful forger would: the line no longer reads as
        // a record, since a name is not a sender.
        lines[0] = rehash(&lines[0].replace("telegram:123456789", "telegram:@owner"));
    })
    .await;
    let findings = test.verify().await.findings;
    let edited: Vec<_> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::Edited)
        .map(|f| f.seq)
        .collect();
    assert_eq!(edited, [Some(1)], "{findings:#?}");
}
