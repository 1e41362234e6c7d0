//! The leak scan kept current. `hardshell secret set` is another process
//! writing the store while the edge runs; a scanner built once at start
//! would never look for what it stores. A [`LiveScanner`] asks its
//! [`SecretSource`] for a cheap fingerprint of the store (a listing) at
//! most once per interval, and when it changed, rebuilds the scanner from
//! the stored values (plus the fixed ones: keys and credentials from the
//! config) and swaps it in whole; a request or a command's output is
//! scanned with the scanner current when it is checked.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use super::{LeakScanner, NamedSecret};

/// How often the store is checked for changes in production.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long one read of the [`SecretSource`] may take before the check is
/// given up (and the last scanner used): requests wait on it.
pub const SOURCE_TIMEOUT: Duration = Duration::from_secs(2);

/// One read of the source, bounded by [`SOURCE_TIMEOUT`].
async fn read<T>(pending: BoxFuture<'_, Result<T, SourceError>>) -> Result<T, SourceError> {
    match tokio::time::timeout(SOURCE_TIMEOUT, pending).await {
        Ok(read) => read,
        Err(_) => Err("no answer within the time allowed".into()),
    }
}

/// Secrets by name, with their values.
pub type NamedValues = Vec<NamedSecret>;

/// Why a [`SecretSource`] could not be read: the source's own error, boxed,
/// so a source of any kind fits behind one `dyn SecretSource`. The scanner
/// keeps its last state on one and asks again at the next check.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// Where secrets stored while the edge runs are read from.
pub trait SecretSource: Send + Sync + 'static {
    /// Changes whenever a stored value may have (names, sizes, times).
    fn fingerprint(&self) -> BoxFuture<'_, Result<String, SourceError>>;
    /// Every stored secret, name and value.
    fn values(&self) -> BoxFuture<'_, Result<NamedValues, SourceError>>;
}

/// A [`LeakScanner`] that follows a [`SecretSource`].
pub struct LiveScanner {
    current: RwLock<Arc<LeakScanner>>,
    watch: Option<Watch>,
}

struct Watch {
    source: Arc<dyn SecretSource>,
    /// Values not in the store (providers' keys, the config's credentials).
    fixed: Vec<NamedSecret>,
    every: Duration,
    /// When the store was last checked, and what it looked like then;
    /// held while a check runs, so one check runs at a time.
    checked: tokio::sync::Mutex<(Option<Instant>, Option<String>)>,
}

impl std::fmt::Debug for LiveScanner {
    /// Names only, through the current scanner's `Debug`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveScanner")
            .field("current", &self.snapshot())
            .field("watching", &self.watch.is_some())
            .finish()
    }
}

