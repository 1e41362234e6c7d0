//! `hardshell backup create` and `restore`: a deployment taken whole into one
//! archive and brought back on another machine (a fresh directory with the
//! same config), on the file backend and on S3 (a real SeaweedFS), its audit
//! log verifying there; and every way a restore can be refused, each leaving
//! the target as it was.

use std::path::{Path, PathBuf};

use hardshell_testkit::instance::{Instance, contains};

use crate::s3::{env, s3_instance_at};

const PASSPHRASE: &[u8] = b"a long and private passphrase\n";
const SECRET: &[u8] = b"sk-hs-backup-test-0123456789";

/// A deployment with a secret, a token and audit records.
fn deployment(hs: &Instance) -> String {
    hs.run_with_stdin(&["secret", "put", "MY_API_KEY"], SECRET)
        .ok();
    let token = hs
        .run(&["token", "create", "--name", "laptop", "--scope", "chat"])
        .ok();
    assert!(token.stdout.contains("hs_tok_"), "{}", token.stdout);
    hs.run(&["audit", "verify"]).ok().stdout
}

/// A directory like `hs`'s with its config only: another machine.
fn another_machine(hs: &Instance) -> Instance {
    let other = Instance::empty(crate::HARDSHELL);
    std::fs::copy(hs.path("hardshell.toml"), other.path("hardshell.toml")).unwrap();
    other
}

fn archive_in(hs: &Instance) -> PathBuf {
    hs.dir.path().join("deployment.hsbackup")
}

fn master_key(hs: &Instance) -> String {
    std::fs::read_to_string(hs.path("data/master.key"))
        .unwrap()
        .trim()
        .to_owned()
}

fn tokens(hs: &Instance) -> String {
    hs.run(&["token", "list"]).ok().stdout
}

#[test]
fn a_backup_restored_on_another_machine_holds_everything_and_its_audit_log_verifies() {
    let hs = Instance::initialised(crate::HARDSHELL);
    deployment(&hs);
    // A conversation, as the agent keeps one: a log of messages.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let log = hardshell_storage::ObjectKey::parse("agent/sessions/web-a/log").unwrap();
    let said: [&[u8]; 3] = [b"plan my trip", b"where to?", b"the coast"];
    runtime.block_on(async {
        let root = hs.local_store().await.root();
        for (at, record) in (0u64..).zip(said) {
            root.append(&log, at, record).await.unwrap();
        }
    });
    let archive = archive_in(&hs);
    let made = hs.run_with_stdin(
        &[
            "backup",
            "create",
            archive.to_str().unwrap(),
            "--with-master-key",
        ],
        PASSPHRASE,
    );
    let made = made.ok();
    assert!(
        made.stdout.contains("the master key is in it"),
        "{}",
        made.stdout
    );
    let bytes = std::fs::read(&archive).unwrap();
    for plain in [SECRET, b"laptop", b"the coast", master_key(&hs).as_bytes()] {
        assert!(
            !contains(&bytes, plain),
            "the archive holds {:?} in the clear",
            String::from_utf8_lossy(plain)
        );
    }
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let other = another_machine(&hs);
    let restored = other.run_with_stdin(
        &["backup", "restore", archive.to_str().unwrap()],
        PASSPHRASE,
    );
    let restored = restored.ok();
    assert!(
        restored.stdout.contains("1 state logs"),
        "{}",
        restored.stdout
    );
    assert_eq!(master_key(&other), master_key(&hs));
    let conversation = runtime.block_on(async {
        let root = other.local_store().await.root();
        root.read_log(&log, 0, 10).await.unwrap()
    });
    let conversation: Vec<&[u8]> = conversation.iter().map(|r| r.as_slice()).collect();
    assert_eq!(conversation, said);
    // Everything is there, and the audit log's chain verifies on this machine.
    other.run(&["audit", "verify"]).ok();
    assert!(
        other
            .run(&["secret", "list"])
            .ok()
            .stdout
            .contains("MY_API_KEY")
    );
    assert_eq!(tokens(&other), tokens(&hs));
    other.run(&["config", "check"]).ok();

    // Into stores that are not empty: refused, and nothing changes.
    let again = other
        .run_with_stdin(
            &["backup", "restore", archive.to_str().unwrap()],
            PASSPHRASE,
        )
        .failed_with_one_line();
    assert!(again.contains("not empty"), "{again}");
    assert_eq!(tokens(&other), tokens(&hs));
}

