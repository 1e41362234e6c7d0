//! The team's signing keys, as published at `/cdn-cgi/access/certs`.

use std::collections::HashMap;

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use serde::Deserialize;

use crate::jwks::KeySetParseError;

/// The usable keys of one fetched set, by key id: RSA keys meant for RS256
/// signatures. A key without an id cannot be chosen by a token, so it is left out.
pub(crate) struct AccessKeys {
    by_kid: HashMap<String, DecodingKey>,
}

#[derive(Deserialize)]
struct RawKeySet {
    // Each key is parsed on its own, so one key of a kind we do not use (or a
    // future kind) does not make the whole set unusable. Cloudflare's document
    // also carries `public_cert(s)`, which are ignored.
    keys: Vec<serde_json::Value>,
}

impl AccessKeys {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, KeySetParseError> {
        let raw: RawKeySet = serde_json::from_slice(body).map_err(KeySetParseError::NotJwks)?;
        let by_kid: HashMap<String, DecodingKey> = raw
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter_map(|jwk| usable_rs256_key(&jwk))
            .collect();
        if by_kid.is_empty() {
            return Err(KeySetParseError::NoSigningKey);
        }
        Ok(Self { by_kid })
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.by_kid.get(kid)
    }

    /// How many usable keys the set holds (for the fuzz target).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn len(&self) -> usize {
        self.by_kid.len()
    }
}

fn usable_rs256_key(jwk: &Jwk) -> Option<(String, DecodingKey)> {
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return None;
    };
    let common = &jwk.common;
    let for_rs256 = matches!(common.key_algorithm, None | Some(KeyAlgorithm::RS256));
    let for_signing = matches!(common.public_key_use, None | Some(PublicKeyUse::Signature));
    if !for_rs256 || !for_signing {
        return None;
    }
    let kid = common.key_id.clone()?;
    let key = DecodingKey::from_rsa_components(&rsa.n, &rsa.e).ok()?;
    Some((kid, key))
}
