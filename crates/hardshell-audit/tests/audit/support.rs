//! A sealed local store in a temporary directory, and ways to read and rewrite
//! a log's stored segments as plaintext, the way someone holding the master key
//! could.

use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use hardshell_audit::event::{HttpMethod, RequestAllowed, RequestId, Route, SecretStored};
use hardshell_audit::{AuditEvent, AuditLog, AuditOptions, LogId, VerifyReport};
use hardshell_auth::Method;
use hardshell_secrets::SecretName;
use hardshell_storage::{LocalOptions, Location, MasterKey, ObjectKey, Scope, Sealing, Store};
use sha2::{Digest, Sha256};

pub struct TestLog {
    pub scope: Scope,
    pub log_id: LogId,
    pub objects: PathBuf,
    location: Location,
    master: MasterKey,
    _dir: tempfile::TempDir,
}

impl TestLog {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_owned();
        Self::in_dir(&base, dir).await
    }

    /// A log whose store lies under `base`.
    pub async fn in_dir(base: &std::path::Path, dir: tempfile::TempDir) -> Self {
        let options = LocalOptions {
            objects: base.join("objects"),
            locks: base.join("locks"),
        };
        let location = Location::Local(options.clone());
        let master = MasterKey::generate().unwrap();
        let store = Store::open(&location, Sealing::Envelope(master.clone()))
            .await
            .unwrap();
        let scope = store.root().scope(&key("audit")).unwrap();
        Self {
            scope,
            log_id: LogId::new("edge").unwrap(),
            objects: options.objects,
            location,
            master,
            _dir: dir,
        }
    }

    /// The same store opened again, as a second process would.
    pub async fn reopen_scope(&self) -> Scope {
        let store = Store::open(&self.location, Sealing::Envelope(self.master.clone()))
            .await
            .unwrap();
        store.root().scope(&key("audit")).unwrap()
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

/// A tmpfs of `size_mb` MiB, mounted for one test (root only): a disk that
/// can be filled without filling the machine's.
pub struct SmallDisk {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn new(size_mb: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let mounted = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_mb}m,mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .status()
            .unwrap();
        assert!(mounted.success(), "mounting a tmpfs needs root");
        Self { path, _dir: dir }
    }

    /// Writes a filler file until the disk refuses more.
    pub fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.path.join("filler")).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match filler.write_all(&chunk) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
    }

    pub fn free(&self) {
        std::fs::remove_file(self.path.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}
