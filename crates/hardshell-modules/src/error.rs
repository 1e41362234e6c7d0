//! [`ModuleError`]: each step of reading, verifying, accepting and loading
//! a module package that can fail, with what failed and what to do.

use hardshell_audit::event::{ModuleRefusal, disturbs};
use hardshell_storage::StorageError;
use hardshell_vocabulary::{Digest, ModuleName};

/// Why a package was refused, or the lock could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The package file could not be read.
    #[error("cannot read the package {path}: {source}")]
    ReadPackage {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Larger than any package hardshell accepts; refused unread.
    #[error("the package is {size} bytes, over the {limit}-byte limit for a module package")]
    PackageTooLarge { size: u64, limit: u64 },
    /// Not a tar archive hardshell can read.
    #[error("the package is not a readable tar archive: {detail}")]
    Archive { detail: String },
    /// More entries than a package may hold.
    #[error("the package holds more than {limit} entries")]
    TooManyEntries { limit: usize },
    /// A link, a directory, a device: only regular files are taken.
    #[error("package entry {name:?} is not a regular file ({kind}); a package holds files only")]
    EntryKind { name: String, kind: String },
    /// An entry's name that could mean another place (`..`, `/etc/x`) or is
    /// outside the package path rule.
    #[error(
        "package entry name {name:?} is refused: use relative paths of a-z A-Z 0-9 . _ - \
         segments, no . or .. segments, at most 4 deep and 128 bytes"
    )]
    EntryName { name: String },
    /// One name twice: which copy is meant would be a guess.
    #[error("package entry {name:?} appears twice")]
    DuplicateEntry { name: String },
    /// A file over its size limit.
    #[error("package entry {name:?} is over its {limit}-byte limit")]
    EntryTooLarge { name: String, limit: u64 },
    /// No `module.toml`.
    #[error("the package has no module.toml")]
    MissingManifest,
    /// No `module.toml.minisig`: nothing says who published it.
    #[error("the package is unsigned (no module.toml.minisig): ask its publisher for a signed one")]
    Unsigned,
    /// The signature file is not a minisign signature.
    #[error("module.toml.minisig is not a minisign signature")]
    SignatureMalformed,
    /// Signed, but by no key in `[modules] trusted_keys`.
    #[error(
        "the package is signed by key {key_id}, which is not in [modules] trusted_keys; \
         add the publisher's key there only if you trust it"
    )]
    UnknownKey { key_id: String },
    /// The key is trusted but its signature does not match the manifest:
    /// the manifest was changed after signing, or the signature forged.
    #[error(
        "the signature by trusted key {key_name:?} does not match module.toml: the manifest \
         was changed after it was signed"
    )]
    BadSignature { key_name: String },
    /// The manifest is not a valid `module.toml`.
    #[error("module.toml is refused: {detail}")]
    Manifest { detail: String },
    /// A file in the package that the manifest does not list.
    #[error("package file {path:?} is not listed in module.toml [files]: refused")]
    UnlistedFile { path: String },
    /// A file the manifest lists that the package lacks.
    #[error("module.toml lists {path:?}, which the package does not hold")]
    MissingFile { path: String },
    /// A file whose bytes are not the ones the publisher signed.
    #[error(
        "package file {path:?} has digest {actual}, not the {expected} module.toml lists: \
         it was changed after signing"
    )]
    FileDigest {
        path: String,
        expected: Digest,
        actual: Digest,
    },
    /// Signed by a trusted key not marked official, with
    /// `allow_unofficial = false`.
    #[error(
        "{name} is signed by {key_name:?}, a trusted key not marked official, and \
         [modules] allow_unofficial is false"
    )]
    Unofficial { name: ModuleName, key_name: String },
    /// A name `[modules] allow` does not list.
    #[error("{name} is not in [modules] allow")]
    NotAllowed { name: ModuleName },
    /// The owner did not accept the package.
    #[error("{name} was not accepted: {detail}")]
    NotAccepted { name: ModuleName, detail: String },
    /// `add` of a name the lock already holds.
    #[error("{name} is already added; use `hardshell module update {name} SOURCE`")]
    AlreadyAdded { name: ModuleName },
    /// A name the lock does not hold.
    #[error("no module named {name} is added")]
    NotLocked { name: ModuleName },
    /// An update's package names another module.
    #[error("the package is {found}, not {name}")]
    OtherModule { name: ModuleName, found: ModuleName },
    /// The lock changed between review and acceptance (another `update`).
    #[error("{name} changed in the lock while this one was reviewed; review it again")]
    LockMoved { name: ModuleName },
    /// The stored package is not the one the lock accepted.
    #[error(
        "the stored package of {name} is {found}, not the accepted {locked}: it was changed \
         after it was locked; remove and add it again"
    )]
    PackageChanged {
        name: ModuleName,
        locked: Digest,
        found: Digest,
    },
    /// The stored package is gone.
    #[error("the stored package of {name} ({locked}) is missing; remove and add it again")]
    PackageMissing { name: ModuleName, locked: Digest },
    /// What the package declares is not what the owner accepted.
    #[error("{name}'s {what} differ from the ones accepted in the lock; update it to review them")]
    AcceptedChanged {
        name: ModuleName,
        what: &'static str,
    },
    /// The key that signed it is no longer trusted, or is another key.
    #[error(
        "{name} was accepted signed by key {locked_key}, which is no longer the trusted key \
         that signs it ({detail})"
    )]
    KeyChanged {
        name: ModuleName,
        locked_key: String,
        detail: String,
    },
    /// A source of a kind no package is read from.
    #[error(
        "{source_text:?}: a source is a local file, an https:// URL, or a registry reference \
         oci://REGISTRY/REPOSITORY:TAG (or @sha256:DIGEST)"
    )]
    UnknownSource { source_text: String },
    /// An `oci://` source that is not a registry reference.
    #[error("{source_text:?} is not a registry reference: {detail}")]
    OciReference { source_text: String, detail: String },
    /// The registry could not be reached, refused the credential, or has
    /// no such tag or digest.
    #[error("cannot pull the package from {reference}: {detail}")]
    Registry { reference: String, detail: String },
    /// What the registry served is not a module package artifact, or not
    /// the bytes its digests name.
    #[error("{reference} is refused: {detail}")]
    Artifact { reference: String, detail: String },
    /// Its manifest or its package is over the limit; refused unread.
    #[error("{reference} is refused: {detail}")]
    ArtifactTooLarge { reference: String, detail: String },
    /// Plain HTTP: anyone on the way could see and swap what is fetched.
    #[error("{source_text:?}: a module is fetched over HTTPS only; use an https:// URL")]
    PlainHttp { source_text: String },
    /// An `https://` source that is not a URL a package is fetched from.
    #[error("the package URL is refused: {detail}")]
    SourceUrl { detail: String },
    /// The package could not be fetched (TLS, the network, the server's
    /// answer).
    #[error("cannot fetch the package from {location}: {detail}")]
    Fetch { location: String, detail: String },
    /// A `[modules] trusted_keys` entry that is not a minisign public key
    /// (the config's check lets none through; this is its second line).
    #[error("[modules] trusted key {name:?} is not a minisign public key")]
    TrustedKey { name: String },
    /// The lock record cannot be read.
    #[error("the module lock is unreadable: {detail}")]
    LockUnreadable { detail: String },
    /// The state store failed.
    #[error("module store: {0}")]
    Store(#[from] StorageError),
}

