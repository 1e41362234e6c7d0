//! Browser shells: each browser session's Chromium in a fresh shell of its
//! own (its policy is [`crate::policy::browser()`]), with a broker listener
//! of its own (counted per session) and its DevTools port reached through a
//! unix socket only the edge can open.
//!
//! On the host, under `<data>/run/browser/` (root's, 0700):
//! `chromium-etc/policies/managed/hardshell.json` (the managed policies,
//! written at start), `empty/` (every browser shell's `/workspace`: root's,
//! 0555, written by nothing), and per session `<session>-<pid>/` holding
//! `devtools.sock` (bound by the edge) and `broker/broker.sock` (given to
//! the shells' id), removed when the session ends.

use std::io::BufRead;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use hardshell_broker::proxy::Broker;
use hardshell_browser::chromium::{self, POLICY_FILE};
use hardshell_browser::{BrowserExit, Launch, LaunchError, RunningBrowser, SessionId};
use hardshell_sandbox::{Ended, Io, Launcher, Running, Stdio};

use crate::listener::RunBroker;
use crate::policy::{self, BrowserShell, PROXY_PORT};

/// Lines of a browser's own output logged per session (at debug): Chromium
/// complains at every start (no D-Bus, no udev), and a hostile one could
/// write without end.
const LOG_LINES: usize = 200;
/// Longest line logged.
const LOG_LINE_BYTES: usize = 1024;

/// What every browser shell is given.
#[derive(Debug, Clone)]
pub struct BrowserLimits {
    pub memory_bytes: u64,
    pub cpu_percent: u32,
    pub tmp_bytes: u64,
}

/// Starts browsers in real shells (see the module).
#[derive(Debug)]
pub struct BrowserShells {
    launcher: Launcher,
    dir: PathBuf,
    chromium: String,
    broker: Arc<Broker>,
    limits: BrowserLimits,
}

impl BrowserShells {
    /// Browser shells running `chromium` (an absolute path on the host, the
    /// same inside), started by `launcher`, reaching out through `broker`,
    /// their files under `dir` (made afresh: whatever a killed edge left
    /// there is removed first).
    pub fn new(
        launcher: Launcher,
        dir: PathBuf,
        chromium: &Path,
        broker: Arc<Broker>,
        limits: BrowserLimits,
    ) -> std::io::Result<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        // Absolute and without symlinks: shells bind exactly these paths.
        let dir = dir.canonicalize()?;
        let policies = dir.join("chromium-etc").join(POLICY_FILE);
        if let Some(parent) = policies.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)?;
        }
        let policy = serde_json::to_vec_pretty(&chromium::managed_policy())
            .map_err(std::io::Error::other)?;
        std::fs::write(&policies, policy)?;
        std::fs::set_permissions(&policies, std::fs::Permissions::from_mode(0o644))?;
        std::fs::DirBuilder::new()
            .mode(0o555)
            .create(dir.join("empty"))?;
        std::fs::set_permissions(dir.join("empty"), std::fs::Permissions::from_mode(0o555))?;
        let chromium = chromium
            .to_str()
            .filter(|path| path.starts_with('/'))
            .ok_or_else(|| std::io::Error::other("the browser's path is not absolute UTF-8"))?
            .to_owned();
        Ok(Self {
            launcher,
            dir,
            chromium,
            broker,
            limits,
        })
    }
}

impl Launch for BrowserShells {
    fn launch(
        &self,
        session: &SessionId,
    ) -> BoxFuture<'static, Result<Box<dyn RunningBrowser>, LaunchError>> {
        let started = self.start(session);
        Box::pin(async move { started?.await })
    }
}

