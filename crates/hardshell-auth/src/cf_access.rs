//! Cloudflare Access: verifying the application token Access puts in the
//! `Cf-Access-Jwt-Assertion` header (or the `CF_Authorization` cookie) of every
//! request it lets through.
//!
//! A token is accepted only if all of these hold, checked in this order:
//! 1. it is at most [`MAX_TOKEN_BYTES`] of three base64url segments;
//! 2. its header says `RS256` (never `none`, never an HMAC: an HMAC "signed"
//!    with our public key is the classic confusion attack);
//! 3. its `kid` names a key in the team's key set (fetched again, rate-limited,
//!    when it does not);
//! 4. the RS256 signature verifies under that key;
//! 5. `iss` is `https://<team domain>`, `aud` contains the application's AUD
//!    tag, `exp` is not past and `nbf` not ahead, both with a small leeway.

mod claims;
mod header;
pub(crate) mod keys;

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use url::Url;

use crate::Principal;
use crate::fetch::{FetchLimits, Fetcher, check_endpoint};
use crate::jwks::{KeySetCache, KeySetError, KeySetPolicy};
use claims::AccessClaims;
pub use header::{MAX_TOKEN_BYTES, UnverifiedHeader, parse_unverified_header};
use keys::AccessKeys;

/// The only signature algorithm Cloudflare Access uses, and so the only one accepted.
const ALLOWED_ALG: &str = "RS256";

/// How to verify tokens for one Access application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfAccessSettings {
    /// The team domain, e.g. `myteam.cloudflareaccess.com`; the tokens' issuer
    /// is `https://` followed by it.
    pub team_domain: String,
    /// The application's Audience (AUD) tag.
    pub audience: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    pub key_set: KeySetPolicy,
    pub fetch: FetchLimits,
    /// Fetch the keys here instead of `https://<team_domain>/cdn-cgi/access/certs`.
    /// Must be `https`, or `http` to a loopback address (tests).
    pub certs_url: Option<Url>,
}

impl CfAccessSettings {
    pub fn new(team_domain: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            team_domain: team_domain.into(),
            audience: audience.into(),
            leeway: Duration::from_secs(60),
            key_set: KeySetPolicy::default(),
            fetch: FetchLimits::default(),
            certs_url: None,
        }
    }
}

/// Why a token was refused, or why the verifier could not be built. Messages
/// never contain the token; header values an attacker chose are quoted with
/// escapes so they cannot forge log lines.
#[derive(Debug, thiserror::Error)]
pub enum CfAccessError {
    #[error("invalid cloudflare access settings: {reason}")]
    Settings { reason: String },
    #[error("access token is {len} bytes, more than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    #[error("access token is malformed: {reason}")]
    Malformed { reason: &'static str },
    #[error("access token algorithm {alg:?} is not allowed; only RS256 is")]
    AlgorithmNotAllowed { alg: String },
    #[error("access token names key {kid:?}, which the team's key set does not have")]
    UnknownKey { kid: String },
    #[error("access token signature does not verify")]
    BadSignature,
    #[error("access token has expired")]
    Expired,
    #[error("access token is not valid yet")]
    NotYetValid,
    #[error("access token is for another application (aud)")]
    WrongAudience,
    #[error("access token was issued by another team (iss)")]
    WrongIssuer,
    #[error("access token lacks the {claim} claim")]
    MissingClaim { claim: &'static str },
    #[error("the team's key set is unavailable: {0}")]
    KeySetUnavailable(#[source] KeySetError),
}

impl CfAccessError {
    /// Whether the fault is on our side or Cloudflare's (the key set could not
    /// be had) rather than in the token: the gateway answers 503, not 401, and
    /// a retry may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, CfAccessError::KeySetUnavailable(_))
    }

    /// A short, stable reason for audit records and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            CfAccessError::Settings { .. } => "settings",
            CfAccessError::TooLarge { .. } => "too_large",
            CfAccessError::Malformed { .. } => "malformed",
            CfAccessError::AlgorithmNotAllowed { .. } => "algorithm_not_allowed",
            CfAccessError::UnknownKey { .. } => "unknown_key",
            CfAccessError::BadSignature => "bad_signature",
            CfAccessError::Expired => "expired",
            CfAccessError::NotYetValid => "not_yet_valid",
            CfAccessError::WrongAudience => "wrong_audience",
            CfAccessError::WrongIssuer => "wrong_issuer",
            CfAccessError::MissingClaim { .. } => "missing_claim",
            CfAccessError::KeySetUnavailable(_) => "key_set_unavailable",
        }
    }
}

