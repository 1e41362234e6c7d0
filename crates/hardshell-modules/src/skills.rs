//! OpenClaw's skills, when OpenClaw is the workload: each skill the owner
//! reviewed and accepted, pinned by the digest of its whole file tree.
//!
//! A skill is a folder with a `SKILL.md` (YAML front matter, then the
//! instructions OpenClaw's agent reads) and any files beside it. It is
//! unsigned text that tells an agent what to run, so what hardshell can
//! promise is narrower than for a module: the workload sees exactly the
//! skills the owner reviewed, byte for byte, and cannot add or change one
//! where OpenClaw loads them from. See [`SkillTree::digest`] for the exact
//! digest, [`Skills`] for the lock.

mod error;
mod front_matter;
mod lock;
mod tree;

pub use error::SkillError;
pub use front_matter::{FrontMatter, MAX_SKILL_MD_BYTES};
pub use lock::{LockedSkill, SkillAcceptance, Skills, StagedSkills};
pub use tree::{
    MAX_SKILL_BYTES, MAX_SKILL_ENTRIES, MAX_SKILL_FILE_BYTES, SkillFile, SkillPath, SkillTree,
};

use hardshell_vocabulary::{Digest, ModuleName};

/// The file every skill has at its root.
pub const SKILL_MD: &str = "SKILL.md";

/// A skill read from its source and looked at: what the owner is shown
/// before accepting it.
#[derive(Debug, Clone)]
pub struct Skill {
    pub name: ModuleName,
    pub front_matter: FrontMatter,
    pub tree: SkillTree,
    digest: Digest,
}

impl Skill {
    /// Looks at `tree`: its `SKILL.md`'s front matter, and a name that can
    /// be a folder's.
    pub fn review(tree: SkillTree) -> Result<Self, SkillError> {
        let skill_md = tree.file(SKILL_MD).ok_or(SkillError::MissingSkillMd)?;
        let front_matter = FrontMatter::parse(&skill_md.bytes)?;
        let name = ModuleName::parse(&front_matter.name).map_err(|_| SkillError::Name {
            name: crate::error::shown(&front_matter.name, 80),
        })?;
        let digest = tree.digest();
        Ok(Self {
            name,
            front_matter,
            tree,
            digest,
        })
    }

    /// [`SkillTree::digest`] of its files.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The files that look like something to run: an execute bit, a `#!`
    /// first line, or a script's extension. Shown in full at review.
    pub fn scripts(&self) -> Vec<&SkillPath> {
        self.tree
            .files()
            .iter()
            .filter(|(path, file)| looks_like_script(path, file))
            .map(|(path, _)| path)
            .collect()
    }
}

/// Extensions of files a shell, Node, Python or PowerShell runs.
const SCRIPT_EXTENSIONS: &[&str] = &[
    ".sh", ".bash", ".zsh", ".js", ".mjs", ".cjs", ".ts", ".py", ".ps1", ".rb", ".pl",
];

fn looks_like_script(path: &SkillPath, file: &SkillFile) -> bool {
    let name = path.as_str().to_ascii_lowercase();
    file.executable
        || file.bytes.starts_with(b"#!")
        || SCRIPT_EXTENSIONS.iter().any(|ext| name.ends_with(ext))
}

#[cfg(test)]
mod tests;