impl BrowserShells {
    /// Everything but the spawn itself, done before the future is returned
    /// (so the future holds no borrow of `self`).
    fn start(
        &self,
        session: &SessionId,
    ) -> Result<
        impl Future<Output = Result<Box<dyn RunningBrowser>, LaunchError>> + use<>,
        LaunchError,
    > {
        let dir = self.dir.join(format!("{session}-{}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(LaunchError::SocketDir)?;
        let files = SessionFiles { dir };
        let broker_dir = files.dir.join("broker");
        let broker = RunBroker::start_in(&broker_dir, self.broker.clone())
            .map_err(LaunchError::BrokerSocket)?;
        let devtools = files.dir.join("devtools.sock");
        let listener = std::os::unix::net::UnixListener::bind(&devtools)
            .map_err(LaunchError::DevtoolsSocket)?;
        let policy = policy::browser(BrowserShell {
            workspace: self.dir.join("empty"),
            broker_dir,
            policy_dir: self.dir.join("chromium-etc"),
            memory_bytes: self.limits.memory_bytes,
            cpu_percent: self.limits.cpu_percent,
            tmp_bytes: self.limits.tmp_bytes,
        });
        let argv = chromium::argv(&self.chromium, PROXY_PORT);
        let launcher = self.launcher.clone();
        let session = session.clone();
        Ok(async move {
            let (output, output_writer) = std::io::pipe().map_err(LaunchError::Pipe)?;
            let writer = OwnedFd::from(output_writer);
            let io = Io {
                stdin: Stdio::Null,
                stdout: Stdio::Fd(writer.try_clone().map_err(LaunchError::Pipe)?),
                stderr: Stdio::Fd(writer),
            };
            let logged = session.clone();
            std::thread::spawn(move || log_output(output, &logged));
            let running =
                hardshell_sandbox::spawn_inbound(&launcher, &policy, &argv, io, &listener)
                    .await
                    .map_err(|e| LaunchError::Start(e.into()))?;
            let browser: Box<dyn RunningBrowser> = Box::new(BrowserShellRun {
                devtools,
                running,
                _listener: listener,
                _broker: broker,
                _files: files,
            });
            Ok(browser)
        })
    }
}

/// A running browser shell and what it holds on the host, all released
/// when it ends.
#[derive(Debug)]
struct BrowserShellRun {
    devtools: PathBuf,
    running: Running,
    _listener: std::os::unix::net::UnixListener,
    _broker: RunBroker,
    _files: SessionFiles,
}

impl RunningBrowser for BrowserShellRun {
    fn devtools(&self) -> &Path {
        &self.devtools
    }

    fn stop(self: Box<Self>) -> BoxFuture<'static, BrowserExit> {
        Box::pin(async move {
            let this = *self;
            this.running.terminate();
            match this.running.wait().await {
                Ok(report) => match report.ended {
                    Ended::Terminated => BrowserExit::Stopped,
                    Ended::OutOfMemory => BrowserExit::OutOfMemory,
                    Ended::Exited | Ended::WallClock => BrowserExit::Exited,
                },
                Err(e) => {
                    tracing::warn!(error = %e, "a browser shell could not be waited for");
                    BrowserExit::Unknown
                }
            }
            // The broker listener and the session's files go here, after
            // the shell's last process.
        })
    }
}

/// A session's directory on the host, removed with the session.
#[derive(Debug)]
struct SessionFiles {
    dir: PathBuf,
}

impl Drop for SessionFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Logs what the browser prints, at debug, escaped and bounded (see
/// [`LOG_LINES`]); reads to the end so the browser never blocks on a full
/// pipe.
fn log_output(output: std::io::PipeReader, session: &SessionId) {
    let mut reader = std::io::BufReader::new(output);
    let mut line = Vec::new();
    let mut logged = 0usize;
    let mut dropped = 0usize;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if logged < LOG_LINES => {
                logged += 1;
                let shown = &line[..line.len().min(LOG_LINE_BYTES)];
                let text = String::from_utf8_lossy(shown);
                tracing::debug!(target: "hardshell::browser", %session, line = %text.trim_end().escape_debug());
            }
            Ok(_) => dropped += 1,
        }
    }
    if dropped > 0 {
        tracing::debug!(target: "hardshell::browser", %session, dropped, "browser output lines not logged");
    }
}
