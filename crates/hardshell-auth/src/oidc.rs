//! OpenID Connect login: the authorization code flow with PKCE (S256), `state`
//! and `nonce`, against any provider that publishes discovery metadata.
//!
//! The flow, as the gateway drives it:
//! 1. [`OidcClient::begin`] returns the provider URL to redirect the browser to
//!    and a [`PendingLogin`] the gateway stores server-side under its `state`;
//! 2. the provider redirects back with `code` and `state`; the gateway takes
//!    the pending login stored under that `state` out of its store;
//! 3. [`OidcClient::complete`] checks, in order: the login is not older than
//!    `login_timeout`; the returned `state` equals the stored one; the code
//!    is redeemed (with the PKCE verifier and the client secret) at the token
//!    endpoint; the ID token's signature, `iss`, `aud`, `exp` and `nonce`
//!    verify. Only then is a [`Principal`] returned.
//!
//! The principal's email is the token's `email` only when the provider says it
//! is verified (`email_verified` as a boolean or the string `"true"`, as
//! Cognito sends it; absent counts as unverified unless the operator states
//! [`EmailVerification::AlwaysByProvider`]) and only when it is printable
//! ASCII, lower-cased in ASCII: rules compare addresses ASCII
//! case-insensitively, and nothing else may fold.
//!
//! `openidconnect` does the protocol; hardshell supplies the HTTP client (the
//! bounded [`Fetcher`], so no second `reqwest` is compiled), the key-set cache
//! (so rotated provider keys are picked up, rate-limited) and the mapping to a
//! principal.

mod id_token;
mod pending;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreProviderMetadata, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse,
};
use openidconnect::{
    AuthUrl, AuthenticationFlow, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardErrorResponse, TokenUrl,
};
use url::Url;

use crate::Principal;
use crate::fetch::{Fetcher, check_endpoint};
use crate::jwks::{KeySetCache, KeySetError};
pub use id_token::EmailVerification;
use id_token::{IdToken, TokenResponse};
pub use pending::PendingLogin;
pub use settings::{ClientSecret, OidcSettings};

/// Authorization codes are short opaque strings; anything longer is not one.
const MAX_CODE_BYTES: usize = 2048;

/// Why a login failed, or why the client could not be set up. Messages carry
/// no code, token, verifier or secret.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("invalid oidc settings: {reason}")]
    Settings { reason: String },
    #[error("oidc discovery for {issuer} failed: {reason}")]
    Discovery { issuer: String, reason: String },
    #[error("the login was started more than {timeout_secs} s ago, or its record is corrupt")]
    LoginExpired { timeout_secs: u64 },
    #[error("the state returned by the provider is not the login's")]
    StateMismatch,
    #[error("the authorization code is missing or malformed")]
    MalformedCode,
    #[error("the provider refused the authorization code: {error}")]
    CodeRejected { error: String },
    #[error("the token endpoint failed: {reason}")]
    TokenEndpoint { reason: String },
    #[error("the provider returned no id token")]
    MissingIdToken,
    #[error("the id token's nonce is not the login's")]
    NonceMismatch,
    #[error("the id token is for another client (aud)")]
    WrongAudience,
    #[error("the id token is from another issuer (iss)")]
    WrongIssuer,
    #[error("the id token has expired")]
    Expired,
    #[error("the id token signature does not verify")]
    BadSignature,
    #[error("the id token is signed with a key the provider does not publish")]
    UnknownKey,
    #[error("id token algorithm {alg:?} is not allowed")]
    AlgorithmNotAllowed { alg: String },
    #[error("the id token is invalid: {reason}")]
    InvalidIdToken { reason: String },
    #[error("the provider's key set is unavailable: {0}")]
    KeySetUnavailable(#[source] KeySetError),
}

impl OidcError {
    /// Whether the provider could not be reached or understood, rather than
    /// the login being refused: the gateway answers 503, and a retry may work.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            OidcError::Discovery { .. }
                | OidcError::TokenEndpoint { .. }
                | OidcError::KeySetUnavailable(_)
        )
    }
}

