//! A whole stored audit log, through the real `verify` and `Tail::read` over a
//! local store: what `hardshell audit verify` and `audit tail` do with a bucket
//! someone has edited.
//!
//! Input (text): the first line is the `head` object (empty: none); then
//! segments, each introduced by a line `--- <first seq>` (lines before the
//! first such line go to segment 1). If the first byte is `!` it is dropped and
//! all lines are relinked in storage order (`hardshell_fuzz::chain`) so the
//! chain is valid where the fuzzer left the fields in place; a head line of
//! `auto` then names the last line's seq and hash.
//!
//! Properties: neither panics; `verify` fails only on storage errors (never,
//! here); when `verify` finds the log intact, `Tail` from the start returns
//! exactly the records verify counted, in seq order from 1, each one's line
//! exactly as stored.
#![no_main]

use std::sync::OnceLock;

use hardshell_audit::{LogId, Tail, verify};
use hardshell_fuzz::{chain, local_store, runtime};
use hardshell_storage::{ObjectKey, Scope};
use libfuzzer_sys::fuzz_target;

const MAX_SEGMENTS: usize = 8;

fn scope() -> &'static Scope {
    static SCOPE: OnceLock<Scope> = OnceLock::new();
    SCOPE.get_or_init(|| local_store("audit_log"))
}

struct StoredInput {
    head: Option<Vec<u8>>,
    segments: Vec<(u64, Vec<u8>)>,
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = stored_input(data) else {
        return;
    };
    let scope = scope();
    let log_id = LogId::new("fuzz").unwrap_or_else(|e| panic!("fuzz fixture: {e}"));
    runtime().block_on(async {
        clear(scope).await;
        let put = |key: String, value: Vec<u8>| async move {
            let key = ObjectKey::parse(&key).unwrap_or_else(|e| panic!("fuzz fixture: {e}"));
            scope
                .put(&key, &value)
                .await
                .unwrap_or_else(|e| panic!("fuzz fixture: put: {e}"));
        };
        if let Some(head) = input.head {
            put("fuzz/head".to_owned(), head).await;
        }
        for (first_seq, bytes) in &input.segments {
            put(format!("fuzz/segments/{first_seq:020}"), bytes.clone()).await;
        }

        let report = verify(scope, &log_id)
            .await
            .unwrap_or_else(|e| panic!("verify failed on a readable store: {e}"));
        let mut tail = Tail::new(scope, &log_id, 1).unwrap_or_else(|e| panic!("tail: {e}"));
        let tailed = tail.read().await;
        if !report.is_intact() {
            return;
        }
        let records = tailed.unwrap_or_else(|e| panic!("verify: intact; tail: {e}"));
        assert_eq!(records.len() as u64, report.records, "{report:?}");
        let stored: Vec<&[u8]> = input
            .segments
            .iter()
            .flat_map(|(_, bytes)| lines(bytes))
            .collect();
        for (index, record) in records.iter().enumerate() {
            assert_eq!(record.seq(), index as u64 + 1);
            let line = record.to_line().unwrap_or_else(|e| panic!("to_line: {e}"));
            assert!(
                stored.contains(&&line[..line.len() - 1]),
                "tail returned a record that is not stored as such"
            );
        }
    });
});

fn stored_input(data: &[u8]) -> Option<StoredInput> {
    let (relink, data) = match data.split_first() {
        Some((b'!', rest)) => (true, rest),
        _ => (false, data),
    };
    let mut parts = data.split(|b| *b == b'\n');
    let head = parts
        .next()
        .filter(|head| !head.is_empty())
        .map(<[u8]>::to_vec);
    let mut segments: Vec<(u64, Vec<Vec<u8>>)> = Vec::new();
    for line in parts {
        if let Some(seq) = line.strip_prefix(b"--- ") {
            let seq = std::str::from_utf8(seq).ok()?.trim().parse().ok()?;
            if segments.len() == MAX_SEGMENTS {
                return None;
            }
            segments.push((seq, Vec::new()));
            continue;
        }
        if segments.is_empty() {
            segments.push((1, Vec::new()));
        }
        if let Some((_, lines)) = segments.last_mut() {
            lines.push(line.to_vec());
        }
    }
    for (_, lines) in &mut segments {
        // A trailing empty line is the newline that ends the segment.
        if lines.last().is_some_and(Vec::is_empty) {
            lines.pop();
        }
    }
    let mut head = head;
    if relink {
        // One chain across segments, in storage order.
        let mut all: Vec<Vec<u8>> = segments.iter().flat_map(|(_, l)| l.clone()).collect();
        chain::relink(&mut all);
        let mut all = all.into_iter();
        for (_, lines) in &mut segments {
            for line in lines.iter_mut() {
                *line = all.next().unwrap_or_default();
            }
        }
        if head.as_deref() == Some(b"auto") {
            head = segments
                .iter()
                .flat_map(|(_, l)| l.last())
                .next_back()
                .and_then(|last| serde_json::from_slice::<serde_json::Value>(last).ok())
                .map(|last| {
                    let head = serde_json::json!({"seq": last["seq"], "hash": last["hash"]});
                    head.to_string().into_bytes()
                });
        }
    }
    let segments = segments
        .into_iter()
        .map(|(first_seq, lines)| {
            let mut bytes = Vec::new();
            for line in lines {
                bytes.extend_from_slice(&line);
                bytes.push(b'\n');
            }
            (first_seq, bytes)
        })
        .collect();
    Some(StoredInput { head, segments })
}

/// The lines of a segment as the reader splits them.
fn lines(segment: &[u8]) -> impl Iterator<Item = &[u8]> {
    segment
        .strip_suffix(b"\n")
        .unwrap_or(segment)
        .split(|b| *b == b'\n')
        .filter(move |_| !segment.is_empty())
}

/// Removes what the previous input stored, so each input sees only its own log.
async fn clear(scope: &Scope) {
    let entries = scope
        .list()
        .await
        .unwrap_or_else(|e| panic!("fuzz fixture: list: {e}"));
    for entry in entries {
        scope
            .delete(&entry.key)
            .await
            .unwrap_or_else(|e| panic!("fuzz fixture: delete: {e}"));
    }
}
