//! hardshell's secret store and the types that carry secret values.
//!
//! Invariant: a secret's value is readable only through [`SecretValue::expose`];
//! it never appears in `Debug`, `Display`, an error, a log line or a listing.
//! Values are stored through [`hardshell_storage`], so they are sealed under the
//! master key like every other object.
#![forbid(unsafe_code)]

mod name;
mod store;
mod value;

pub use name::{SecretName, SecretNameError};
pub use store::{PutOutcome, SecretInfo, SecretStore, SecretsError};
pub use value::{MAX_SECRET_BYTES, SecretValue};
