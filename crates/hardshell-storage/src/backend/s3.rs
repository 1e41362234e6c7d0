//! S3-compatible stores: AWS S3, Cloudflare R2, MinIO, SeaweedFS.
//!
//! Conditional writes use `If-None-Match: *` and `If-Match: <etag>`, which all four
//! honour atomically. Transient failures (5xx, 429, dropped connections) are retried
//! with exponential backoff and jitter by object_store's client, bounded by
//! [`RetryOptions`]; permanent ones (403, missing bucket) are not.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use zeroize::Zeroizing;

use crate::{ObjectKey, StorageError};

/// How to reach an S3-compatible bucket.
#[derive(Clone)]
pub struct S3Options {
    /// Base URL, e.g. `https://<account>.r2.cloudflarestorage.com`; `None` means AWS.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`.
    pub path_style: bool,
    /// Keys are stored under this prefix inside the bucket, so instances can share one.
    pub prefix: Option<ObjectKey>,
    pub credentials: S3Credentials,
    /// Permit `http://` endpoints. Loopback endpoints are always permitted.
    pub allow_http: bool,
    pub retry: RetryOptions,
}

/// Static credentials. `Debug` shows the key id's first characters, never the secret.
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: Zeroizing<String>,
    pub secret_access_key: Zeroizing<String>,
}

/// Bounds for retrying transient failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryOptions {
    pub max_retries: usize,
    /// Give up retrying once this long has passed since the first attempt.
    pub timeout: Duration,
    /// Per-attempt connect timeout.
    pub connect_timeout: Duration,
    /// Per-attempt request timeout.
    pub request_timeout: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            max_retries: 5,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl S3Options {
    pub(crate) fn describe(&self) -> String {
        let endpoint = self
            .endpoint
            .as_deref()
            .unwrap_or("https://s3.amazonaws.com");
        format!("{}/{}", endpoint.trim_end_matches('/'), self.bucket)
    }
}

pub(crate) fn open(options: &S3Options) -> Result<Arc<dyn ObjectStore>, StorageError> {
    let endpoint_is_http = options
        .endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"));
    if endpoint_is_http
        && !options.allow_http
        && !is_loopback_url(options.endpoint.as_deref().unwrap_or(""))
    {
        return Err(StorageError::Config(format!(
            "endpoint {} is plain http and not on loopback; use https, or set \
             [dangerous] storage_allow_http = true",
            options.describe()
        )));
    }
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: options.retry.max_retries,
        retry_timeout: options.retry.timeout,
    };
    let client = ClientOptions::new()
        .with_allow_http(endpoint_is_http)
        .with_connect_timeout(options.retry.connect_timeout)
        .with_timeout(options.retry.request_timeout);
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&options.bucket)
        .with_region(&options.region)
        .with_access_key_id(options.credentials.access_key_id.as_str())
        .with_secret_access_key(options.credentials.secret_access_key.as_str())
        .with_virtual_hosted_style_request(!options.path_style)
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        .with_retry(retry)
        .with_client_options(client);
    if let Some(endpoint) = &options.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    let store = builder
        .build()
        .map_err(|e| StorageError::Config(format!("s3 {}: {e}", options.describe())))?;
    Ok(match &options.prefix {
        Some(prefix) => Arc::new(PrefixStore::new(store, prefix.as_str())),
        None => Arc::new(store),
    })
}

fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.describe())
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("prefix", &self.prefix)
            .field("credentials", &self.credentials)
            .field("allow_http", &self.allow_http)
            .field("retry", &self.retry)
            .finish()
    }
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &"<redacted>")
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_numeric_loopback_hosts_count_as_loopback() {
        assert!(is_loopback_url("http://127.0.0.1:8333"));
        assert!(is_loopback_url("http://[::1]:8333/"));
        assert!(!is_loopback_url("http://localhost.evil.net:8333"));
        assert!(!is_loopback_url("http://127.0.0.1.nip.io"));
        assert!(!is_loopback_url("http://10.0.0.1:8333"));
        assert!(!is_loopback_url("https://127.0.0.1"));
    }

    #[test]
    fn plain_http_off_loopback_is_refused() {
        let options = S3Options {
            endpoint: Some("http://s3.example.com".into()),
            bucket: "b".into(),
            region: "us-east-1".into(),
            path_style: true,
            prefix: None,
            credentials: S3Credentials {
                access_key_id: Zeroizing::new("AKIAEXAMPLEEXAMPLE12".into()),
                secret_access_key: Zeroizing::new("very-secret-value".into()),
            },
            allow_http: false,
            retry: RetryOptions::default(),
        };
        let err = open(&options).unwrap_err().to_string();
        assert!(err.contains("plain http"), "{err}");
        assert!(
            open(&S3Options {
                allow_http: true,
                ..options.clone()
            })
            .is_ok()
        );
        let debug = format!("{options:?}");
        assert!(
            !debug.contains("very-secret-value") && !debug.contains("AKIAEXAMPLE"),
            "{debug}"
        );
    }
}
