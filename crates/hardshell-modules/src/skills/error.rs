//! [`SkillError`]: each step of reading, accepting and staging a skill
//! that can fail, with what failed and what to do.

use hardshell_audit::event::ModuleRefusal;
use hardshell_storage::StorageError;
use hardshell_vocabulary::{Digest, ModuleName};

/// Why a skill was refused, or the skills' lock could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    #[error("cannot read the skill at {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the skill is over its {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("the skill holds more than {limit} files and folders")]
    TooManyEntries { limit: usize },
    #[error("skill file {name:?} is over its {limit}-byte limit")]
    FileTooLarge { name: String, limit: u64 },
    #[error("the skill archive is not a readable .tar.gz: {detail}")]
    Archive { detail: String },
    #[error("skill entry {name:?} is a {kind}; a skill holds regular files and folders only")]
    EntryKind { name: String, kind: &'static str },
    #[error(
        "skill entry name {name:?} is refused: use relative paths of a-z A-Z 0-9 . _ - + \
         segments, no . or .. segments, at most 8 deep and 256 bytes"
    )]
    EntryName { name: String },
    #[error("skill entry {name:?} appears twice, or as both a file and a folder")]
    DuplicateEntry { name: String },
    #[error("the skill has no SKILL.md at its root")]
    MissingSkillMd,
    #[error("SKILL.md's front matter is refused: {detail}")]
    FrontMatter { detail: String },
    #[error(
        "the skill's name {name:?} is refused: use a-z, 0-9 and -, starting with a letter, \
         at most 64"
    )]
    Name { name: String },
    #[error("skill {name} was not accepted: {detail}")]
    NotAccepted { name: ModuleName, detail: String },
    #[error("skill {name} changed in the lock while this one was reviewed; review it again")]
    LockMoved { name: ModuleName },
    #[error("no OpenClaw skill named {name} is locked")]
    NotLocked { name: ModuleName },
    #[error(
        "the stored skill {name} is {found}, not the accepted {locked}: it was changed after \
         it was locked, and is left out; remove it and add it again"
    )]
    Changed {
        name: ModuleName,
        locked: Digest,
        found: Digest,
    },
    #[error("the stored skill {name} ({locked}) is missing; remove it and add it again")]
    Missing { name: ModuleName, locked: Digest },
    #[error("the skills' lock is unreadable: {detail}")]
    LockUnreadable { detail: String },
    #[error("writing the skills for the workload into {path}: {source}")]
    Stage {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("skill store: {0}")]
    Store(#[from] StorageError),
}

impl SkillError {
    /// The kind of refusal, as the audit log records it (the modules'
    /// closed set); `None` for failures that refuse nothing.
    pub fn refusal(&self) -> Option<ModuleRefusal> {
        use ModuleRefusal as R;
        use SkillError as E;
        Some(match self {
            E::TooLarge { .. } | E::TooManyEntries { .. } | E::FileTooLarge { .. } => R::Oversized,
            E::Archive { .. } | E::MissingSkillMd => R::Archive,
            E::EntryKind { .. } | E::EntryName { .. } | E::DuplicateEntry { .. } => R::EntryRefused,
            E::FrontMatter { .. } | E::Name { .. } => R::Manifest,
            E::NotAccepted { .. } | E::LockMoved { .. } => R::NotAccepted,
            E::NotLocked { .. } => R::Conflict,
            E::Changed { .. } | E::Missing { .. } => R::PackageChanged,
            E::Read { .. } | E::LockUnreadable { .. } | E::Stage { .. } | E::Store(_) => {
                return None;
            }
        })
    }
}
