//! `hardshell.toml` as an operator (or whoever wrote the file) gives it.
//!
//! Properties:
//! - `LoadedConfig::parse` never panics and every error points at a real line.
//! - A document that parses as TOML and holds a string value the credential
//!   detector flags is refused, and the refusal never repeats that value.
//!
//! What is *not* asserted, because it does not hold by design: that no error
//! contains any text the detector would flag. Keys are names the operator chose
//! and are echoed (`unknown field ...`); a value that is not a credential as a
//! whole (`"secret:ghp_..."`, a sentence containing a token) may be quoted in a
//! later error even though a part of it would be flagged on its own. The
//! detector judges whole values, so the promise is about whole values.
#![no_main]

use std::path::Path;

use hardshell_config::{ConfigError, LoadedConfig, looks_like_credential};
use libfuzzer_sys::fuzz_target;
use toml::de::{DeTable, DeValue};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/etc/hardshell/hardshell.toml");
    let result = LoadedConfig::parse(text, path);

    if let Err(ConfigError::Invalid { line, column, .. }) = &result {
        let lines = text.split('\n').count();
        assert!(*line >= 1 && *line <= lines, "line {line} of {lines}");
        assert!(*column >= 1, "column {column}");
    }

    let Ok(table) = DeTable::parse(text) else {
        return;
    };
    let mut credentials = Vec::new();
    flagged_strings(table.get_ref(), &mut credentials);
    if credentials.is_empty() {
        return;
    }
    let Err(err) = result else {
        panic!("accepted a config holding credentials {credentials:?}");
    };
    let ConfigError::Invalid { key, message, .. } = &err else {
        panic!("parsing text gave a read error: {err}");
    };
    let shown = err.to_string();
    for credential in &credentials {
        assert!(
            !message.contains(credential.as_str()),
            "the error repeats the credential {credential:?}: {message}"
        );
        // The key path is made of the operator's own key names; a value that is
        // also a key name is echoed as the name, not as the value.
        let in_key = key
            .as_deref()
            .is_some_and(|key| key.contains(credential.as_str()));
        assert!(
            in_key || !shown.contains(credential.as_str()),
            "the error repeats the credential {credential:?}: {shown}"
        );
    }
});

/// Every string value in the document, at any depth, that the detector flags,
/// as it would be shown (trimmed, as the detector judges it).
fn flagged_strings(table: &DeTable<'_>, out: &mut Vec<String>) {
    for (_, value) in table {
        flagged_in_value(value.get_ref(), out);
    }
}

fn flagged_in_value(value: &DeValue<'_>, out: &mut Vec<String>) {
    match value {
        DeValue::String(text) if looks_like_credential(text).is_some() => {
            out.push(text.trim().to_owned());
        }
        DeValue::Array(items) => {
            for item in items.iter() {
                flagged_in_value(item.get_ref(), out);
            }
        }
        DeValue::Table(table) => flagged_strings(table, out),
        _ => {}
    }
}
