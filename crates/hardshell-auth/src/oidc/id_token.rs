//! The ID token: the types `openidconnect` parses it into, its verification,
//! and the [`Principal`] it proves.

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, EmptyExtraTokenFields, IdTokenFields,
    IdTokenVerifier, Nonce, SignatureVerificationError, StandardTokenResponse,
};
use serde::{Deserialize, Serialize};

use super::OidcError;
use crate::principal::groups_from_claim;
use crate::{Method, Principal};

/// Every claim of the token, so the configured groups claim can be read
/// whatever its name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AllClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for AllClaims {}

pub(crate) type IdToken = openidconnect::IdToken<
    AllClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

pub(crate) type TokenResponse = StandardTokenResponse<
    IdTokenFields<
        AllClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// Public-key signatures only. `none` and the HMAC algorithms (keyed with the
/// client secret) are not on the list, so no token can be "signed" by anyone
/// who knows — or guesses — a secret the client shares.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 8] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
];

/// Verifies signature, `iss`, `aud` (ours and no untrusted other), `exp` and
/// `nonce` with `openidconnect`'s verifier, which follows OpenID Connect Core
/// §3.1.3.7. Returns the verified claims.
pub(crate) fn verified_claims<'t>(
    id_token: &'t IdToken,
    client_id: &openidconnect::ClientId,
    issuer: &openidconnect::IssuerUrl,
    keys: &CoreJsonWebKeySet,
    nonce: &str,
) -> Result<&'t openidconnect::IdTokenClaims<AllClaims, CoreGenderClaim>, ClaimsVerificationError> {
    let verifier: IdTokenVerifier<'_, CoreJsonWebKey> =
        IdTokenVerifier::new_public_client(client_id.clone(), issuer.clone(), keys.clone())
            .set_allowed_algs(ALLOWED_ALGS);
    id_token.claims(&verifier, &Nonce::new(nonce.to_owned()))
}

pub(crate) fn is_unknown_key(err: &ClaimsVerificationError) -> bool {
    matches!(
        err,
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)
    )
}

pub(crate) fn claims_error(err: ClaimsVerificationError) -> OidcError {
    use ClaimsVerificationError as C;
    use SignatureVerificationError as S;
    match err {
        C::Expired(_) => OidcError::Expired,
        C::InvalidAudience(_) => OidcError::WrongAudience,
        C::InvalidIssuer(_) => OidcError::WrongIssuer,
        C::InvalidNonce(_) => OidcError::NonceMismatch,
        C::SignatureVerification(S::NoSignature) => {
            OidcError::AlgorithmNotAllowed { alg: "none".into() }
        }
        C::SignatureVerification(S::DisallowedAlg(alg) | S::UnsupportedAlg(alg)) => {
            OidcError::AlgorithmNotAllowed { alg }
        }
        C::SignatureVerification(S::NoMatchingKey | S::AmbiguousKeyId(_)) => OidcError::UnknownKey,
        C::SignatureVerification(_) => OidcError::BadSignature,
        other => OidcError::InvalidIdToken {
            reason: other.to_string(),
        },
    }
}

/// The principal the verified claims prove. The email counts only if the
/// provider did not say it is unverified; the login time is `auth_time` when
/// given (a provider may reuse an older session), else `iat`.
pub(crate) fn principal(
    claims: &openidconnect::IdTokenClaims<AllClaims, CoreGenderClaim>,
    groups_claim: &str,
    now: DateTime<Utc>,
) -> Principal {
    let email = claims
        .email()
        .filter(|_| claims.email_verified() != Some(false))
        .map(|email| email.as_str().to_lowercase())
        .filter(|email| !email.is_empty());
    let groups = claims
        .additional_claims()
        .claims
        .get(groups_claim)
        .cloned()
        .map(groups_from_claim)
        .unwrap_or_default();
    let logged_in_at = claims.auth_time().unwrap_or_else(|| claims.issue_time());
    Principal {
        subject: claims.subject().as_str().to_owned(),
        email,
        groups,
        method: Method::Oidc,
        // A time ahead of ours is skew and must not look fresher than now.
        authenticated_at: logged_in_at.min(now),
        token_scope: None,
    }
}
