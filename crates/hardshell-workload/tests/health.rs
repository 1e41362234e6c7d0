//! The health probe and the monitor against a real HTTP server on a unix
//! socket, told what to answer by the test.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use hardshell_workload::{HealthProbe, Monitor, NoAnswer, Probe, Status, Timing};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

/// How the test server behaves: an HTTP status to answer, or one of these.
const SILENT: u16 = 0;
const GARBAGE: u16 = 1;

struct Workload {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    answer: Arc<AtomicU16>,
    seen_host: Arc<std::sync::Mutex<Option<String>>>,
}

impl Workload {
    fn start(answer: u16) -> Workload {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("workload.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let answer = Arc::new(AtomicU16::new(answer));
        let seen_host = Arc::new(std::sync::Mutex::new(None));
        let (serving, seen) = (answer.clone(), seen_host.clone());
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let (serving, seen) = (serving.clone(), seen.clone());
                tokio::spawn(async move {
                    let mut head = vec![0u8; 4096];
                    let n = stream.read(&mut head).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&head[..n]).to_string();
                    let host = head
                        .lines()
                        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned));
                    *seen.lock().unwrap() = host;
                    match serving.load(Ordering::SeqCst) {
                        SILENT => std::future::pending::<()>().await,
                        GARBAGE => {
                            let _ = stream.write_all(b"SSH-2.0-not-http\r\n\r\n").await;
                        }
                        code => {
                            let reply = format!(
                                "HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                            );
                            let _ = stream.write_all(reply.as_bytes()).await;
                        }
                    }
                });
            }
        });
        Workload {
            _dir: dir,
            socket,
            answer,
            seen_host,
        }
    }

    fn answer(&self, code: u16) {
        self.answer.store(code, Ordering::SeqCst);
    }

    fn probe(&self) -> HealthProbe {
        probe_at(&self.socket)
    }
}

fn probe_at(socket: &Path) -> HealthProbe {
    HealthProbe::new(
        socket,
        "/readyz",
        "openclaw.example.test",
        Duration::from_millis(300),
    )
}

fn quick(ready_timeout: Duration) -> Timing {
    Timing {
        starting_every: Duration::from_millis(20),
        ready_every: Duration::from_millis(20),
        ready_timeout,
        unhealthy_after: 3,
    }
}

#[tokio::test]
async fn a_2xx_is_ready_and_anything_else_is_not() {
    let workload = Workload::start(200);
    assert_eq!(workload.probe().probe().await, Probe::Ready);
    assert_eq!(
        workload.seen_host.lock().unwrap().as_deref(),
        Some("openclaw.example.test")
    );
    workload.answer(503);
    assert_eq!(
        workload.probe().probe().await,
        Probe::NotReady(StatusCode::SERVICE_UNAVAILABLE)
    );
    workload.answer(302);
    assert_eq!(
        workload.probe().probe().await,
        Probe::NotReady(StatusCode::FOUND)
    );
}

#[tokio::test]
async fn no_listener_a_silent_workload_and_garbage_are_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        probe_at(&dir.path().join("absent.sock")).probe().await,
        Probe::NoAnswer(NoAnswer::Connection)
    );
    let workload = Workload::start(SILENT);
    assert_eq!(
        workload.probe().probe().await,
        Probe::NoAnswer(NoAnswer::Deadline)
    );
    workload.answer(GARBAGE);
    assert_eq!(
        workload.probe().probe().await,
        Probe::NoAnswer(NoAnswer::Protocol)
    );
}

#[tokio::test]
async fn a_slow_start_is_starting_then_ready_then_unhealthy_then_ready() {
    let workload = Workload::start(503);
    let monitor = Arc::new(Monitor::new(
        workload.probe(),
        quick(Duration::from_secs(600)),
    ));
    let mut status = monitor.status();
    assert!(matches!(*status.borrow(), Status::Starting { .. }));
    let run = tokio::spawn({
        let monitor = monitor.clone();
        async move { monitor.watch_run().await }
    });
    status
        .wait_for(|s| matches!(s, Status::Starting { .. }))
        .await
        .unwrap();
    workload.answer(200);
    status.wait_for(|s| *s == Status::Ready).await.unwrap();
    workload.answer(500);
    let unhealthy = *status
        .wait_for(|s| matches!(s, Status::Unhealthy { .. }))
        .await
        .unwrap();
    assert_eq!(unhealthy, Status::Unhealthy { failures: 3 });
    workload.answer(204);
    status.wait_for(|s| *s == Status::Ready).await.unwrap();
    run.abort();
    monitor.stopped();
    assert_eq!(*status.borrow(), Status::Stopped);
}

#[tokio::test]
async fn a_start_past_its_deadline_is_an_error_until_it_becomes_ready() {
    let workload = Workload::start(503);
    let monitor = Arc::new(Monitor::new(
        workload.probe(),
        quick(Duration::from_millis(200)),
    ));
    let mut status = monitor.status();
    let run = tokio::spawn({
        let monitor = monitor.clone();
        async move { monitor.watch_run().await }
    });
    status
        .wait_for(|s| *s == Status::StartTimedOut)
        .await
        .unwrap();
    assert_eq!(Status::StartTimedOut.word(), "not ready in time");
    workload.answer(200);
    status.wait_for(|s| *s == Status::Ready).await.unwrap();
    run.abort();
}
