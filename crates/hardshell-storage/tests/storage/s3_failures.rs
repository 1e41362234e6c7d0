//! How the S3 backend fails: each operator mistake gets its own clear error, a
//! transient fault is retried, and no credential leaks into an error message.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hardshell_storage::{
    Location, MasterKey, RetryOptions, S3Credentials, Sealing, StorageError, Store,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zeroize::Zeroizing;

use crate::support::{Backend, key, s3_options, unique_prefix};

fn sealing() -> Sealing {
    Sealing::Envelope(MasterKey::generate().unwrap())
}

#[tokio::test]
async fn bad_credentials_are_access_denied_without_echoing_the_secret() {
    let mut options = s3_options(Backend::SeaweedFs, &unique_prefix());
    options.credentials = S3Credentials {
        access_key_id: Zeroizing::new(options.credentials.access_key_id.to_string()),
        secret_access_key: Zeroizing::new("wrong-secret-do-not-print".into()),
    };
    let err = Store::open(&Location::S3(options), sealing())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::AccessDenied { .. }), "{err}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert!(!text.contains("wrong-secret-do-not-print"), "{text}");
}

#[tokio::test]
async fn unknown_access_key_is_access_denied() {
    let mut options = s3_options(Backend::SeaweedFs, &unique_prefix());
    options.credentials.access_key_id = Zeroizing::new("nobody".into());
    let err = Store::open(&Location::S3(options), sealing())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::AccessDenied { .. }), "{err}");
}

#[tokio::test]
async fn missing_bucket_is_named_on_seaweedfs() {
    let mut options = s3_options(Backend::SeaweedFs, &unique_prefix());
    options.bucket = "hardshell-no-such-bucket".into();
    let err = Store::open(&Location::S3(options), sealing())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StorageError::BucketNotFound { bucket, .. } if bucket == "hardshell-no-such-bucket"),
        "{err}"
    );
}

#[tokio::test]
async fn missing_bucket_is_named_on_moto() {
    let mut options = s3_options(Backend::Moto, &unique_prefix());
    options.bucket = "hardshell-no-such-bucket".into();
    let err = Store::open(&Location::S3(options), sealing())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::BucketNotFound { .. }), "{err}");
}

#[tokio::test]
async fn unreachable_endpoint_fails_after_bounded_retries() {
    // A port that was free a moment ago: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut options = s3_options(Backend::Moto, &unique_prefix());
    options.endpoint = Some(format!("http://127.0.0.1:{port}"));
    options.retry = RetryOptions {
        max_retries: 2,
        timeout: Duration::from_secs(3),
        ..RetryOptions::default()
    };
    let started = std::time::Instant::now();
    let err = Store::open(&Location::S3(options), sealing())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Unreachable { .. }), "{err}");
    assert!(err.is_transient());
    // Bounded by the retry settings, not hanging (generous: this is not a timing test).
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// A loopback TCP relay in front of SeaweedFS that answers `503 Slow Down` to the
/// next `n` connections after [`FaultProxy::fail_next`], and relays the rest.
/// `fail_next` also cuts every relayed connection, so the client's pooled
/// keep-alive connection cannot slip past the fault.
struct FaultProxy {
    endpoint: String,
    fail_next: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl FaultProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let upstream_addr = upstream.trim_start_matches("http://").to_owned();
        let fail_next = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let (fail, count, cuts) = (fail_next.clone(), failed.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let should_fail = fail
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let (upstream_addr, count, mut cut_rx) =
                    (upstream_addr.clone(), count.clone(), cuts.subscribe());
                tokio::spawn(async move {
                    if should_fail {
                        let mut head = [0u8; 4096];
                        let _ = client.read(&mut head).await;
                        let body = "<Error><Code>SlowDown</Code></Error>";
                        let response = format!(
                            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = client.write_all(response.as_bytes()).await;
                        let _ = client.shutdown().await;
                        count.fetch_add(1, Ordering::SeqCst);
                    } else if let Ok(mut server) = TcpStream::connect(&upstream_addr).await {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut_rx.changed() => {}
                        }
                    }
                });
            }
        });
        Self {
            endpoint,
            fail_next,
            failed,
            cut,
        }
    }

    /// Fails the next `n` connections and cuts the open ones.
    async fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
        // Let the client see its pooled connection close before the next request.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn transient_503s_are_retried_with_backoff() {
    let proxy = FaultProxy::start(crate::support::s3_endpoint(Backend::SeaweedFs)).await;
    let mut options = s3_options(Backend::SeaweedFs, &unique_prefix());
    options.endpoint = Some(proxy.endpoint.clone());
    let store = Store::open(&Location::S3(options), sealing())
        .await
        .unwrap();

    proxy.fail_next(2).await;
    store
        .root()
        .put(&key("k"), b"after two 503s")
        .await
        .unwrap();
    assert_eq!(
        proxy.failed.load(Ordering::SeqCst),
        2,
        "the 503s were not seen"
    );
    let got = store.root().get(&key("k")).await.unwrap().unwrap();
    assert_eq!(got.value.as_slice(), b"after two 503s");
}

#[tokio::test]
async fn persistent_503s_give_up_as_a_transient_error_and_write_nothing() {
    let proxy = FaultProxy::start(crate::support::s3_endpoint(Backend::SeaweedFs)).await;
    let mut options = s3_options(Backend::SeaweedFs, &unique_prefix());
    options.endpoint = Some(proxy.endpoint.clone());
    let store = Store::open(&Location::S3(options), sealing())
        .await
        .unwrap();

    proxy.fail_next(usize::MAX / 2).await;
    let err = store
        .root()
        .put(&key("k"), b"never stored")
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    // max_retries = 3 in the test options: one attempt plus three retries.
    assert_eq!(proxy.failed.load(Ordering::SeqCst), 4);
    proxy.fail_next(0).await;
    assert!(store.root().get(&key("k")).await.unwrap().is_none());
}