/// The `openidconnect` client shape hardshell uses: authorization and token
/// endpoints set (once built), nothing else.
type ProtocolClient<HasAuthUrl = EndpointSet, HasTokenUrl = EndpointSet> = openidconnect::Client<
    id_token::AllClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    HasAuthUrl,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    HasTokenUrl,
    EndpointNotSet,
>;

/// Logs people in with one provider. Share it behind an `Arc`.
#[derive(Debug)]
pub struct OidcClient {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect_url: RedirectUrl,
    auth_url: AuthUrl,
    token_url: TokenUrl,
    scopes: Vec<Scope>,
    groups_claim: String,
    email_verification: EmailVerification,
    login_timeout: Duration,
    fetcher: Fetcher,
    keys: KeySetCache<CoreJsonWebKeySet>,
}

impl OidcClient {
    /// Checks the settings, then reads the provider's discovery document and
    /// key set. The document's `issuer` must equal the configured one exactly.
    pub async fn discover(settings: OidcSettings) -> Result<Self, OidcError> {
        let issuer = checked_issuer(&settings.issuer)?;
        check_endpoint(&settings.redirect_url).map_err(|e| settings_error(e.to_string()))?;
        for (name, value) in [
            ("client id", settings.client_id.as_str()),
            ("client secret", settings.client_secret.expose()),
            ("groups claim", settings.groups_claim.as_str()),
        ] {
            if value.trim().is_empty() {
                return Err(settings_error(format!("the {name} is empty")));
            }
        }
        if settings.login_timeout.is_zero() {
            return Err(settings_error("the login timeout is zero".to_owned()));
        }
        let fetcher = Fetcher::new(settings.fetch)
            .map_err(|err| settings_error(format!("http client: {err}")))?;

        let discovery_error = |reason: String| OidcError::Discovery {
            issuer: settings.issuer.clone(),
            reason,
        };
        let metadata = CoreProviderMetadata::discover_async(issuer.clone(), &fetcher)
            .await
            .map_err(|err| discovery_error(error_chain(&err)))?;
        let token_url = metadata
            .token_endpoint()
            .cloned()
            .ok_or_else(|| discovery_error("the provider has no token endpoint".to_owned()))?;
        let keys = KeySetCache::new(
            metadata.jwks_uri().url().clone(),
            fetcher.clone(),
            settings.key_set,
            |body| Ok(serde_json::from_slice(body)?),
        );
        keys.seed(metadata.jwks().clone());

        Ok(Self {
            issuer,
            client_id: ClientId::new(settings.client_id),
            client_secret: settings.client_secret,
            redirect_url: RedirectUrl::from_url(settings.redirect_url),
            auth_url: metadata.authorization_endpoint().clone(),
            token_url,
            scopes: settings.scopes.into_iter().map(Scope::new).collect(),
            groups_claim: settings.groups_claim,
            email_verification: settings.email_verification,
            login_timeout: settings.login_timeout,
            fetcher,
            keys,
        })
    }