impl LiveScanner {
    /// A scanner that never changes.
    pub fn fixed(scanner: LeakScanner) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(Arc::new(scanner)),
            watch: None,
        })
    }

    /// A scanner for `fixed` and what `source` holds, checked for changes
    /// at most once per `every` (the first check loads the store).
    pub fn watching(
        source: Arc<dyn SecretSource>,
        fixed: Vec<NamedSecret>,
        every: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(Arc::new(LeakScanner::new(&fixed))),
            watch: Some(Watch {
                source,
                fixed,
                every,
                checked: tokio::sync::Mutex::new((None, None)),
            }),
        })
    }

    /// The scanner to use now: rebuilt first if the store changed since
    /// the last check (and that is at least the interval ago). One check
    /// runs at a time, and a request that finds one running uses the
    /// current scanner rather than wait for the store; a check is given up
    /// after [`SOURCE_TIMEOUT`]. A store that cannot be read keeps the last
    /// scanner, says so in the log (at most once per interval), and is asked
    /// again next time.
    pub async fn current(&self) -> Arc<LeakScanner> {
        let Some(watch) = &self.watch else {
            return self.snapshot();
        };
        let Ok(mut checked) = watch.checked.try_lock() else {
            return self.snapshot();
        };
        if checked.0.is_some_and(|at| at.elapsed() < watch.every) {
            return self.snapshot();
        }
        checked.0 = Some(Instant::now());
        let fingerprint = match read(watch.source.fingerprint()).await {
            Ok(fingerprint) => fingerprint,
            Err(e) => return self.kept(&e),
        };
        if checked.1.as_ref() == Some(&fingerprint) {
            return self.snapshot();
        }
        let mut values = match read(watch.source.values()).await {
            Ok(values) => values,
            Err(e) => return self.kept(&e),
        };
        values.extend(watch.fixed.iter().cloned());
        let rebuilt = Arc::new(LeakScanner::new(&values));
        // Wiped now: the scanner holds what it needs.
        drop(values);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = rebuilt.clone();
        checked.1 = Some(fingerprint);
        rebuilt
    }

    /// The last scanner, kept because the store could not be read. The
    /// error is the source's (a storage error: names, never values).
    fn kept(&self, error: &SourceError) -> Arc<LeakScanner> {
        tracing::warn!(
            error = %error,
            "the secret store could not be read for the leak scan; scanning with what was last read"
        );
        self.snapshot()
    }

    fn snapshot(&self) -> Arc<LeakScanner> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Mutex;

    use super::*;

    /// A store in memory; its fingerprint is the count of writes.
    #[derive(Default)]
    struct Memory(Mutex<(u64, NamedValues)>);

    impl SecretSource for Memory {
        fn fingerprint(&self) -> BoxFuture<'_, Result<String, SourceError>> {
            let writes = self.0.lock().unwrap().0;
            Box::pin(async move { Ok(writes.to_string()) })
        }
        fn values(&self) -> BoxFuture<'_, Result<NamedValues, SourceError>> {
            let values = self.0.lock().unwrap().1.clone();
            Box::pin(async move { Ok(values) })
        }
    }

    #[tokio::test]
    async fn a_secret_stored_later_is_scanned_for_from_the_next_check() {
        let store = Arc::new(Memory::default());
        let fixed = vec![NamedSecret::new("LLM_KEY", b"sk-fixed-0123456789".to_vec())];
        let live = LiveScanner::watching(store.clone(), fixed, Duration::ZERO);
        assert!(live.current().await.find(b"sk-fixed-0123456789").is_some());
        assert!(live.current().await.find(b"later-stored-value").is_none());
        {
            let mut held = store.0.lock().unwrap();
            held.0 += 1;
            held.1
                .push(NamedSecret::new("LATER", b"later-stored-value".to_vec()));
        }
        let scanner = live.current().await;
        assert_eq!(scanner.find(b"x later-stored-value").unwrap().name, "LATER");
        // The fixed values stay.
        assert!(scanner.find(b"sk-fixed-0123456789").is_some());
        assert!(!format!("{live:?}").contains("later-stored"));
    }

    /// A store that never answers.
    struct Hung;

    impl SecretSource for Hung {
        fn fingerprint(&self) -> BoxFuture<'_, Result<String, SourceError>> {
            Box::pin(futures::future::pending())
        }
        fn values(&self) -> BoxFuture<'_, Result<NamedValues, SourceError>> {
            Box::pin(futures::future::pending())
        }
    }

    #[tokio::test]
    async fn a_store_that_never_answers_holds_up_no_request_for_long() {
        let fixed = vec![NamedSecret::new("LLM_KEY", b"sk-fixed-0123456789".to_vec())];
        let live = LiveScanner::watching(Arc::new(Hung), fixed, Duration::ZERO);
        // The request that checks gives up after the source's timeout...
        let checking = tokio::spawn({
            let live = live.clone();
            async move { live.current().await }
        });
        tokio::task::yield_now().await;
        // ...and one that comes meanwhile does not wait for it at all.
        let meanwhile = tokio::time::timeout(Duration::from_millis(500), live.current())
            .await
            .expect("a request waited on a hung store");
        assert!(meanwhile.find(b"sk-fixed-0123456789").is_some());
        let checked = tokio::time::timeout(SOURCE_TIMEOUT * 2, checking)
            .await
            .expect("the check did not give up")
            .unwrap();
        // The fixed values are still looked for.
        assert!(checked.find(b"sk-fixed-0123456789").is_some());
    }

    #[tokio::test]
    async fn within_the_interval_the_store_is_not_asked_again() {
        let store = Arc::new(Memory::default());
        let live = LiveScanner::watching(store.clone(), Vec::new(), Duration::from_secs(3600));
        live.current().await;
        {
            let mut held = store.0.lock().unwrap();
            held.0 += 1;
            held.1
                .push(NamedSecret::new("LATER", b"later-stored-value".to_vec()));
        }
        assert!(live.current().await.find(b"later-stored-value").is_none());
    }
}