#[test]
fn every_refused_restore_leaves_the_target_as_it_was() {
    let hs = Instance::initialised(crate::HARDSHELL);
    deployment(&hs);
    let with_key = archive_in(&hs);
    hs.run_with_stdin(
        &[
            "backup",
            "create",
            with_key.to_str().unwrap(),
            "--with-master-key",
        ],
        PASSPHRASE,
    )
    .ok();
    // Never over an existing file.
    let over = hs
        .run_with_stdin(
            &["backup", "create", with_key.to_str().unwrap()],
            PASSPHRASE,
        )
        .failed_with_one_line();
    assert!(over.contains("exists"), "{over}");
    let without_key = hs.dir.path().join("no-key.hsbackup");
    hs.run(&["backup", "create", without_key.to_str().unwrap()])
        .ok();

    let fresh = |check: &dyn Fn(&Instance)| {
        let other = another_machine(&hs);
        check(&other);
        // Nothing was left behind: no key, and no object but each store's
        // key check (made when a store is opened), empty lock files, and
        // the version register: its parts (tombstones of what was written
        // and taken back, so none of it can be put back unseen) and this
        // machine's anchor of them.
        assert!(!other.path("data/master.key").exists());
        for (path, bytes) in other.all_file_bytes() {
            let relative = path.strip_prefix(other.dir.path()).unwrap();
            let name = relative.file_name().unwrap().to_string_lossy();
            let register = relative
                .parent()
                .is_some_and(|dir| dir.ends_with(".versions"))
                && bytes.starts_with(b"HSE2");
            let anchor = relative.parent() == Some(Path::new("data"))
                && name.starts_with("versions-")
                && (name.ends_with(".json") || (name.ends_with(".lock") && bytes.is_empty()));
            assert!(
                relative == Path::new("hardshell.toml")
                    || relative.ends_with("meta/key-check")
                    || (relative.starts_with("data/locks") && bytes.is_empty())
                    || register
                    || anchor,
                "{} was left",
                relative.display()
            );
        }
    };
    // A wrong passphrase.
    fresh(&|other| {
        let line = other
            .run_with_stdin(
                &["backup", "restore", with_key.to_str().unwrap()],
                b"not the passphrase at all\n",
            )
            .failed_with_one_line();
        assert!(line.contains("passphrase does not open"), "{line}");
    });
    // No key in the archive, none here.
    fresh(&|other| {
        let line = other
            .run(&["backup", "restore", without_key.to_str().unwrap()])
            .failed_with_one_line();
        assert!(line.contains("restoring needs master key"), "{line}");
    });
    // Cut short: what was written is taken back, the key file too.
    let cut = hs.dir.path().join("cut.hsbackup");
    let bytes = std::fs::read(&with_key).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
    fresh(&|other| {
        let line = other
            .run_with_stdin(&["backup", "restore", cut.to_str().unwrap()], PASSPHRASE)
            .failed_with_one_line();
        assert!(line.contains("taken back"), "{line}");
    });
    // Not a backup at all.
    let junk = hs.dir.path().join("junk");
    std::fs::write(&junk, b"PK\x03\x04 not ours").unwrap();
    fresh(&|other| {
        let line = other
            .run(&["backup", "restore", junk.to_str().unwrap()])
            .failed_with_one_line();
        assert!(line.contains("not a hardshell backup"), "{line}");
    });
    // Another master key here: refused before anything is written.
    let keyed = Instance::initialised(crate::HARDSHELL);
    let line = keyed
        .run_with_stdin(
            &["backup", "restore", with_key.to_str().unwrap()],
            PASSPHRASE,
        )
        .failed_with_one_line();
    assert!(line.contains("was made under master key"), "{line}");
}

/// `hs`'s config, on another machine, with the store under a new prefix.
fn another_machine_on_s3(hs: &Instance) -> Instance {
    let other = another_machine(hs);
    let config = std::fs::read_to_string(other.path("hardshell.toml")).unwrap();
    let config = config.replacen("prefix = \"cli-", "prefix = \"restored-cli-", 1);
    std::fs::write(other.path("hardshell.toml"), config).unwrap();
    other
}

#[test]
fn an_s3_deployment_is_restored_into_another_prefix_its_credentials_first() {
    let hs = s3_instance_at(
        &env("HARDSHELL_TEST_SEAWEEDFS"),
        &env("HARDSHELL_TEST_SEAWEEDFS_KEY_ID"),
        &env("HARDSHELL_TEST_SEAWEEDFS_SECRET"),
        "hardshell-test",
    );
    deployment(&hs);
    let archive = archive_in(&hs);
    hs.run_with_stdin(
        &[
            "backup",
            "create",
            archive.to_str().unwrap(),
            "--with-master-key",
        ],
        PASSPHRASE,
    )
    .ok();
    let other = another_machine_on_s3(&hs);
    // The bucket's credentials come out of the archive's secrets, then the
    // state store is opened with them.
    let restored = other
        .run_with_stdin(
            &["backup", "restore", archive.to_str().unwrap()],
            PASSPHRASE,
        )
        .ok();
    assert!(restored.stdout.contains("restored"), "{}", restored.stdout);
    other.run(&["audit", "verify"]).ok();
    assert_eq!(tokens(&other), tokens(&hs));
    assert!(Path::new(&other.path("data/master.key")).exists());
}
