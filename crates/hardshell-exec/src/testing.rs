//! The decisions' test harness: an [`ExecService`] over a shell that records
//! what it was asked to run, writing to a real audit log in a store of its
//! own. For this crate's tests and, with the `test-support` feature, the
//! edge's tests of what its routes make of exec's events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use hardshell_audit::{AuditLog, AuditOptions, LogId, Tail};
use hardshell_broker::secrets::{LeakScanner, LiveScanner};
use hardshell_config::{Approval, Exec as ExecConfig};
use hardshell_protocol::{ExecAnswer, ExecEnd, ExecReport, ExecRequest};
use hardshell_storage::{LocalOptions, Location, MasterKey, ObjectKey, Scope, Sealing, Store};

use crate::files::{Deposit, FileError, Take, TakenFile, numbered, safe_file_name};
use crate::{ExecService, ShellRun, ToolShell, ToolShellError};

/// A session id as the edge makes them.
pub const SESSION: &str = "web-0a1b2c3d-00112233445566778899aabb";

/// A tool shell that runs nothing: it records each run and reports what it
/// is told to.
#[derive(Debug, Default)]
pub struct RecordingShell {
    pub runs: Mutex<Vec<ShellRun>>,
    /// Every run reports a fork refused at the process limit.
    pub pids_limit_hit: std::sync::atomic::AtomicBool,
    /// What every run prints: stdout and stderr; `ran\n` and nothing if unset.
    pub prints: Mutex<Option<(String, String)>>,
    /// Each session's workspace files, by path under `/workspace/`: what
    /// deposits wrote and what `take` reads. Paths are looked up as given;
    /// what a real workspace refuses (symlinks, `..`) is the real shell's,
    /// tested in `hardshell-shells`.
    pub files: Mutex<std::collections::BTreeMap<(String, String), bytes::Bytes>>,
}

impl ToolShell for Arc<RecordingShell> {
    fn deposit(&self, file: Deposit) -> BoxFuture<'static, Result<String, FileError>> {
        let mut files = self.files.lock().unwrap();
        let mut name = file.name.clone();
        for n in 2.. {
            let key = (file.session.clone(), format!("inbox/{name}"));
            if let std::collections::btree_map::Entry::Vacant(free) = files.entry(key) {
                free.insert(file.bytes.clone());
                break;
            }
            name = numbered(&file.name, &format!("-{n}"));
        }
        Box::pin(async move { Ok(name) })
    }

    fn take(&self, file: Take) -> BoxFuture<'static, Result<TakenFile, FileError>> {
        let found = file.path.strip_prefix("/workspace/").and_then(|rest| {
            let files = self.files.lock().unwrap();
            files.get(&(file.session.clone(), rest.to_owned())).cloned()
        });
        Box::pin(async move {
            let bytes = found.ok_or_else(|| FileError::NotFound {
                path: file.path.clone(),
            })?;
            let (size, max) = (bytes.len() as u64, file.max_bytes);
            if size > max {
                return Err(FileError::TooLarge { size, max });
            }
            Ok(TakenFile {
                name: safe_file_name(&file.path),
                bytes,
            })
        })
    }

    fn run(&self, run: ShellRun) -> BoxFuture<'static, Result<ExecReport, ToolShellError>> {
        self.runs.lock().unwrap().push(run);
        let pids_limit_hit = self
            .pids_limit_hit
            .load(std::sync::atomic::Ordering::Relaxed);
        let (stdout, stderr) = self
            .prints
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| ("ran\n".into(), String::new()));
        Box::pin(async move {
            Ok(ExecReport {
                exit_code: Some(if pids_limit_hit { 254 } else { 0 }),
                ended: if pids_limit_hit {
                    ExecEnd::Pids
                } else {
                    ExecEnd::Exited
                },
                pids_limit_hit,
                stdout,
                stderr,
                truncated: false,
                duration_ms: 3,
            })
        })
    }
}

impl RecordingShell {
    /// The commands it was asked to run, in order.
    pub fn ran(&self) -> Vec<String> {
        let runs = self.runs.lock().unwrap();
        runs.iter().map(|run| run.command.clone()).collect()
    }

    /// Puts `bytes` at `path` (under `/workspace/`) of `session`'s workspace.
    pub fn put(&self, session: &str, path: &str, bytes: &[u8]) {
        self.files.lock().unwrap().insert(
            (session.to_owned(), path.to_owned()),
            bytes::Bytes::copy_from_slice(bytes),
        );
    }
}

