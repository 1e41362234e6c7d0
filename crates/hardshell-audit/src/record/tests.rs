use chrono::TimeZone;
use hardshell_auth::Method;
use sha2::{Digest, Sha256};

use super::*;
use crate::event::{LoginFailed, RequestId};

fn event() -> AuditEvent {
    AuditEvent::LoginFailed(LoginFailed {
        request_id: RequestId::new("req-1").unwrap(),
        client: "203.0.113.9".parse().unwrap(),
        auth_method: Method::Passkey,
        reason: "assertion signature did not verify".to_owned(),
    })
}

fn time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
        + chrono::Duration::nanoseconds(123_456_789)
}

fn line_of(record: &Record) -> String {
    let line = record.to_line().unwrap();
    String::from_utf8(line).unwrap().trim_end().to_owned()
}

#[test]
fn the_first_record_links_to_genesis() {
    let first = Record::next(None, time(), event()).unwrap();
    assert_eq!(first.seq(), 1);
    assert_eq!(first.prev(), ChainHash::GENESIS);
    assert!(line_of(&first).contains(&format!("\"prev\":\"{}\"", "0".repeat(64))));
}

#[test]
fn each_record_links_to_the_previous_hash() {
    let first = Record::next(None, time(), event()).unwrap();
    let second = Record::next(Some((first.seq(), first.hash())), time(), event()).unwrap();
    assert_eq!(second.seq(), 2);
    assert_eq!(second.prev(), first.hash());
    assert_ne!(second.hash(), first.hash());
}

#[test]
fn the_hash_is_sha256_of_the_line_without_its_hash_field() {
    let record = Record::next(None, time(), event()).unwrap();
    let line = line_of(&record);
    let body = line.replace(&format!(",\"hash\":\"{}\"", record.hash()), "");
    assert_ne!(body, line);
    assert_eq!(
        hex::encode(Sha256::digest(body.as_bytes())),
        record.hash().to_string()
    );
}

#[test]
fn a_line_reads_back_as_the_record_written() {
    let record = Record::next(None, time(), event()).unwrap();
    assert_eq!(record.time().timestamp_subsec_nanos(), 123_456_000);
    let back = Record::read(line_of(&record).as_bytes()).unwrap();
    assert_eq!(back, record);
    assert!(line_of(&record).contains("\"time\":\"2026-11-24T12:00:00.123456Z\""));
}

#[test]
fn edited_content_no_longer_matches_its_hash() {
    let record = Record::next(None, time(), event()).unwrap();
    let edited = line_of(&record).replace("203.0.113.9", "203.0.113.10");
    let bad = Record::read(edited.as_bytes()).unwrap_err();
    assert!(
        matches!(bad.fault, LineFault::HashMismatch { .. }),
        "{:?}",
        bad.fault
    );
    assert_eq!(bad.seq(), Some(1));
}

#[test]
fn a_reformatted_line_is_not_canonical() {
    let record = Record::next(None, time(), event()).unwrap();
    let spaced = line_of(&record).replacen("\"seq\":1", "\"seq\": 1", 1);
    let bad = Record::read(spaced.as_bytes()).unwrap_err();
    assert_eq!(bad.fault, LineFault::NotCanonical);
    let other_time_form = line_of(&record).replace(".123456Z", ".123456+00:00");
    let bad = Record::read(other_time_form.as_bytes()).unwrap_err();
    assert_eq!(bad.fault, LineFault::NotCanonical);
}

#[test]
fn an_added_field_makes_a_line_malformed_but_its_seq_is_still_read() {
    let record = Record::next(None, time(), event()).unwrap();
    let extra = line_of(&record).replacen("{\"seq\":1,", "{\"seq\":1,\"note\":\"x\",", 1);
    let bad = Record::read(extra.as_bytes()).unwrap_err();
    assert!(
        matches!(bad.fault, LineFault::Malformed { .. }),
        "{:?}",
        bad.fault
    );
    assert_eq!(bad.seq(), Some(1));
}

#[test]
fn garbage_is_malformed_without_a_seq() {
    let bad = Record::read(b"not json").unwrap_err();
    assert!(bad.record.is_none());
    assert_eq!(bad.seq(), None);
}

