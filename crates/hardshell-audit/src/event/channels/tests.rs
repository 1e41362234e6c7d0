//! The channel records' bytes, pinned: the hash chain covers them, so a
//! change of shape is a change of every later record's hash. And what must
//! never read back as one: a name, a code or a message where an id belongs.

use std::net::{IpAddr, Ipv4Addr};

use hardshell_vocabulary::{ChannelRole, Platform, Sender};

use super::super::{AuditEvent, ChannelRefusal, RequestId, WebhookRejection};
use super::*;

fn telegram(id: &str) -> Sender {
    Sender::parse(Platform::Telegram, id).unwrap()
}

/// Each event as it is written, byte for byte.
fn pinned() -> Vec<(AuditEvent, &'static str)> {
    vec![
        (
            AuditEvent::PairingRequested(PairingRequested {
                sender: telegram("123456789"),
            }),
            r#"{"type":"pairing_requested","sender":"telegram:123456789"}"#,
        ),
        (
            AuditEvent::PairingApproved(PairingApproved {
                sender: telegram("123456789"),
                role: ChannelRole::Owner,
                subject: "owner".to_owned(),
                actor: Some("owner".to_owned()),
            }),
            r#"{"type":"pairing_approved","sender":"telegram:123456789","role":"owner","subject":"owner","actor":"owner"}"#,
        ),
        (
            AuditEvent::PairingApproved(PairingApproved {
                sender: Sender::parse(Platform::Slack, "T0123ABCD:U0123ABCD").unwrap(),
                role: ChannelRole::Guest,
                subject: "slack:T0123ABCD:U0123ABCD".to_owned(),
                actor: None,
            }),
            r#"{"type":"pairing_approved","sender":"slack:T0123ABCD:U0123ABCD","role":"guest","subject":"slack:T0123ABCD:U0123ABCD","actor":null}"#,
        ),
        (
            AuditEvent::PairingRevoked(PairingRevoked {
                sender: Sender::parse(Platform::Discord, "80351110224678912").unwrap(),
                actor: None,
            }),
            r#"{"type":"pairing_revoked","sender":"discord:80351110224678912","actor":null}"#,
        ),
        (
            AuditEvent::ChannelMessageRefused(ChannelMessageRefused {
                platform: Platform::Telegram,
                sender: Some(telegram("42")),
                reason: ChannelRefusal::PairingLimited,
            }),
            r#"{"type":"channel_message_refused","platform":"telegram","sender":"telegram:42","reason":"pairing_limited"}"#,
        ),
        (
            AuditEvent::ChannelMessageRefused(ChannelMessageRefused {
                platform: Platform::Whatsapp,
                sender: None,
                reason: ChannelRefusal::GroupNotAllowed,
            }),
            r#"{"type":"channel_message_refused","platform":"whatsapp","sender":null,"reason":"group_not_allowed"}"#,
        ),
        (
            AuditEvent::WebhookRejected(WebhookRejected {
                request_id: RequestId::new("req-1").unwrap(),
                client: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
                platform: Platform::Whatsapp,
                reason: WebhookRejection::WrongPhoneNumber,
            }),
            r#"{"type":"webhook_rejected","request_id":"req-1","client":"198.51.100.7","platform":"whatsapp","reason":"wrong_phone_number"}"#,
        ),
    ]
}

#[test]
fn channel_records_are_written_and_read_back_byte_for_byte() {
    for (event, bytes) in pinned() {
        assert_eq!(serde_json::to_string(&event).unwrap(), bytes);
        let back: AuditEvent = serde_json::from_str(bytes).unwrap();
        assert_eq!(back, event, "{bytes}");
    }
}

#[test]
fn a_sender_that_is_not_a_platform_id_is_refused_when_read() {
    for sender in [
        // A name anyone can take, in place of the immutable id.
        r#""telegram:@alice""#,
        // A pairing code where the id belongs.
        r#""telegram:ABCD2345""#,
        // Another platform's grammar, or none.
        r#""slack:U0123ABCD""#,
        r#""irc:123""#,
        r#""123456789""#,
        r#""telegram:""#,
        // The vocabulary's own shape is not the record's: fields are scalars.
        r#"{"platform":"telegram","id":"42"}"#,
        // Terminal control characters reach whoever reads the log.
        "\"telegram:42\\u001b[2J\"",
    ] {
        let json = format!(r#"{{"type":"pairing_requested","sender":{sender}}}"#);
        assert!(serde_json::from_str::<AuditEvent>(&json).is_err(), "{json}");
        let json = format!(
            r#"{{"type":"channel_message_refused","platform":"telegram","sender":{sender},"reason":"unpaired"}}"#
        );
        assert!(serde_json::from_str::<AuditEvent>(&json).is_err(), "{json}");
    }
}

#[test]
fn a_channel_record_with_a_code_a_token_or_text_is_refused_when_read() {
    for json in [
        r#"{"type":"pairing_requested","sender":"telegram:42","code":"ABCD2345"}"#,
        r#"{"type":"pairing_approved","sender":"telegram:42","role":"guest","subject":"telegram:42","actor":null,"code":"ABCD2345"}"#,
        r#"{"type":"channel_message_refused","platform":"telegram","sender":"telegram:42","reason":"unpaired","text":"hello"}"#,
        r#"{"type":"webhook_rejected","request_id":"r","client":"127.0.0.1","platform":"telegram","reason":"wrong_secret_token","token":"s3cret"}"#,
        // Reasons are hardshell's closed words, never the platform's text.
        r#"{"type":"channel_message_refused","platform":"telegram","sender":null,"reason":"spam"}"#,
        r#"{"type":"webhook_rejected","request_id":"r","client":"127.0.0.1","platform":"slack","reason":"signature v0=abc did not match"}"#,
        // Only the two roles exist; admin is not one a sender can be given.
        r#"{"type":"pairing_approved","sender":"telegram:42","role":"admin","subject":"owner","actor":null}"#,
        r#"{"type":"webhook_rejected","request_id":"r","client":"127.0.0.1","platform":"matrix","reason":"malformed"}"#,
    ] {
        assert!(serde_json::from_str::<AuditEvent>(json).is_err(), "{json}");
    }
}
