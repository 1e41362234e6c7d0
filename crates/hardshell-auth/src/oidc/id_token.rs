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
use crate::principal::{groups_from_claim, verified_email};
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

/// Whether an email the ID token asserts has been verified by the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailVerification {
    /// Only `email_verified: true` (or `"true"`) counts; a token without the
    /// claim maps no email. The default.
    Claimed,
    /// The provider verifies every address it issues (an operator's statement
    /// about this provider), so a token without `email_verified` counts as
    /// verified. An explicit `false` still maps no email.
    AlwaysByProvider,
}

/// The principal the verified claims prove. The email counts only if it is
/// verified (see [`EmailVerification`]) and printable ASCII; the login time is
/// `auth_time` when given (a provider may reuse an older session), else `iat`.
pub(crate) fn principal(
    claims: &openidconnect::IdTokenClaims<AllClaims, CoreGenderClaim>,
    groups_claim: &str,
    email_verification: EmailVerification,
    now: DateTime<Utc>,
) -> Principal {
    let verified = match (claims.email_verified(), email_verification) {
        (Some(said), _) => said,
        (None, EmailVerification::AlwaysByProvider) => true,
        (None, EmailVerification::Claimed) => false,
    };
    let email = claims
        .email()
        .filter(|_| verified)
        .and_then(|email| verified_email(email.as_str()));
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
    }

    /// ID token claims as a provider would send them, with `extra` merged in.
    fn claims(
        extra: serde_json::Value,
    ) -> openidconnect::IdTokenClaims<AllClaims, CoreGenderClaim> {
        let mut json = serde_json::json!({
            "iss": "https://accounts.example.com",
            "aud": ["hardshell"],
            "sub": "user-1",
            "exp": now().timestamp() + 300,
            "iat": now().timestamp(),
        });
        for (key, value) in extra.as_object().unwrap() {
            json[key] = value.clone();
        }
        serde_json::from_value(json).unwrap()
    }

    fn email_of(extra: serde_json::Value, verification: EmailVerification) -> Option<String> {
        principal(&claims(extra), "groups", verification, now()).email
    }

    #[test]
    fn a_verified_email_is_lower_cased_in_ascii() {
        let email = email_of(
            serde_json::json!({"email": "Karen@Example.COM", "email_verified": true}),
            EmailVerification::Claimed,
        );
        assert_eq!(email.as_deref(), Some("karen@example.com"));
    }

    #[test]
    fn a_kelvin_sign_email_is_not_folded_into_an_ascii_one() {
        let email = email_of(
            serde_json::json!({"email": "\u{212A}aren@example.com", "email_verified": true}),
            EmailVerification::Claimed,
        );
        assert_eq!(email, None);
    }

    /// Cognito and others send the claim as a string. Before, the token did not
    /// parse, and the edge answered 503 instead of a refusal.
    #[test]
    fn email_verified_as_a_string_is_understood() {
        let unverified = email_of(
            serde_json::json!({"email": "karen@example.com", "email_verified": "false"}),
            EmailVerification::AlwaysByProvider,
        );
        assert_eq!(unverified, None);
        let verified = email_of(
            serde_json::json!({"email": "karen@example.com", "email_verified": "true"}),
            EmailVerification::Claimed,
        );
        assert_eq!(verified.as_deref(), Some("karen@example.com"));
    }

    #[test]
    fn email_verified_of_another_shape_does_not_parse() {
        for odd in [
            serde_json::json!("yes"),
            serde_json::json!("False"),
            serde_json::json!(1),
        ] {
            let mut json = serde_json::json!({
                "iss": "https://accounts.example.com",
                "aud": ["hardshell"],
                "sub": "user-1",
                "exp": now().timestamp() + 300,
                "iat": now().timestamp(),
                "email": "karen@example.com",
            });
            json["email_verified"] = odd.clone();
            let parsed = serde_json::from_value::<
                openidconnect::IdTokenClaims<AllClaims, CoreGenderClaim>,
            >(json);
            assert!(parsed.is_err(), "{odd}");
        }
    }

    #[test]
    fn an_email_without_email_verified_counts_only_if_the_provider_verifies_all() {
        let extra = serde_json::json!({"email": "karen@example.com"});
        assert_eq!(email_of(extra.clone(), EmailVerification::Claimed), None);
        assert_eq!(
            email_of(extra, EmailVerification::AlwaysByProvider).as_deref(),
            Some("karen@example.com")
        );
        let explicit_false =
            serde_json::json!({"email": "karen@example.com", "email_verified": false});
        assert_eq!(
            email_of(explicit_false, EmailVerification::AlwaysByProvider),
            None
        );
    }
}
