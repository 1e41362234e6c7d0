//! A client of the OCI distribution API: HTTPS only, extra trusted roots as a
//! parameter, anonymous, Basic, or the Bearer token flow a `WWW-Authenticate`
//! challenge asks for. Bodies come back as bounded buffers (manifests) or
//! streams (blobs) that the store hashes as they arrive.

mod challenge;

use std::time::Duration;

use futures::StreamExt as _;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use zeroize::Zeroizing;

use crate::credential::RegistryCredential;
use crate::digest::Digest;
use crate::error::ImageError;
use crate::source::BlobStream;
use hardshell_vocabulary::DOCKER_HUB;

use challenge::Challenge;

/// Token responses are a few KiB; anything larger is not a token.
const MAX_TOKEN_BYTES: u64 = 64 << 10;

/// One HTTP client for every registry (connection reuse; one trust config).
#[derive(Debug, Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
}

impl RegistryClient {
    /// `extra_roots_pem`: PEM certificates trusted besides the system's roots
    /// (a private registry's CA; tests' CA).
    pub fn new(extra_roots_pem: Option<&[u8]>) -> Result<Self, ImageError> {
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .user_agent(concat!("hardshell/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = extra_roots_pem {
            let certs =
                reqwest::Certificate::from_pem_bundle(pem).map_err(ImageError::TrustedRoot)?;
            builder = builder.tls_certs_merge(certs);
        }
        Ok(Self {
            http: builder.build().map_err(ImageError::Client)?,
        })
    }
}

/// Talking to one repository, carrying the authorization it earned.
pub(crate) struct Session<'a> {
    client: &'a RegistryClient,
    registry: String,
    base: String,
    repository: String,
    credential: Option<&'a RegistryCredential>,
    authorization: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("base", &self.base)
            .field("repository", &self.repository)
            .finish_non_exhaustive()
    }
}

impl<'a> Session<'a> {
    pub(crate) fn new(
        client: &'a RegistryClient,
        registry: &str,
        repository: &str,
        credential: Option<&'a RegistryCredential>,
    ) -> Self {
        let host = if registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            registry
        };
        Self {
            client,
            registry: registry.to_owned(),
            base: format!("https://{host}/v2/{repository}"),
            repository: repository.to_owned(),
            credential,
            authorization: None,
        }
    }

    /// A manifest by tag or digest: its bytes (bounded) and Content-Type.
    pub(crate) async fn manifest(
        &mut self,
        reference: &str,
        limit: u64,
    ) -> Result<(Vec<u8>, Option<String>), ImageError> {
        let url = format!("{}/manifests/{reference}", self.base);
        let response = self
            .get(&url, Some(crate::manifest::ACCEPT), "manifest")
            .await?;
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_bounded(response, &url, limit, "manifest").await?;
        Ok((body, content_type))
    }

    /// A blob as a stream of chunks.
    pub(crate) async fn blob(&mut self, digest: &Digest) -> Result<BlobStream, ImageError> {
        let url = format!("{}/blobs/{digest}", self.base);
        let response = self.get(&url, None, "blob").await?;
        let stream = response.bytes_stream().map(move |chunk| {
            chunk.map_err(|source| ImageError::Request {
                url: url.clone(),
                source,
            })
        });
        Ok(Box::pin(stream))
    }

    async fn get(
        &mut self,
        url: &str,
        accept: Option<&str>,
        what: &'static str,
    ) -> Result<reqwest::Response, ImageError> {
        let mut answered_challenge = false;
        loop {
            let mut request = self.client.http.get(url);
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            if let Some(authorization) = &self.authorization {
                request = request.header(AUTHORIZATION, authorization.as_str());
            }
            let response = request.send().await.map_err(|source| ImageError::Request {
                url: url.to_owned(),
                source,
            })?;
            match response.status() {
                status if status.is_success() => return Ok(response),
                StatusCode::UNAUTHORIZED if !answered_challenge => {
                    let challenge = response
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(challenge::parse)
                        .ok_or_else(|| ImageError::Challenge {
                            registry: self.registry.clone(),
                            reason: "no Basic or Bearer challenge".into(),
                        })?;
                    self.answer(challenge).await?;
                    answered_challenge = true;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(ImageError::Unauthorized {
                        registry: self.registry.clone(),
                        repository: self.repository.clone(),
                    });
                }
                StatusCode::NOT_FOUND => {
                    return Err(ImageError::NotFound {
                        what,
                        url: url.to_owned(),
                    });
                }
                status => {
                    return Err(ImageError::Status {
                        url: url.to_owned(),
                        status: status.as_u16(),
                    });
                }
            }
        }
    }

    /// Earns an Authorization header for the challenge: the credential itself
    /// for Basic, or a token from the realm (with the credential, if any).
    async fn answer(&mut self, challenge: Challenge) -> Result<(), ImageError> {
        match challenge {
            Challenge::Basic => {
                let credential = self.credential.ok_or_else(|| ImageError::Unauthorized {
                    registry: self.registry.clone(),
                    repository: self.repository.clone(),
                })?;
                self.authorization = Some(credential.basic_header());
            }
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scope = scope.unwrap_or_else(|| format!("repository:{}:pull", self.repository));
                let mut query = vec![("scope", scope)];
                if let Some(service) = service {
                    query.push(("service", service));
                }
                let url = reqwest::Url::parse_with_params(&realm, &query).map_err(|_| {
                    ImageError::Challenge {
                        registry: self.registry.clone(),
                        reason: format!("realm {realm:?} is not a URL"),
                    }
                })?;
                let mut request = self.client.http.get(url);
                if let Some(credential) = self.credential {
                    request = request.header(AUTHORIZATION, credential.basic_header().as_str());
                }
                let response = request.send().await.map_err(|source| ImageError::Request {
                    url: realm.clone(),
                    source,
                })?;
                if matches!(
                    response.status(),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ) {
                    return Err(ImageError::Unauthorized {
                        registry: self.registry.clone(),
                        repository: self.repository.clone(),
                    });
                }
                if !response.status().is_success() {
                    return Err(ImageError::Status {
                        url: realm,
                        status: response.status().as_u16(),
                    });
                }
                let body =
                    Zeroizing::new(read_bounded(response, &realm, MAX_TOKEN_BYTES, "token").await?);
                let token = parse_token(&body).ok_or(ImageError::Token { realm })?;
                self.authorization = Some(Zeroizing::new(format!("Bearer {}", token.as_str())));
            }
        }
        Ok(())
    }
}

/// `{"token": …}` or `{"access_token": …}` (the spec allows either).
fn parse_token(body: &[u8]) -> Option<Zeroizing<String>> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        token: Option<String>,
        access_token: Option<String>,
    }
    let parsed: TokenResponse = serde_json::from_slice(body).ok()?;
    let token = Zeroizing::new(parsed.token.or(parsed.access_token)?);
    // A header value: printable ASCII, no spaces.
    (!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())).then_some(token)
}

async fn read_bounded(
    response: reqwest::Response,
    url: &str,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, ImageError> {
    let too_large = || ImageError::TooLarge {
        what: format!("{what} at {url}"),
        limit,
    };
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| ImageError::Request {
            url: url.to_owned(),
            source,
        })?;
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
