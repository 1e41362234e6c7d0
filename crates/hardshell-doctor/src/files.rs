//! The master key and the data directory: only their owner may read them.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &["files.config", "files.master-key", "files.data-dir"];

/// Findings for the config file, the master key file (`None` when the key
/// comes from the environment) and the data directory.
pub fn check(config: &Path, master_key: Option<&Path>, data_dir: &Path) -> Vec<Finding> {
    let mut found = Vec::new();
    // The config holds no secret (inline credentials are refused), so
    // reading it is harmless; changing it is not.
    if let Ok(meta) = std::fs::metadata(config)
        && meta.mode() & 0o022 != 0
    {
        found.push(Finding::new(
            "files.config",
            Severity::High,
            format!(
                "the config {} has mode {:04o}",
                config.display(),
                meta.mode() & 0o7777
            ),
            "Other users of this machine can change who may log in, where shells may \
             connect and what runs at the next start.",
            format!("chmod go-w {}", config.display()),
        ));
    }
    if let Some(path) = master_key {
        match std::fs::metadata(path) {
            Ok(meta) if meta.mode() & 0o077 != 0 => found.push(Finding::new(
                "files.master-key",
                Severity::High,
                format!(
                    "the master key {} has mode {:04o}",
                    path.display(),
                    meta.mode() & 0o7777
                ),
                "Whoever reads it opens every secret, token and object hardshell stored.",
                format!("chmod 600 {}", path.display()),
            )),
            Ok(_) => {}
            Err(e) => found.push(Finding::new(
                "files.master-key",
                Severity::High,
                format!("the master key {} cannot be read: {e}", path.display()),
                "Without it nothing hardshell stored can be opened.",
                "restore it from your backup, or point master_key_file at it",
            )),
        }
    }
    match std::fs::metadata(data_dir) {
        Ok(meta) => {
            let mode = meta.mode() & 0o7777;
            let (severity, who) = if mode & 0o022 != 0 {
                (Severity::High, "change")
            } else if mode & 0o055 != 0 {
                (Severity::Medium, "read")
            } else {
                return found;
            };
            found.push(Finding::new(
                "files.data-dir",
                severity,
                format!(
                    "the data directory {} has mode {mode:04o}",
                    data_dir.display()
                ),
                format!(
                    "Other users of this machine can {who} what is in it: the conversations' \
                     workspaces, the audit logs, and the local store."
                ),
                format!("chmod 700 {}", data_dir.display()),
            ));
        }
        Err(e) => found.push(Finding::new(
            "files.data-dir",
            Severity::High,
            format!(
                "the data directory {} cannot be read: {e}",
                data_dir.display()
            ),
            "hardshell keeps its state there.",
            "run `hardshell init`, or point data_dir at the directory",
        )),
    }
    found
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn modes_only_the_owner_can_use_have_no_finding_and_wider_ones_do() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let key = data.join("master.key");
        std::fs::write(&key, b"k").unwrap();
        let config = dir.path().join("hardshell.toml");
        std::fs::write(&config, b"").unwrap();
        chmod(&config, 0o644);
        chmod(&data, 0o700);
        chmod(&key, 0o600);
        assert_eq!(check(&config, Some(&key), &data), []);
        // From the environment, the key file is not looked at.
        chmod(&key, 0o644);
        assert_eq!(check(&config, None, &data), []);

        let found = check(&config, Some(&key), &data);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].check, found[0].severity),
            ("files.master-key", Severity::High)
        );
        assert!(found[0].what.ends_with("has mode 0644"), "{found:?}");
        assert_eq!(found[0].fix, format!("chmod 600 {}", key.display()));

        chmod(&key, 0o600);
        chmod(&data, 0o755);
        let found = check(&config, Some(&key), &data);
        assert_eq!(
            found.iter().map(|f| f.severity).collect::<Vec<_>>(),
            [Severity::Medium]
        );
        chmod(&data, 0o777);
        let found = check(&config, Some(&key), &data);
        assert_eq!(
            found.iter().map(|f| f.severity).collect::<Vec<_>>(),
            [Severity::High]
        );
    }

    #[test]
    fn a_config_others_can_change_is_high() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("hardshell.toml");
        std::fs::write(&config, b"").unwrap();
        chmod(dir.path(), 0o700);
        chmod(&config, 0o664);
        let found = check(&config, None, dir.path());
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].check, found[0].severity),
            ("files.config", Severity::High)
        );
        assert_eq!(found[0].fix, format!("chmod go-w {}", config.display()));
    }

    #[test]
    fn a_missing_key_or_data_directory_is_high() {
        let dir = tempfile::tempdir().unwrap();
        let found = check(
            &dir.path().join("hardshell.toml"),
            Some(&dir.path().join("no.key")),
            &dir.path().join("no-data"),
        );
        let checks: Vec<&str> = found.iter().map(|f| f.check).collect();
        assert_eq!(checks, ["files.master-key", "files.data-dir"]);
        assert!(found.iter().all(|f| f.severity == Severity::High));
    }
}