/// An exec service over a recording shell of its own, recording in `audit`
/// (an edge's log), with the defaults but for `approval`: for tests of the
/// edge's routes, which own the service once built.
pub fn service_over(
    audit: Arc<AuditLog>,
    approval: Approval,
) -> (ExecService, Arc<RecordingShell>) {
    let shell = Arc::new(RecordingShell::default());
    let config = ExecConfig {
        approval,
        ..ExecConfig::default()
    };
    let scanner = LiveScanner::fixed(LeakScanner::new(&[]));
    let service = ExecService::new(config, Arc::new(shell.clone()), audit, scanner);
    (service, shell)
}

/// An exec service with `ls` and `cat` listed (unless told otherwise), a
/// 2 s approval timeout, and its own store, audit log and recording shell.
pub struct Harness {
    pub service: ExecService,
    pub shell: Arc<RecordingShell>,
    /// The log the service records in; the edge's own records can go there
    /// too.
    pub audit: Arc<AuditLog>,
    scope: Scope,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Harness {
    pub async fn new(approval: Approval) -> Self {
        Self::allowing(approval, &["ls", "cat"]).await
    }

    pub async fn allowing(approval: Approval, allow: &[&str]) -> Self {
        Self::build(approval, allow, LiveScanner::fixed(LeakScanner::new(&[]))).await
    }

    /// With `scanner` as the output's redaction.
    pub async fn redacting(approval: Approval, scanner: Arc<LiveScanner>) -> Self {
        Self::build(approval, &["ls", "cat"], scanner).await
    }

    /// Over `shell` (a real one, in the crate that has them) instead of a
    /// recording shell; [`Harness::shell`] then records nothing.
    pub async fn over(approval: Approval, allow: &[&str], shell: Arc<dyn ToolShell>) -> Self {
        let scanner = LiveScanner::fixed(LeakScanner::new(&[]));
        Self::build_over(approval, allow, scanner, Some(shell)).await
    }

    async fn build(approval: Approval, allow: &[&str], scanner: Arc<LiveScanner>) -> Self {
        Self::build_over(approval, allow, scanner, None).await
    }

    async fn build_over(
        approval: Approval,
        allow: &[&str],
        scanner: Arc<LiveScanner>,
        over: Option<Arc<dyn ToolShell>>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &Location::Local(LocalOptions {
                objects: dir.path().join("objects"),
                locks: dir.path().join("locks"),
            }),
            Sealing::Envelope(MasterKey::generate().unwrap()),
        )
        .await
        .unwrap();
        let scope = store
            .root()
            .scope(&ObjectKey::parse("audit").unwrap())
            .unwrap();
        let audit = Arc::new(
            AuditLog::open(&scope, &log_id(), AuditOptions::default())
                .await
                .unwrap(),
        );
        let shell = Arc::new(RecordingShell::default());
        let config = ExecConfig {
            approval,
            allow: allow.iter().map(|program| (*program).to_owned()).collect(),
            approval_timeout_secs: 2,
            ..ExecConfig::default()
        };
        let runs_in: Arc<dyn ToolShell> = over.unwrap_or_else(|| Arc::new(shell.clone()));
        Self {
            service: ExecService::new(config, runs_in, audit.clone(), scanner),
            shell,
            audit,
            scope,
            _dir: dir,
        }
    }

    pub async fn request(&self, session: &str, command: &str) -> ExecAnswer {
        let request = ExecRequest {
            session: session.into(),
            command: command.into(),
        };
        self.service.request(request).await
    }

    /// The commands the shell was asked to run, in order.
    pub fn ran(&self) -> Vec<String> {
        self.shell.ran()
    }

    /// The exec records written so far, as JSON.
    pub async fn exec_records(&self) -> Vec<serde_json::Value> {
        self.records()
            .await
            .into_iter()
            .filter(|record| {
                matches!(
                    record["type"].as_str(),
                    Some("exec_decided" | "exec_finished")
                )
            })
            .collect()
    }

    /// Every record written so far, as JSON.
    pub async fn records(&self) -> Vec<serde_json::Value> {
        self.audit.flush().await.unwrap();
        let mut tail = Tail::new(&self.scope, &log_id(), 1).unwrap();
        tail.read()
            .await
            .unwrap()
            .iter()
            .map(|record| serde_json::to_value(record.event()).unwrap())
            .collect()
    }
}

fn log_id() -> LogId {
    LogId::new("exec-test").unwrap()
}

/// The question's id, from an answer that must be one.
pub fn pending(answer: ExecAnswer) -> String {
    match answer {
        ExecAnswer::Pending { approval } => approval,
        other => panic!("expected a question, got {other:?}"),
    }
}
