//! OpenClaw skills, as an owner's download, a registry or the state store
//! could hand them over: `SkillTree::from_tar_gz`, `SkillTree::from_tar`
//! (how the lock keeps a tree) and `FrontMatter::parse`.
//!
//! The first byte chooses the input's kind:
//! - 0: a `.tar.gz`; 1: a plain tar. If it reads: at most
//!   `MAX_SKILL_ENTRIES` files, none over `MAX_SKILL_FILE_BYTES`, all within
//!   `MAX_SKILL_BYTES`, every path parses again to itself (relative, no
//!   `.`/`..`), `SKILL.md` is there, and the tree kept as the lock keeps it
//!   reads back to the same tree and the same digest.
//! - 2: a `SKILL.md`. If its front matter parses: it has a name and a
//!   description, and every install step is JSON.
//!
//! Either way, a refusal's message holds no control or text-direction
//! character: it is printed to the owner's terminal as it is.
#![no_main]

use hardshell_modules::skills::{
    FrontMatter, MAX_SKILL_BYTES, MAX_SKILL_ENTRIES, MAX_SKILL_FILE_BYTES, SKILL_MD, SkillError,
    SkillPath, SkillTree,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 => tree(SkillTree::from_tar_gz(rest)),
        1 => tree(SkillTree::from_tar(rest)),
        2 => front_matter(rest),
        _ => {}
    }
});

fn tree(read: Result<SkillTree, SkillError>) {
    let tree = match read {
        Ok(tree) => tree,
        Err(error) => return shown_safely(&error),
    };
    assert!(tree.files().len() <= MAX_SKILL_ENTRIES);
    assert!(tree.file(SKILL_MD).is_some());
    let mut total = 0;
    for (path, file) in tree.files() {
        let again = SkillPath::parse(path.as_str()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&again, path);
        assert!(!path.as_str().starts_with('/'));
        assert!(!path.as_str().split('/').any(|s| s == ".." || s == "."));
        assert!(file.bytes.len() as u64 <= MAX_SKILL_FILE_BYTES);
        total += file.bytes.len() as u64;
    }
    assert!(total <= MAX_SKILL_BYTES);
    let kept = tree.to_tar().unwrap_or_else(|e| panic!("{e}"));
    let back = SkillTree::from_tar(kept.as_slice()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.digest(), tree.digest());
    assert_eq!(back, tree);
}

fn front_matter(bytes: &[u8]) {
    let front = match FrontMatter::parse(bytes) {
        Ok(front) => front,
        Err(error) => return shown_safely(&error),
    };
    for step in &front.install {
        serde_json::from_str::<serde_json::Value>(step).unwrap_or_else(|e| panic!("{e}"));
    }
    let _ = (&front.name, &front.description);
}

fn shown_safely(error: &SkillError) {
    let shown = error.to_string();
    assert!(
        !shown.chars().any(hardshell_audit::event::disturbs),
        "{shown:?}"
    );
}
