//! Whether the owner said a copy of the master key is kept off this
//! machine. Everything hardshell stores is sealed under it: lost with the
//! machine, nothing can be opened again. `doctor` asks once at a terminal,
//! and remembers the answer for that key.

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &["master-key.backup"];

/// The finding for the master key `key_id` whose backup was (or was not)
/// confirmed.
pub fn check(key_id: &str, confirmed: bool) -> Vec<Finding> {
    if confirmed {
        return Vec::new();
    }
    vec![Finding::new(
        "master-key.backup",
        Severity::Medium,
        format!("no backup of the master key (key id {key_id}) is on record"),
        "Every secret, token, conversation and audit record is sealed under it: if this \
         machine's disk is lost, so is all of it, whatever the store still holds.",
        "copy the master key (data/master.key, or HARDSHELL_MASTER_KEY) to a password \
         manager or an offline medium, then run `hardshell doctor --master-key-backed-up` \
         (or answer yes when doctor asks at a terminal)",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unconfirmed_backup_is_medium_and_names_the_key() {
        assert_eq!(check("0bc2802965122cd7", true), []);
        let found = check("0bc2802965122cd7", false);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Medium);
        assert!(found[0].what.contains("0bc2802965122cd7"), "{found:?}");
    }
}