/// Verifies Access tokens for one application. Cheap to share behind an `Arc`;
/// holds the cached key set.
#[derive(Debug)]
pub struct CfAccessVerifier {
    validation: Validation,
    leeway: Duration,
    keys: KeySetCache<AccessKeys>,
}

impl CfAccessVerifier {
    /// Checks the settings; makes no request (keys are fetched on first use).
    pub fn new(settings: CfAccessSettings) -> Result<Self, CfAccessError> {
        let team_domain = team_domain(&settings.team_domain)?;
        if settings.audience.trim().is_empty() {
            return Err(settings_error("the audience (AUD tag) is empty".to_owned()));
        }
        let issuer = format!("https://{team_domain}");
        let certs_url = match settings.certs_url {
            Some(url) => url,
            None => Url::parse(&format!("{issuer}/cdn-cgi/access/certs"))
                .map_err(|err| settings_error(format!("team domain {team_domain:?}: {err}")))?,
        };
        check_endpoint(&certs_url).map_err(|e| settings_error(e.to_string()))?;
        let fetcher = Fetcher::new(settings.fetch)
            .map_err(|err| settings_error(format!("http client: {err}")))?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[settings.audience]);

        Ok(Self {
            validation,
            leeway: settings.leeway,
            keys: KeySetCache::new(certs_url, fetcher, settings.key_set, AccessKeys::parse),
        })
    }

    /// Verifies `token` (the header or cookie value, as received) and returns
    /// who it proves. See the module documentation for the checks and their order.
    pub async fn verify(&self, token: &str) -> Result<Principal, CfAccessError> {
        let header = parse_unverified_header(token)?;
        if header.alg != ALLOWED_ALG {
            return Err(CfAccessError::AlgorithmNotAllowed {
                alg: header.alg.chars().take(32).collect(),
            });
        }
        let kid = header.kid.ok_or(CfAccessError::Malformed {
            reason: "header has no key id",
        })?;

        let mut keys = self
            .keys
            .current()
            .await
            .map_err(CfAccessError::KeySetUnavailable)?;
        if keys.get(&kid).is_none() {
            keys = self
                .keys
                .refresh_after_miss(&keys)
                .await
                .map_err(CfAccessError::KeySetUnavailable)?;
        }
        let key = keys
            .get(&kid)
            .ok_or(CfAccessError::UnknownKey { kid: kid.clone() })?;

        let verified = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
            .map_err(|err| token_error(err.kind()))?;
        verified.claims.into_principal(Utc::now(), self.leeway)
    }
}

/// Accepts `team.cloudflareaccess.com`, with or without `https://` and a
/// trailing slash; refuses anything with a path, port, user or query, since
/// the issuer is compared as an exact string.
fn team_domain(raw: &str) -> Result<String, CfAccessError> {
    let bare = raw
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/');
    let url = Url::parse(&format!("https://{bare}/"))
        .map_err(|err| settings_error(format!("team domain {raw:?}: {err}")))?;
    match url.host_str() {
        Some(host) if host == bare.to_ascii_lowercase() && url.port().is_none() => {
            Ok(host.to_owned())
        }
        _ => Err(settings_error(format!(
            "team domain {raw:?} is not a bare host name like myteam.cloudflareaccess.com"
        ))),
    }
}

fn settings_error(reason: String) -> CfAccessError {
    CfAccessError::Settings { reason }
}

fn token_error(kind: &ErrorKind) -> CfAccessError {
    match kind {
        ErrorKind::ExpiredSignature => CfAccessError::Expired,
        ErrorKind::ImmatureSignature => CfAccessError::NotYetValid,
        ErrorKind::InvalidAudience => CfAccessError::WrongAudience,
        ErrorKind::InvalidIssuer => CfAccessError::WrongIssuer,
        ErrorKind::InvalidAlgorithm => CfAccessError::AlgorithmNotAllowed {
            alg: "(mismatch with key)".to_owned(),
        },
        ErrorKind::MissingRequiredClaim(claim) => CfAccessError::MissingClaim {
            claim: match claim.as_str() {
                "exp" => "exp",
                "iss" => "iss",
                "aud" => "aud",
                _ => "required",
            },
        },
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_)
        | ErrorKind::InvalidClaimFormat(_) => CfAccessError::Malformed {
            reason: "payload is not valid JWT claims",
        },
        // InvalidSignature, and key or crypto errors: the signature was not
        // shown to be valid, which is all that matters here.
        _ => CfAccessError::BadSignature,
    }
}
