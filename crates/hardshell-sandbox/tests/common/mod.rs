//! Shared by the shell tests: a workspace, a policy, and running a command in
//! a real shell with its output captured.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod image;

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

use hardshell_sandbox::{
    ExitReport, Io, Launcher, Limits, Root, Running, ShellError, ShellPolicy, Stdio, spawn,
    spawn_serving,
};

/// A temporary directory holding the shell's workspace.
pub struct Shell {
    pub dir: tempfile::TempDir,
    pub workspace: PathBuf,
}

impl Shell {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("workspace");
        std::fs::create_dir(&workspace).unwrap();
        Self { dir, workspace }
    }
}

pub fn launcher() -> Launcher {
    Launcher {
        program: PathBuf::from(env!("CARGO_BIN_EXE_shell-init")),
        args: Vec::new(),
    }
}

pub fn policy(shell: &Shell) -> ShellPolicy {
    ShellPolicy {
        name: "test".into(),
        workspace: shell.workspace.clone(),
        protected: Vec::new(),
        root: Root::host_system(),
        binds: Vec::new(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        forward: Vec::new(),
        inbound: None,
        cwd: PathBuf::from("/workspace"),
        limits: Limits {
            memory_bytes: 256 << 20,
            max_pids: 64,
            cpu_percent: 100,
            wall_clock: Some(Duration::from_secs(30)),
            tmp_bytes: 16 << 20,
            file_size_bytes: 64 << 20,
            open_files: 256,
        },
    }
}

/// What a finished shell left.
#[derive(Debug)]
pub struct Output {
    pub report: ExitReport,
    pub stdout: String,
    pub stderr: String,
}

/// Collects a pipe's text until every writer is gone.
#[derive(Debug)]
pub struct Captured {
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Captured {
    /// Collects what `stdout` and `stderr` carry.
    pub fn new(stdout: std::io::PipeReader, stderr: std::io::PipeReader) -> Self {
        Self {
            stdout: reader(stdout),
            stderr: reader(stderr),
        }
    }

    pub fn collect(self) -> (String, String) {
        (self.stdout.join().unwrap(), self.stderr.join().unwrap())
    }
}

fn reader(mut pipe: std::io::PipeReader) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Standard streams for a workload: nothing in, its output and errors
/// collected.
pub fn captured_io() -> (Io, Captured) {
    let (out_read, out_write) = std::io::pipe().unwrap();
    let (err_read, err_write) = std::io::pipe().unwrap();
    let io = Io {
        stdin: Stdio::Null,
        stdout: Stdio::Fd(OwnedFd::from(out_write)),
        stderr: Stdio::Fd(OwnedFd::from(err_write)),
    };
    (io, Captured::new(out_read, err_read))
}

pub async fn try_start(
    policy: &ShellPolicy,
    argv: &[&str],
) -> Result<(Running, Captured), ShellError> {
    try_start_with(&launcher(), policy, argv, None).await
}

/// [`start`], the workload given `listener` at descriptor 3.
pub async fn start_serving(
    policy: &ShellPolicy,
    argv: &[&str],
    listener: &std::os::unix::net::UnixListener,
) -> (Running, Captured) {
    try_start_with(&launcher(), policy, argv, Some(listener))
        .await
        .unwrap()
}

pub async fn try_start_with(
    launcher: &Launcher,
    policy: &ShellPolicy,
    argv: &[&str],
    listener: Option<&std::os::unix::net::UnixListener>,
) -> Result<(Running, Captured), ShellError> {
    let (io, captured) = captured_io();
    let argv: Vec<String> = argv.iter().map(|a| (*a).to_owned()).collect();
    let running = match listener {
        Some(listener) => spawn_serving(launcher, policy, &argv, io, listener).await?,
        None => spawn(launcher, policy, &argv, io).await?,
    };
    Ok((running, captured))
}

pub async fn start(policy: &ShellPolicy, argv: &[&str]) -> (Running, Captured) {
    try_start(policy, argv).await.unwrap()
}

pub async fn run(policy: &ShellPolicy, argv: &[&str]) -> Output {
    run_with(&launcher(), policy, argv).await
}

pub async fn run_with(launcher: &Launcher, policy: &ShellPolicy, argv: &[&str]) -> Output {
    let (running, captured) = try_start_with(launcher, policy, argv, None).await.unwrap();
    let report = running.wait().await.unwrap();
    let (stdout, stderr) = tokio::task::spawn_blocking(|| captured.collect())
        .await
        .unwrap();
    Output {
        report,
        stdout,
        stderr,
    }
}

/// Every process below `pid`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        let tasks = std::fs::read_dir(format!("/proc/{parent}/task"))
            .into_iter()
            .flatten();
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                queue.push(child);
            }
        }
    }
    found
}

pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The shell cgroup directories whose name starts with `name-`.
pub fn cgroups_named(name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for parent in [
        "/sys/fs/cgroup/memory/hardshell",
        "/sys/fs/cgroup/pids/hardshell",
        "/sys/fs/cgroup/cpu/hardshell",
        "/sys/fs/cgroup/hardshell",
    ] {
        for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{name}-"))
            {
                found.push(entry.path());
            }
        }
    }
    found
}

/// Runs `argv` under `policy` in `prepared`, a shell prepared ahead.
pub async fn try_run_in(
    prepared: hardshell_sandbox::Prepared,
    policy: &ShellPolicy,
    argv: &[&str],
) -> Result<Output, ShellError> {
    let (io, captured) = captured_io();
    let argv: Vec<String> = argv.iter().map(|a| (*a).to_owned()).collect();
    let running = prepared.run(policy, &argv, io).await?;
    let report = running.wait().await.unwrap();
    let (stdout, stderr) = tokio::task::spawn_blocking(|| captured.collect())
        .await
        .unwrap();
    Ok(Output {
        report,
        stdout,
        stderr,
    })
}

/// A shell prepared ahead under `template`, then `argv` run in it under
/// `policy`.
pub async fn run_pooled(template: &ShellPolicy, policy: &ShellPolicy, argv: &[&str]) -> Output {
    let prepared = hardshell_sandbox::prepare(&launcher(), template)
        .await
        .unwrap();
    try_run_in(prepared, policy, argv).await.unwrap()
}

/// Whether process `pid` is gone (or a zombie nobody waits for).
pub fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |stat| stat.split_whitespace().nth(2) == Some("Z"))
}

/// Asserts that `status`, output holding `/proc/self/status`, shows every
/// privilege layer on: `no_new_privs`, a seccomp filter, and every
/// capability set empty.
pub fn assert_unprivileged(status: &str) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name}: {status}"))
            .trim()
            .to_owned()
    };
    assert_eq!(field("NoNewPrivs"), "1");
    assert_eq!(field("Seccomp"), "2");
    for caps in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(caps), "0000000000000000", "{caps}");
    }
}