#[test]
fn hashes_must_be_lower_case_hex() {
    assert!(ChainHash::try_from("A".repeat(64)).is_err());
    assert!(ChainHash::try_from("a".repeat(63)).is_err());
    assert!(ChainHash::try_from("g".repeat(64)).is_err());
    assert_eq!(ChainHash::try_from("0".repeat(64)), Ok(ChainHash::GENESIS));
}

/// Found by the `audit_record` fuzz target: serde's message repeated an
/// unknown event type with its control characters.
#[test]
fn a_refused_line_is_described_on_one_printable_line() {
    let record = Record::next(None, time(), event()).unwrap();
    let line = line_of(&record).replace("login_failed", "login_failed\\u001b[2J\\n");
    let bad = Record::read(line.as_bytes()).unwrap_err();
    let shown = bad.fault.to_string();
    assert!(shown.contains("unknown variant"), "{shown}");
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
}

/// A stored line exactly as the release before a change wrote it: the old
/// event's JSON, chained and hashed by hand (the hash is SHA-256 of the line
/// without `,"hash":...`, see the module doc).
fn line_written_before(seq: u64, prev: ChainHash, old_event: &str) -> (String, ChainHash) {
    let body = format!(
        "{{\"seq\":{seq},\"time\":\"2026-11-24T12:00:00.123456Z\",\"prev\":\"{prev}\",\"event\":{old_event}}}"
    );
    let hash = ChainHash(Sha256::digest(body.as_bytes()).into());
    let line = format!("{},\"hash\":\"{hash}\"}}", body.strip_suffix('}').unwrap());
    (line, hash)
}

#[test]
fn records_written_before_events_were_narrowed_still_verify_byte_for_byte() {
    // `provider_switched` with free text in every field, as it was before
    // `ChainModel` and `SwitchReason`; one written by a hostile agent; and
    // `exec_finished` from before `pids_limit_hit`...
    let old_events = [
        r#"{"type":"provider_switched","from":"anthropic","to":"ollama","reason":"anthropic answered 529 three times"}"#,
        "{\"type\":\"provider_switched\",\"from\":\"a\\u001b]0;pwned\\u0007\",\"to\":\"b\u{202e}\",\"reason\":\"\\u001b[2J\"}",
        r#"{"type":"exec_finished","session":"web-1","command_sha256":"ab","ended":"exited","exit_code":0,"duration_ms":12}"#,
        // ...and from the release that added it, which wrote `false` out.
        r#"{"type":"exec_finished","session":"web-1","command_sha256":"ab","ended":"exited","exit_code":0,"duration_ms":12,"pids_limit_hit":false}"#,
    ];
    let mut prev = ChainHash::GENESIS;
    for (seq, old_event) in (1..).zip(old_events) {
        let (line, hash) = line_written_before(seq, prev, old_event);
        let record = Record::read(line.as_bytes())
            .unwrap_or_else(|bad| panic!("{old_event}: {}", bad.fault));
        assert_eq!(
            (record.seq(), record.prev(), record.hash()),
            (seq, prev, hash)
        );
        assert_eq!(line_of(&record), line);
        prev = hash;
    }
}

#[test]
fn an_old_provider_switch_reads_as_legacy_text_shown_escaped() {
    let old = "{\"type\":\"provider_switched\",\"from\":\"a\\u001b]0;pwned\\u0007\",\"to\":\"b\u{202e}\",\"reason\":\"overloaded\"}";
    let (line, _) = line_written_before(1, ChainHash::GENESIS, old);
    let record = Record::read(line.as_bytes()).unwrap();
    let AuditEvent::ProviderSwitched(switch) = record.event() else {
        panic!("{:?}", record.event());
    };
    assert!(switch.from.checked().is_none() && switch.to.checked().is_none());
    assert_eq!(
        switch.reason.checked(),
        Some(&crate::event::SwitchReason::Overloaded)
    );
    assert_eq!(switch.from.to_string(), "a\\u{1b}]0;pwned\\u{7}");
    assert_eq!(switch.to.to_string(), "b\\u{202e}");
}
