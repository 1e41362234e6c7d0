//! Secret names follow the one rule of the shared vocabulary; a name that
//! does not is refused by the store as [`SecretsError::InvalidName`].

use crate::SecretsError;

pub use hardshell_vocabulary::{SecretName, SecretNameError};

impl From<SecretNameError> for SecretsError {
    fn from(error: SecretNameError) -> Self {
        SecretsError::InvalidName { name: error.name }
    }
}