    /// Starts a login: the URL to send the browser to, and the record to keep
    /// server-side until it comes back. Fresh random `state`, `nonce` and PKCE
    /// verifier each time.
    pub fn begin(&self) -> (Url, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .protocol_client(None)
            .authorize_url(
                AuthenticationFlow::<openidconnect::core::CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.scopes.iter().cloned())
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingLogin {
            state: state.into_secret(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.into_secret(),
            created_at: Utc::now(),
        };
        (url, pending)
    }

    /// Finishes a login with the `code` and `state` the provider redirected
    /// back with. See the module documentation for the checks and their order.
    pub async fn complete(
        &self,
        pending: PendingLogin,
        code: &str,
        returned_state: &str,
    ) -> Result<Principal, OidcError> {
        pending.check_age(Utc::now(), self.login_timeout)?;
        if !pending.state_matches(returned_state) {
            return Err(OidcError::StateMismatch);
        }
        let id_token = self.redeem(&pending, code).await?;
        self.verify_id_token(&id_token, &pending.nonce).await
    }

    /// Redeems `code` at the token endpoint and returns the ID token.
    pub(crate) async fn redeem(
        &self,
        pending: &PendingLogin,
        code: &str,
    ) -> Result<IdToken, OidcError> {
        if code.is_empty() || code.len() > MAX_CODE_BYTES {
            return Err(OidcError::MalformedCode);
        }
        // The secret is copied into the protocol client only for this request;
        // `openidconnect` keeps it in a plain `String` (redacted in its Debug).
        let client = self.protocol_client(Some(&self.client_secret));
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.fetcher)
            .await
            .map_err(|err| match err {
                RequestTokenError::ServerResponse(answer) => OidcError::CodeRejected {
                    error: answer.error().to_string(),
                },
                RequestTokenError::Request(err) => OidcError::TokenEndpoint {
                    reason: err.to_string(),
                },
                // The body may hold tokens: say only that it did not parse.
                RequestTokenError::Parse(..) => OidcError::TokenEndpoint {
                    reason: "the response is not a valid token response".to_owned(),
                },
                RequestTokenError::Other(reason) => OidcError::TokenEndpoint { reason },
            })?;
        response
            .extra_fields()
            .id_token()
            .cloned()
            .ok_or(OidcError::MissingIdToken)
    }

    /// Verifies an ID token against the provider's keys, fetching them again
    /// (rate-limited) if it names a key the cached set lacks.
    pub(crate) async fn verify_id_token(
        &self,
        id_token: &IdToken,
        nonce: &str,
    ) -> Result<Principal, OidcError> {
        let keys = self
            .keys
            .current()
            .await
            .map_err(OidcError::KeySetUnavailable)?;
        let verify = |keys: &Arc<CoreJsonWebKeySet>| {
            id_token::verified_claims(id_token, &self.client_id, &self.issuer, keys, nonce)
        };
        let claims = match verify(&keys) {
            Err(err) if id_token::is_unknown_key(&err) => {
                let keys = self
                    .keys
                    .refresh_after_miss(&keys)
                    .await
                    .map_err(OidcError::KeySetUnavailable)?;
                verify(&keys)
            }
            verified => verified,
        }
        .map_err(id_token::claims_error)?;
        Ok(id_token::principal(
            claims,
            &self.groups_claim,
            self.email_verification,
            Utc::now(),
        ))
    }

    fn protocol_client(&self, secret: Option<&ClientSecret>) -> ProtocolClient {
        let client = ProtocolClient::<EndpointNotSet, EndpointNotSet>::new(
            self.client_id.clone(),
            self.issuer.clone(),
            CoreJsonWebKeySet::new(Vec::new()),
        )
        .set_auth_uri(self.auth_url.clone())
        .set_token_uri(self.token_url.clone())
        .set_redirect_uri(self.redirect_url.clone());
        match secret {
            Some(secret) => client
                .set_client_secret(openidconnect::ClientSecret::new(secret.expose().to_owned())),
            None => client,
        }
    }
}

fn checked_issuer(issuer: &str) -> Result<IssuerUrl, OidcError> {
    let url = Url::parse(issuer)
        .map_err(|err| settings_error(format!("issuer {issuer:?} is not a url: {err}")))?;
    check_endpoint(&url).map_err(|e| settings_error(e.to_string()))?;
    // IssuerUrl keeps the string as written: the issuer is compared exactly.
    IssuerUrl::new(issuer.to_owned())
        .map_err(|err| settings_error(format!("issuer {issuer:?}: {err}")))
}

fn settings_error(reason: String) -> OidcError {
    OidcError::Settings { reason }
}

/// An error and its sources on one line: `openidconnect` puts the useful part
/// (which URL, which status) in the sources.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
