//! The archive: bounded, regular files only, names that cannot mean
//! another place, each once.

use hardshell_modules::{MAX_ENTRIES, MAX_PACKAGE_BYTES, ModuleError, Package};
use hardshell_testkit::modules::{Entry, tar_of};

fn parsed(entries: &[Entry]) -> Result<Package, ModuleError> {
    Package::parse(tar_of(entries))
}

fn with_manifest(extra: Entry) -> Vec<Entry> {
    vec![Entry::file("module.toml", b"name = \"x\"\n"), extra]
}

#[test]
fn a_plain_archive_is_read_into_its_manifest_signature_and_files() {
    let package = parsed(&[
        Entry::file("module.toml", b"m"),
        Entry::file("module.toml.minisig", b"s"),
        Entry::file("module.wasm", b"w"),
        Entry::file("assets/prompt.txt", b"p"),
    ])
    .unwrap();
    assert_eq!(package.manifest(), b"m");
    assert_eq!(package.signature(), Some(&b"s"[..]));
    let names: Vec<&str> = package.files().keys().map(|p| p.as_str()).collect();
    assert_eq!(names, ["assets/prompt.txt", "module.wasm"]);
}

#[test]
fn names_that_climb_out_or_start_at_the_root_are_refused() {
    for name in [
        "../module.wasm",
        "a/../../etc/passwd",
        "/etc/passwd",
        "./module.wasm",
        "a//b",
        "a\\..\\b",
        "module.wasm/",
        "a/b/c/d/e",
        "\u{1b}[31m.wasm",
    ] {
        let result = parsed(&with_manifest(Entry::file(name, b"x")));
        assert!(
            matches!(result, Err(ModuleError::EntryName { .. })),
            "{name:?}: {result:?}"
        );
    }
}

#[test]
fn links_and_directories_are_refused_whatever_they_point_at() {
    for entry in [
        Entry::symlink("module.wasm", "/etc/passwd"),
        Entry::symlink("module.wasm", "other.wasm"),
        Entry::hard_link("module.wasm", "module.toml"),
        Entry::directory("assets/"),
    ] {
        let result = parsed(&with_manifest(entry));
        assert!(
            matches!(result, Err(ModuleError::EntryKind { .. })),
            "{result:?}"
        );
    }
}

#[test]
fn a_name_twice_is_refused_even_with_the_same_bytes() {
    let result = parsed(&[
        Entry::file("module.toml", b"m"),
        Entry::file("module.wasm", b"w"),
        Entry::file("module.wasm", b"w"),
    ]);
    assert!(
        matches!(result, Err(ModuleError::DuplicateEntry { .. })),
        "{result:?}"
    );
    let manifest_twice = parsed(&[
        Entry::file("module.toml", b"a"),
        Entry::file("module.toml", b"b"),
    ]);
    assert!(matches!(
        manifest_twice,
        Err(ModuleError::DuplicateEntry { .. })
    ));
}

#[test]
fn an_oversized_manifest_or_signature_is_refused() {
    let big = vec![b'#'; 64 * 1024 + 1];
    let result = parsed(&[Entry::file("module.toml", &big)]);
    assert!(
        matches!(result, Err(ModuleError::EntryTooLarge { .. })),
        "{result:?}"
    );
    let result = parsed(&with_manifest(Entry::file(
        "module.toml.minisig",
        &big[..4097],
    )));
    assert!(
        matches!(result, Err(ModuleError::EntryTooLarge { .. })),
        "{result:?}"
    );
}

#[test]
fn more_entries_than_a_package_may_hold_are_refused() {
    let mut entries = vec![Entry::file("module.toml", b"m")];
    for i in 0..MAX_ENTRIES {
        entries.push(Entry::file(&format!("f{i}"), b"x"));
    }
    let result = parsed(&entries);
    assert!(
        matches!(result, Err(ModuleError::TooManyEntries { .. })),
        "{result:?}"
    );
}

#[test]
fn a_package_file_over_the_limit_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.tar");
    // Sparse: its length is over the limit, its blocks are not on disk.
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(MAX_PACKAGE_BYTES + 1).unwrap();
    let result = Package::read_file(&path);
    assert!(
        matches!(result, Err(ModuleError::PackageTooLarge { .. })),
        "{result:?}"
    );
}

#[test]
fn what_is_not_a_tar_archive_or_lacks_a_manifest_is_refused() {
    let words = Package::parse(b"this is not a tar archive at all, just words".repeat(20));
    assert!(
        matches!(words, Err(ModuleError::Archive { .. })),
        "{words:?}"
    );
    assert!(matches!(
        parsed(&[Entry::file("module.wasm", b"w")]),
        Err(ModuleError::MissingManifest)
    ));
}

#[test]
fn a_header_the_tar_reader_refuses_is_reported_with_its_name_escaped() {
    // A size field that is not a number, under a name that would retitle
    // the terminal and clear it: the tar crate's message quotes both raw.
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    let raw = header.as_old_mut();
    raw.name = [0; 100];
    let name = b"\x1b]0;owned\x07\x1b[2J\xe2\x80\xaemodule.wasm";
    raw.name[..name.len()].copy_from_slice(name);
    raw.size = *b"\x1b[8m\x9b000000\0";
    header.set_cksum();
    let mut bytes = header.as_bytes().to_vec();
    bytes.resize(bytes.len() + 1024, 0);
    let error = Package::parse(bytes).unwrap_err();
    let shown = error.to_string();
    assert!(matches!(error, ModuleError::Archive { .. }), "{error:?}");
    assert!(shown.contains("\\u{1b}]0;owned"), "{shown}");
    assert!(
        !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{shown:?}"
    );
}
