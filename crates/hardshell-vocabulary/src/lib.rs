//! hardshell's vocabulary: the values that cross crates (the config, the
//! secret store, the egress broker, the model clients, the agent protocol),
//! each parsed once into its type so every crate applies the same rule.
//!
//! Invariant: a value of one of these types passed its rule; there is no
//! other constructor than the parser (or, for [`ProviderKind`], the closed
//! set; for [`Digest`], also a hash's 32 bytes), so a crate that holds one
//! never checks it again.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod channel;
mod digest;
pub mod headers;
pub mod host;
mod image_ref;
mod model;
mod module_name;
mod provider;
mod secret_name;
pub mod text;

pub use channel::{ChannelRole, IdentityError, Platform, Sender};
pub use digest::{Digest, DigestError};
pub use host::{Host, HostError, HostPattern};
pub use image_ref::{DOCKER_HUB, ImageRef, ImageRefError, ImageSource};
pub use model::{ModelRef, ModelRefError};
pub use module_name::{MAX_MODULE_NAME_BYTES, ModuleName, ModuleNameError};
pub use provider::ProviderKind;
pub use secret_name::{EGRESS_CA_SECRET, SecretName, SecretNameError};
