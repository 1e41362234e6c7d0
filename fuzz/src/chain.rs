//! Making fuzzed audit lines hash and link correctly, by the rule the record
//! format documents (`crates/hardshell-audit/src/record.rs`): `hash` is SHA-256
//! over the line without its `,"hash":"<64 hex>"`, and `prev` is the previous
//! line's `hash`. Without this a fuzzer almost never gets past the hash check,
//! and the event parsing and chain logic behind it go untested.

use sha2::{Digest, Sha256};

const HASH_FIELD: &[u8] = b",\"hash\":\"";
const PREV_FIELD: &[u8] = b"\"prev\":\"";

/// Rewrites each line's `prev` to the hash of the line before it (64 zeros for
/// the first) and its trailing `,"hash":"..."}` to its own hash. Lines without
/// those fields are left as they are and break the chain there.
pub fn relink(lines: &mut [Vec<u8>]) {
    let mut prev = [0u8; 32];
    for line in lines.iter_mut() {
        if let Some(at) = find(line, PREV_FIELD) {
            replace_hex(line, at + PREV_FIELD.len(), &prev);
        }
        if let Some(hash) = rehash(line) {
            prev = hash;
        }
    }
}

/// Sets the line's trailing `,"hash":"<64>"}` to the documented hash of the
/// rest; the hash, or `None` if the line does not end that way.
pub fn rehash(line: &mut [u8]) -> Option<[u8; 32]> {
    let suffix_len = HASH_FIELD.len() + 64 + 2;
    let start = line.len().checked_sub(suffix_len)?;
    if !line[start..].starts_with(HASH_FIELD) || !line.ends_with(b"\"}") {
        return None;
    }
    let mut body = line[..start].to_vec();
    body.push(b'}');
    let hash: [u8; 32] = Sha256::digest(&body).into();
    replace_hex(line, start + HASH_FIELD.len(), &hash);
    Some(hash)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn replace_hex(line: &mut [u8], at: usize, bytes: &[u8; 32]) {
    let hex = hex::encode(bytes);
    if let Some(slot) = line.get_mut(at..at + 64) {
        slot.copy_from_slice(hex.as_bytes());
    }
}
