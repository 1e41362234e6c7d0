//! A log in the testkit's sealed local store, and ways to read and rewrite
//! a log's stored segments as plaintext, the way someone holding the master key
//! could.

use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use hardshell_audit::event::{HttpMethod, RequestAllowed, RequestId, Route, SecretStored};
use hardshell_audit::{AuditEvent, AuditLog, AuditOptions, LogId, VerifyReport};
use hardshell_auth::Method;
use hardshell_secrets::SecretName;
use hardshell_storage::{ObjectKey, Scope};
use hardshell_testkit::TestStore;
use sha2::{Digest, Sha256};

pub struct TestLog {
    pub scope: Scope,
    pub log_id: LogId,
    pub objects: PathBuf,
    store: TestStore,
}

impl TestLog {
    pub async fn new() -> Self {
        Self::in_store(TestStore::new().await)
    }

    /// A log whose store lies under `base`.
    pub async fn on(base: &std::path::Path) -> Self {
        Self::in_store(TestStore::on(base).await)
    }

    fn in_store(store: TestStore) -> Self {
        Self {
            scope: store.scope("audit"),
            log_id: LogId::new("edge").unwrap(),
            objects: store.objects().to_owned(),
            store,
        }
    }

    /// The same store opened again, as a second process would.
    pub async fn reopen_scope(&self) -> Scope {
        self.store
            .reopen()
            .await
            .root()
            .scope(&key("audit"))
            .unwrap()
    }

    pub async fn open(&self, options: AuditOptions) -> AuditLog {
        AuditLog::open(&self.scope, &self.log_id, options)
            .await
            .unwrap()
    }

    pub async fn verify(&self) -> VerifyReport {
        hardshell_audit::verify(&self.scope, &self.log_id)
            .await
            .unwrap()
    }

    /// Writes `count` request records in segments of three, then shuts down.
    pub async fn written(count: u64) -> Self {
        let test = Self::new().await;
        let log = test.open(small_segments(3)).await;
        for n in 1..=count {
            log.record(request(n)).unwrap();
        }
        log.shutdown().await.unwrap();
        test
    }

    pub async fn lines(&self, object: &str) -> Vec<String> {
        let stored = self.scope.get(&key(object)).await.unwrap().unwrap();
        String::from_utf8(stored.value.to_vec())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub async fn rewrite(&self, object: &str, edit: impl FnOnce(&mut Vec<String>)) {
        let mut lines = self.lines(object).await;
        edit(&mut lines);
        let mut text = lines.join("\n");
        text.push('\n');
        self.scope.put(&key(object), text.as_bytes()).await.unwrap();
    }

    /// Where the sealed object lies on disk.
    pub fn raw_path(&self, object: &str) -> PathBuf {
        self.objects.join("audit").join(object)
    }
}

/// Flushes only when asked (the background flush is an hour away).
pub fn manual_flush() -> AuditOptions {
    AuditOptions {
        flush_interval: Duration::from_secs(3600),
        ..AuditOptions::default()
    }
}

pub fn small_segments(records: u64) -> AuditOptions {
    AuditOptions {
        max_segment_records: NonZeroU64::new(records).unwrap(),
        ..manual_flush()
    }
}

pub fn backlog_of(records: usize) -> AuditOptions {
    AuditOptions {
        max_backlog: NonZeroUsize::new(records).unwrap(),
        ..manual_flush()
    }
}

pub fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}

pub fn segment(first_seq: u64) -> String {
    format!("edge/segments/{first_seq:020}")
}

pub fn request(n: u64) -> AuditEvent {
    AuditEvent::RequestAllowed(RequestAllowed {
        request_id: RequestId::new(&format!("req-{n}")).unwrap(),
        client: "198.51.100.7".parse().unwrap(),
        method: HttpMethod::new("POST").unwrap(),
        route: Some(Route::new("/v1/chat/completions").unwrap()),
        subject: Some("owner".to_owned()),
        auth_method: Some(Method::Passkey),
    })
}

pub fn secret_stored() -> AuditEvent {
    AuditEvent::SecretStored(SecretStored {
        name: SecretName::parse("ANTHROPIC_API_KEY").unwrap(),
        replaced: false,
        actor: Some("owner".to_owned()),
    })
}

/// Re-hashes a stored line after editing it, as a careful forger would.
pub fn rehash(line: &str) -> String {
    let at = line.rfind(",\"hash\":\"").unwrap();
    let body = format!("{}}}", &line[..at]);
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    format!("{},\"hash\":\"{hash}\"}}", &line[..at])
}

pub fn seqs(records: &[hardshell_audit::Record]) -> Vec<u64> {
    records.iter().map(hardshell_audit::Record::seq).collect()
}