impl ModuleError {
    /// The kind of refusal, as the audit log records it; `None` for
    /// failures that refuse nothing (the store was unreachable).
    pub fn refusal(&self) -> Option<ModuleRefusal> {
        use ModuleError as E;
        use ModuleRefusal as R;
        Some(match self {
            E::PackageTooLarge { .. }
            | E::TooManyEntries { .. }
            | E::EntryTooLarge { .. }
            | E::ArtifactTooLarge { .. } => R::Oversized,
            E::Archive { .. } | E::MissingManifest => R::Archive,
            E::EntryKind { .. } | E::EntryName { .. } | E::DuplicateEntry { .. } => R::EntryRefused,
            E::Unsigned => R::Unsigned,
            E::SignatureMalformed | E::BadSignature { .. } => R::BadSignature,
            E::UnknownKey { .. } => R::UnknownKey,
            E::Manifest { .. } => R::Manifest,
            E::UnlistedFile { .. } | E::MissingFile { .. } => R::FilesNotListed,
            E::FileDigest { .. } => R::FileDigest,
            E::Unofficial { .. } => R::Unofficial,
            E::NotAllowed { .. } => R::NotAllowed,
            E::NotAccepted { .. } | E::LockMoved { .. } => R::NotAccepted,
            E::AlreadyAdded { .. } | E::OtherModule { .. } | E::NotLocked { .. } => R::Conflict,
            E::PackageChanged { .. } | E::PackageMissing { .. } => R::PackageChanged,
            E::AcceptedChanged { .. } => R::CapabilitiesChanged,
            E::KeyChanged { .. } => R::KeyChanged,
            E::UnknownSource { .. }
            | E::PlainHttp { .. }
            | E::SourceUrl { .. }
            | E::OciReference { .. }
            | E::Artifact { .. } => R::Source,
            E::ReadPackage { .. }
            | E::Fetch { .. }
            | E::Registry { .. }
            | E::TrustedKey { .. }
            | E::LockUnreadable { .. }
            | E::Store(_) => return None,
        })
    }
}

/// The error and its causes, one after another, as one line's text
/// (unescaped: what a server wrote is in it, so show it with [`shown`]).
pub(crate) fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Text a package wrote (an entry's name inside a tar error, a manifest's
/// key inside a TOML error), as an error may carry it: at most
/// `max_chars` characters, each control or text-direction character shown
/// as its escape. These errors are printed to the owner's terminal as they
/// are, and what a package wrote must not act there (move the cursor,
/// retitle, reorder the line), signed or not.
pub(crate) fn shown(text: &str, max_chars: usize) -> String {
    let mut shown = String::new();
    for c in text.chars().take(max_chars) {
        if disturbs(c) {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    shown
}
