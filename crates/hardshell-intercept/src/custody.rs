//! Where the CA lives: one secret in the store, sealed under the master key
//! like every other, never written to a file or given to a shell.

use hardshell_secrets::{SecretName, SecretStore, SecretValue, SecretsError};
use rcgen::KeyPair;
use zeroize::Zeroizing;

use crate::{EgressCa, InstallId, InterceptError};

/// The secret holding the CA: its certificate's PEM, then its key's PEM. One
/// secret, not two, so a reader never sees one CA's certificate with
/// another's key.
pub const CA_SECRET: &str = hardshell_vocabulary::EGRESS_CA_SECRET;

impl EgressCa {
    /// The stored CA, or a new one stored first. Two edges starting at once
    /// on one store both generate, but the store's compare-and-swap keeps
    /// exactly one, and both return that one.
    pub async fn load_or_create(
        store: &SecretStore,
        id: &InstallId,
    ) -> Result<Self, InterceptError> {
        let name = secret_name()?;
        if let Some(stored) = store.get(&name).await? {
            let ca = Self::from_stored(&stored)?;
            warn_if_expiring(&ca);
            return Ok(ca);
        }
        let fresh = Self::generate(id)?;
        let stored = store.put_if_absent(&name, &fresh.stored_value()?).await?;
        Self::from_stored(&stored)
    }

    /// [`load_or_create`](Self::load_or_create), and whether this call made
    /// the CA (for the audit record of a new key); with two creators at
    /// once, each may say so of the one kept.
    pub async fn load_or_make(
        store: &SecretStore,
        id: &InstallId,
    ) -> Result<(Self, bool), InterceptError> {
        if let Some(ca) = Self::load(store).await? {
            warn_if_expiring(&ca);
            return Ok((ca, false));
        }
        Ok((Self::load_or_create(store, id).await?, true))
    }

    /// The stored CA, if there is one; never makes one.
    pub async fn load(store: &SecretStore) -> Result<Option<Self>, InterceptError> {
        match store.get(&secret_name()?).await? {
            Some(stored) => Ok(Some(Self::from_stored(&stored)?)),
            None => Ok(None),
        }
    }

    /// A new CA, replacing the stored one. Leaves the old CA issued stop being
    /// trusted wherever its certificate is no longer installed; other edges
    /// keep the old CA until they load again (a restart, for now).
    pub async fn rotate(store: &SecretStore, id: &InstallId) -> Result<Self, InterceptError> {
        let fresh = Self::generate(id)?;
        store.put(&secret_name()?, &fresh.stored_value()?).await?;
        tracing::info!(fingerprint = fresh.fingerprint(), "egress CA replaced");
        Ok(fresh)
    }

    fn stored_value(&self) -> Result<SecretValue, InterceptError> {
        let text = self.stored_form();
        Ok(SecretValue::new(Zeroizing::new(text.as_bytes().to_vec()))?)
    }

    /// Reads the stored form back. An unreadable one is an error, not a reason
    /// to make a new CA silently: it means the store was damaged or edited,
    /// and the operator decides (`hardshell egress ca rotate`).
    fn from_stored(value: &SecretValue) -> Result<Self, InterceptError> {
        let unreadable = |reason| InterceptError::StoredCa {
            name: CA_SECRET.to_owned(),
            reason,
        };
        let blocks = pem::parse_many(value.expose()).map_err(|_| unreadable("not PEM"))?;
        let mut cert = None;
        let mut key = None;
        for block in blocks {
            match block.tag() {
                "CERTIFICATE" if cert.is_none() => cert = Some(block.into_contents()),
                "PRIVATE KEY" if key.is_none() => key = Some(Zeroizing::new(block.into_contents())),
                _ => return Err(unreadable("expected one certificate and one key")),
            }
        }
        let (Some(cert), Some(key)) = (cert, key) else {
            return Err(unreadable("expected one certificate and one key"));
        };
        let key = KeyPair::try_from(key.as_slice())
            .map_err(|_| unreadable("the key is not a PKCS#8 key rcgen can use"))?;
        Self::from_parts(cert.into(), key)
    }
}

/// A CA near its end is not replaced here: operators may have copied it into
/// their own clients, so the replacement is theirs to run (`rotate`).
fn warn_if_expiring(ca: &EgressCa) {
    let month = std::time::Duration::from_secs(30 * 24 * 60 * 60);
    if ca.not_after() < std::time::SystemTime::now() + month {
        tracing::warn!(
            fingerprint = ca.fingerprint(),
            "the egress CA expires within 30 days; replace it with `hardshell egress ca rotate`"
        );
    }
}

/// What of the stored CA the leak scan looks for: the key's PKCS#8 DER (so
/// its PEM body, base64 at any alignment, hex… are found), not the stored
/// text whole, which starts with the certificate every shell has: a key
/// sent alone would never match it. `None` when the value holds no key.
pub fn scanned_key(stored: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let blocks = pem::parse_many(stored).ok()?;
    blocks
        .into_iter()
        .find(|block| block.tag() == "PRIVATE KEY")
        .map(|block| Zeroizing::new(block.into_contents()))
}

fn secret_name() -> Result<SecretName, InterceptError> {
    Ok(SecretName::parse(CA_SECRET).map_err(SecretsError::from)?)
}
