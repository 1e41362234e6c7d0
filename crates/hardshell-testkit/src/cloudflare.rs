//! Test keys, token minting and a real JWKS server on 127.0.0.1.
//!
//! The RSA keys are generated when the tests start (aws-lc-rs); none is
//! committed. Tokens are signed by hand rather than with a JWT library so the
//! tests can also build the broken and hostile ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hardshell_auth::{CfAccessSettings, CfAccessVerifier, KeySetPolicy};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use url::Url;

pub const TEAM: &str = "hardshell-test.cloudflareaccess.com";
pub const ISSUER: &str = "https://hardshell-test.cloudflareaccess.com";
pub const AUD: &str = "32eafc7626e974616deaf0dc3ce63d7bcbed58a2731e84d06bc3cdf1b53c4228";
pub const CERTS_PATH: &str = "/cdn-cgi/access/certs";

/// A test-only RSA signing key with its key id.
pub struct TestKey {
    pair: KeyPair,
    pub kid: String,
}

impl TestKey {
    fn generate(kid: &str) -> Self {
        Self {
            pair: KeyPair::generate(KeySize::Rsa2048).unwrap(),
            kid: kid.to_owned(),
        }
    }

    /// The public key as Cloudflare publishes it.
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kid": self.kid,
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "e": b64(public.exponent().big_endian_without_leading_zero()),
            "n": b64(public.modulus().big_endian_without_leading_zero()),
        })
    }

    /// The public key as PEM, the bytes a confused verifier would use as an HMAC secret.
    pub fn public_pem(&self) -> String {
        let der = self.pair.public_key().as_der().unwrap();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der.as_ref())
        )
    }

    /// An RS256 token over `claims` with this key's id.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }

    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", b64(&sig))
    }
}

pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Three keys, generated once per test run (RSA generation takes a moment).
pub fn keys() -> &'static [TestKey; 3] {
    static KEYS: OnceLock<[TestKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            TestKey::generate("key-a"),
            TestKey::generate("key-b"),
            TestKey::generate("key-c"),
        ]
    })
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The claims of a valid token from a person, as Cloudflare documents them.
pub fn claims() -> Value {
    let now = now();
    json!({
        "aud": [AUD],
        "email": "Owner@Example.COM",
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "iss": ISSUER,
        "type": "app",
        "identity_nonce": "6ei69kawdKzMIAPF",
        "sub": "7335d417-61da-459d-899c-0a01c76a2f94",
        "country": "US",
        "groups": ["hardshell-admins", "staff"],
    })
}

/// `claims()` with `changes` merged in; a `null` removes the claim.
pub fn claims_with(changes: Value) -> Value {
    let mut claims = claims();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// A JWKS endpoint on 127.0.0.1 that counts its requests and whose keys the
/// test can change. Stopped when dropped.
pub struct JwksServer {
    pub certs_url: Url,
    fetches: Arc<AtomicUsize>,
    keys: Arc<Mutex<Vec<Value>>>,
    task: JoinHandle<()>,
}

impl JwksServer {
    pub async fn start(keys: &[&TestKey]) -> Self {
        let published: Arc<Mutex<Vec<Value>>> =
            Arc::new(Mutex::new(keys.iter().map(|k| k.jwk()).collect()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let router = {
            let published = Arc::clone(&published);
            let fetches = Arc::clone(&fetches);
            Router::new().route(
                CERTS_PATH,
                get(move || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let keys = published.lock().unwrap().clone();
                    // Cloudflare's document also carries the keys as certificates.
                    async move {
                        axum::Json(json!({"keys": keys, "public_cert": {}, "public_certs": []}))
                    }
                }),
            )
        };
        let (certs_url, task) = serve(router).await;
        Self {
            certs_url,
            fetches,
            keys: published,
            task,
        }
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Replaces the published keys, as a key rotation at Cloudflare would.
    pub fn publish(&self, keys: &[&TestKey]) {
        *self.keys.lock().unwrap() = keys.iter().map(|k| k.jwk()).collect();
    }

    /// A verifier for this server's keys with the default policy.
    pub fn verifier(&self) -> CfAccessVerifier {
        self.verifier_with(KeySetPolicy::default())
    }

    pub fn verifier_with(&self, policy: KeySetPolicy) -> CfAccessVerifier {
        CfAccessVerifier::new(settings(self.certs_url.clone(), policy)).unwrap()
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn settings(certs_url: Url, policy: KeySetPolicy) -> CfAccessSettings {
    let mut settings = CfAccessSettings::new(TEAM, AUD);
    settings.certs_url = Some(certs_url);
    settings.key_set = policy;
    settings.fetch.timeout = Duration::from_secs(2);
    settings
}

/// Serves `router` on a free loopback port; returns the certs URL on it.
pub async fn serve(router: Router) -> (Url, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    let url = Url::parse(&format!("http://{addr}{CERTS_PATH}")).unwrap();
    (url, task)
}

/// A certs endpoint that answers with `status` and `body`.
pub async fn serve_fixed(status: StatusCode, body: Vec<u8>) -> (Url, JoinHandle<()>) {
    let router = Router::new().route(CERTS_PATH, get(move || async move { (status, body) }));
    serve(router).await
}
