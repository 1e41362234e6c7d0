//! One stored audit line, as `verify`, `Tail` and the writer's recovery read
//! it back from storage, which anyone holding the bucket can edit.
//!
//! The first byte chooses: 0, the line as given; 1, the line with its `prev` and
//! `hash` fields rewritten to be correct by the documented rule, so the fuzzer
//! reaches the event parsing and the canonical-form check behind the hash.
//!
//! Properties: never panics; an accepted line is the canonical form of its
//! record (re-serialising gives the same bytes), its hash is SHA-256 of the
//! line without its hash field, and reading the re-serialised line gives the
//! same record; a refusal's reason is printable on one line.
#![no_main]

use hardshell_audit::fuzzing::read_record;
use hardshell_fuzz::chain;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut line = rest.to_vec();
    if mode % 2 == 1 {
        chain::relink(std::slice::from_mut(&mut line));
    }
    match read_record(&line) {
        Ok(record) => {
            let written = record
                .to_line()
                .unwrap_or_else(|e| panic!("an accepted record does not serialise: {e}"));
            assert_eq!(written.strip_suffix(b"\n"), Some(line.as_slice()));
            let field = format!(",\"hash\":\"{}\"", record.hash());
            let text = std::str::from_utf8(&line)
                .unwrap_or_else(|e| panic!("an accepted line is not UTF-8: {e}"));
            let body = text.replacen(&field, "", 1);
            assert_eq!(
                hex::encode(Sha256::digest(body.as_bytes())),
                record.hash().to_string()
            );
            let again = read_record(&written[..written.len() - 1])
                .unwrap_or_else(|e| panic!("a re-serialised record was refused: {e:?}"));
            assert_eq!(again, record);
        }
        Err(refused) => {
            assert!(
                !refused.fault.chars().any(char::is_control),
                "a refusal's reason is not one printable line: {:?}",
                refused.fault
            );
        }
    }
});
