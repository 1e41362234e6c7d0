//! hardshell's modules: signed, digest-locked packages that add tools to
//! the built-in agent, each with the capabilities it declared and the
//! owner accepted, and nothing more.
//!
//! Invariant: a module is only ever used as the exact package bytes the
//! owner accepted, signed by a key the owner trusts, declaring exactly the
//! capabilities and tools in the lock. [`Modules::load`] checks all of it
//! again at every load; a [`Verified`] package comes only from
//! [`TrustPolicy::verify`]. OpenClaw's skills, unsigned, are pinned by the
//! digest of their file tree instead ([`skills`]).
//!
//! # The package format
//!
//! One file: a plain tar archive (ustar, GNU or PAX headers for long
//! names) holding exactly
//! - `module.toml`, the [`Manifest`] (at most 64 KiB);
//! - `module.toml.minisig`, a minisign signature of `module.toml`'s exact
//!   bytes, pre-hashed (minisign's default): `minisign -S -m module.toml`;
//! - every file `module.toml` lists under `[files]` by `sha256:<hex>`,
//!   `module.wasm` (the code) always among them.
//!
//! Only regular files, under relative names of `a-z A-Z 0-9 . _ -`
//! segments (no `.`/`..`, at most 4 deep), each once; at most 64 entries,
//! 32 MiB a file, 64 MiB in all (less the state store's sealing envelope). A file in the archive the manifest does
//! not list, a listed file it lacks, or a file of another digest is a
//! refusal: the signature covers the manifest, and through its digests
//! every byte of the package. Nothing is ever extracted to disk.

#![forbid(unsafe_code)]

mod capabilities;
mod diff;
mod error;
mod lock;
mod manifest;
mod oci;
mod package;
mod policy;
mod signature;
pub mod skills;
mod source;

pub use capabilities::{
    Capabilities, HostAccess, MAX_MEMORY_MB, MAX_TIMEOUT_MS, Method, Scheme, SecretUse,
    WorkspaceAccess,
};
pub use diff::{CapabilityDiff, Change, Effect};
pub use error::ModuleError;
pub use lock::{Acceptance, LoadedModule, LockedModule, Modules};
pub use manifest::{ENTRY_POINT, Manifest, Tool};
pub use oci::{ARTIFACT_TYPE, PACKAGE_MEDIA_TYPE};
pub use package::{
    MANIFEST, MAX_ENTRIES, MAX_FILE_BYTES, MAX_PACKAGE_BYTES, Package, PackagePath, SIGNATURE,
    sha256,
};
pub use policy::{Signer, TrustPolicy, Verified, claimed_name};
pub use signature::{KeyId, TrustedKey};
pub use source::{Fetched, Source, SourceClient};

/// The image crate's, re-exported: the registry credential a source takes.
pub use hardshell_image::RegistryCredential;

// The vocabulary's, re-exported: a module's name and its digests.
pub use hardshell_vocabulary::{Digest, ModuleName};
