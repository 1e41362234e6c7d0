//! The exec tool's pool of shells prepared ahead, with real shells (root,
//! loop devices, user namespaces): runs after the first are handed a ready
//! shell and see only their own workspace; a ready shell that died is
//! replaced by a cold start, not a failed run; unused shells end and leave
//! nothing.
//!
//! Without the default test harness (see `harness`): this binary is also
//! the shells' init program.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hardshell_exec::{ShellRun, ToolShell};
use hardshell_sandbox::volume::Volumes;
use hardshell_shells::SandboxShell;

mod harness;

macro_rules! tests {
    ($($test:ident),* $(,)?) => {
        [$((stringify!($test), (|| Box::pin($test())) as harness::Run)),*]
    };
}

fn main() -> ExitCode {
    harness::main(&tests![
        runs_after_the_first_are_handed_a_ready_shell_of_their_own,
        a_ready_shell_that_died_is_replaced_by_a_cold_start,
        unused_shells_end_after_their_idle_time_and_leave_nothing,
    ])
}

/// Tool shells with a pool of two, over volumes of their own.
struct Fixture {
    shell: SandboxShell,
    volumes: Arc<Volumes>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new(idle: Duration) -> Self {
        let (shell, volumes, dir) = harness::tool_shells(4);
        let shell = shell.with_pool(2, idle);
        Self {
            shell,
            volumes,
            _dir: dir,
        }
    }

    async fn run(&self, session: &str, command: &str) -> String {
        let report = self
            .shell
            .run(ShellRun {
                session: session.into(),
                command: command.into(),
                timeout: Duration::from_secs(30),
                max_output_bytes: 64 * 1024,
                memory_mb: 256,
                max_pids: 64,
            })
            .await
            .unwrap();
        assert!(report.stderr.is_empty(), "{command}: {}", report.stderr);
        assert_eq!(report.exit_code, Some(0), "{command}: {report:?}");
        report.stdout
    }

    async fn until_ready(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.shell.pool().ready() != count {
            assert!(
                Instant::now() < deadline,
                "{} ready, not {count}",
                self.shell.pool().ready()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.volumes.unmount_all();
    }
}

const ONE: &str = "web-0a1b2c3d-00112233445566778899aabb";
const TWO: &str = "web-0a1b2c3d-ffeeddccbbaa99887766554f";

/// The init processes of the exec shells now (the pids cgroup of each), but
/// those of `before` (left by anything before the test).
fn exec_shell_inits(before: &[String]) -> Vec<i32> {
    let root = Path::new("/sys/fs/cgroup/pids/hardshell");
    let root = if root.is_dir() {
        root.to_owned()
    } else {
        Path::new("/sys/fs/cgroup/hardshell").to_owned()
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("exec-") && !before.contains(&name) {
            let procs =
                std::fs::read_to_string(entry.path().join("cgroup.procs")).unwrap_or_default();
            // The first is init: it was moved in before it forked anything.
            if let Some(first) = procs.lines().next() {
                found.push(first.parse().unwrap());
            }
        }
    }
    found
}

/// The exec shells' cgroups now, by name (their memory controller's).
fn exec_cgroups() -> Vec<String> {
    [
        "/sys/fs/cgroup/memory/hardshell",
        "/sys/fs/cgroup/hardshell",
    ]
    .iter()
    .flat_map(|root| std::fs::read_dir(root).into_iter().flatten().flatten())
    .map(|entry| entry.file_name().to_string_lossy().into_owned())
    .filter(|name| name.starts_with("exec-"))
    .collect()
}

/// The exec shells' cgroups now that `before` did not have.
fn new_cgroups(before: &[String]) -> usize {
    exec_cgroups()
        .iter()
        .filter(|name| !before.contains(name))
        .count()
}

async fn runs_after_the_first_are_handed_a_ready_shell_of_their_own() {
    let before = exec_cgroups();
    let f = Fixture::new(Duration::from_secs(300));
    assert_eq!(f.shell.pool().ready(), 0, "none before the first run");
    assert_eq!(f.run(ONE, "echo one > mine; ls /workspace").await, "mine\n");
    assert_eq!(f.shell.pool().handed(), 0, "the first run starts cold");
    f.until_ready(2).await;
    // Another session's run, in a prepared shell: its own workspace only.
    assert_eq!(f.run(TWO, "ls /workspace; echo two > theirs").await, "");
    assert_eq!(f.shell.pool().handed(), 1);
    assert_eq!(
        f.run(ONE, "ls /workspace | tr '\\n' ' '; cat mine").await,
        "mine one\n"
    );
    assert_eq!(f.shell.pool().handed(), 2);
    // Every layer is there in a prepared shell, as in a cold one.
    let status = f
        .run(ONE, "id -u; grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status; touch /x 2>/dev/null || echo read-only")
        .await;
    assert_eq!(
        status,
        "1000\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\nread-only\n"
    );
    assert_eq!(f.shell.pool().handed(), 3);
    f.until_ready(2).await;
    f.shell.pool().drain().await;
    assert_eq!(f.shell.pool().ready(), 0);
    assert_eq!(new_cgroups(&before), 0, "drained shells leave no cgroup");
}

async fn a_ready_shell_that_died_is_replaced_by_a_cold_start() {
    let before = exec_cgroups();
    let f = Fixture::new(Duration::from_secs(300));
    f.run(ONE, "true").await;
    f.until_ready(2).await;
    let inits = exec_shell_inits(&before);
    assert_eq!(inits.len(), 2, "{inits:?}");
    for pid in inits {
        // SAFETY-free: a plain kill(2) through the shell's own `kill`.
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
    }
    // Handed a dead shell, the run still runs.
    assert_eq!(f.run(ONE, "echo still").await, "still\n");
    assert_eq!(f.shell.pool().handed(), 1);
    f.shell.pool().drain().await;
}

async fn unused_shells_end_after_their_idle_time_and_leave_nothing() {
    let before = exec_cgroups();
    let f = Fixture::new(Duration::from_secs(1));
    f.run(ONE, "true").await;
    f.until_ready(2).await;
    assert_eq!(new_cgroups(&before), 2);
    f.until_ready(0).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while new_cgroups(&before) != 0 {
        assert!(Instant::now() < deadline, "idle shells left cgroups");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(exec_shell_inits(&before).is_empty());
}
