//! Files into and out of a workspace, against real volumes and real tool
//! shells (root, loop devices, user namespaces): what a run plants in its
//! workspace never turns the edge's write or read against the host.
//!
//! Without the default test harness (see `harness`): this binary is also
//! the launcher's program, as the shipped binary is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hardshell_exec::files::{Deposit, FileError, Take};
use hardshell_exec::{ShellRun, ToolShell};
use hardshell_sandbox::volume::Volumes;
use hardshell_shells::SandboxShell;

const SESSION: &str = "web-0a1b2c3d-00112233445566778899aabb";

mod harness;

/// Each test function by its name, given a fresh [`Fixture`].
macro_rules! tests {
    ($($test:ident),* $(,)?) => {
        [$((stringify!($test), (|| Box::pin($test(Fixture::new()))) as harness::Run)),*]
    };
}

fn main() -> ExitCode {
    harness::main(&tests![
        a_deposited_file_is_read_by_a_run_not_executable_and_never_overwritten,
        a_planted_inbox_symlink_or_fifo_is_refused_and_nothing_outside_is_written,
        a_planted_name_in_the_inbox_is_never_followed_or_opened,
        a_deposit_larger_than_the_volume_fails_clearly_and_leaves_nothing,
        a_file_a_run_wrote_is_taken_whole,
        what_is_not_a_regular_file_of_the_workspace_is_refused_with_its_reason,
        through_the_exec_service_a_deposit_stales_a_question_and_a_planted_link_is_not_shared,
    ])
}

/// A tool shell over a fresh volume directory of its own.
struct Fixture {
    shell: SandboxShell,
    volumes: Arc<Volumes>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let (shell, volumes, dir) = harness::tool_shells(2);
        Self {
            shell,
            volumes,
            _dir: dir,
        }
    }

    fn workspace(&self) -> PathBuf {
        self.shell.workspace(SESSION)
    }

    /// Runs `command` in a real tool shell; its standard output.
    async fn run(&self, command: &str) -> String {
        let report = self
            .shell
            .run(ShellRun {
                session: SESSION.into(),
                command: command.into(),
                timeout: Duration::from_secs(30),
                max_output_bytes: 64 * 1024,
                memory_mb: 256,
                max_pids: 64,
            })
            .await
            .unwrap();
        assert!(report.stderr.is_empty(), "{command}: {}", report.stderr);
        report.stdout
    }

    /// Deposits, with a bound on time: nothing planted may block it.
    async fn deposit(&self, name: &str, bytes: &[u8]) -> Result<String, FileError> {
        let deposit = self.shell.deposit(Deposit {
            session: SESSION.into(),
            name: name.into(),
            bytes: Bytes::copy_from_slice(bytes),
        });
        tokio::time::timeout(Duration::from_secs(20), deposit)
            .await
            .expect("a deposit never blocks")
    }

    async fn take(&self, path: &str, max_bytes: u64) -> Result<Bytes, FileError> {
        let take = self.shell.take(Take {
            session: SESSION.into(),
            path: path.into(),
            max_bytes,
        });
        tokio::time::timeout(Duration::from_secs(20), take)
            .await
            .expect("a take never blocks")
            .map(|file| file.bytes)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Before the directory under them goes.
        self.volumes.unmount_all();
    }
}

/// The bytes of a host file, to show it unchanged.
fn host_file(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

async fn a_deposited_file_is_read_by_a_run_not_executable_and_never_overwritten(f: Fixture) {
    let name = f
        .deposit("notes.txt", b"hello from a chat\n")
        .await
        .unwrap();
    assert_eq!(name, "notes.txt");
    let said = f
        .run(
            "cat /workspace/inbox/notes.txt; \
             test -x /workspace/inbox/notes.txt && echo executable || echo not-executable; \
             test -O /workspace/inbox/notes.txt && echo mine; \
             stat -c %a /workspace/inbox /workspace/inbox/notes.txt",
        )
        .await;
    assert_eq!(
        said, "hello from a chat\nnot-executable\nmine\n755\n644\n",
        "the shell's user owns it, and nobody may run it"
    );
    let again = f.deposit("notes.txt", b"second\n").await.unwrap();
    assert_eq!(again, "notes-2.txt");
    let third = f.deposit("notes.txt", b"third\n").await.unwrap();
    assert_eq!(third, "notes-3.txt");
    let said = f
        .run("cat /workspace/inbox/notes.txt /workspace/inbox/notes-2.txt /workspace/inbox/notes-3.txt; rm /workspace/inbox/notes.txt && echo removed")
        .await;
    assert_eq!(said, "hello from a chat\nsecond\nthird\nremoved\n");
}

async fn a_planted_inbox_symlink_or_fifo_is_refused_and_nothing_outside_is_written(f: Fixture) {
    let passwd = host_file(Path::new("/etc/passwd"));
    f.run("ln -s /etc /workspace/inbox").await;
    let error = f
        .deposit("passwd", b"root::0:0::/:/bin/sh\n")
        .await
        .unwrap_err();
    assert!(matches!(error, FileError::InboxNotDirectory), "{error}");
    assert!(error.to_string().contains("not a directory"), "{error}");
    assert!(!Path::new("/etc/passwd-2").exists());
    assert_eq!(host_file(Path::new("/etc/passwd")), passwd);

    // A symlink to a directory inside the workspace is refused too: no
    // symlink is followed at all.
    f.run("rm /workspace/inbox && mkdir /workspace/real && ln -s real /workspace/inbox")
        .await;
    let error = f.deposit("a.txt", b"x").await.unwrap_err();
    assert!(matches!(error, FileError::InboxNotDirectory), "{error}");
    assert_eq!(f.run("ls -A /workspace/real").await, "");

    f.run("rm /workspace/inbox && mkfifo /workspace/inbox")
        .await;
    let error = f.deposit("a.txt", b"x").await.unwrap_err();
    assert!(matches!(error, FileError::InboxNotDirectory), "{error}");

    f.run("rm /workspace/inbox && echo text > /workspace/inbox")
        .await;
    let error = f.deposit("a.txt", b"x").await.unwrap_err();
    assert!(matches!(error, FileError::InboxNotDirectory), "{error}");
    assert_eq!(f.run("cat /workspace/inbox").await, "text\n");
}

async fn a_planted_name_in_the_inbox_is_never_followed_or_opened(f: Fixture) {
    let passwd = host_file(Path::new("/etc/passwd"));
    f.run(
        "mkdir /workspace/inbox && ln -s /etc/passwd /workspace/inbox/passwd \
         && mkfifo /workspace/inbox/pipe && ln -s /nonexistent /workspace/inbox/dangling",
    )
    .await;
    // Each name is taken by what was planted: the deposit gets the next.
    assert_eq!(f.deposit("passwd", b"mine\n").await.unwrap(), "passwd-2");
    assert_eq!(f.deposit("pipe", b"mine\n").await.unwrap(), "pipe-2");
    assert_eq!(
        f.deposit("dangling", b"mine\n").await.unwrap(),
        "dangling-2"
    );
    assert_eq!(host_file(Path::new("/etc/passwd")), passwd);
    assert!(!Path::new("/nonexistent").exists());
    let said = f
        .run("cd /workspace/inbox && cat passwd-2 pipe-2 dangling-2 && readlink passwd dangling && test -p pipe && echo fifo")
        .await;
    assert_eq!(said, "mine\nmine\nmine\n/etc/passwd\n/nonexistent\nfifo\n");
    // And on the host, beside the volume: nothing.
    assert!(!f.workspace().join("../passwd-2").exists());
}

async fn a_deposit_larger_than_the_volume_fails_clearly_and_leaves_nothing(f: Fixture) {
    // The volume is 16 MiB: 20 MiB cannot fit.
    let big = vec![0x5a_u8; 20 << 20];
    let error = f.deposit("big.bin", &big).await.unwrap_err();
    assert!(matches!(error, FileError::WorkspaceFull), "{error}");
    assert!(error.to_string().contains("workspace is full"), "{error}");
    assert!(error.to_string().contains("nothing was kept"), "{error}");
    assert_eq!(f.run("ls -A /workspace/inbox").await, "");
    // The space came back: a file that fits still goes in.
    assert_eq!(f.deposit("small.txt", b"ok\n").await.unwrap(), "small.txt");

    // Out of inodes (the volume has 1024): refused the same way.
    f.run("mkdir /workspace/many && cd /workspace/many && { for i in $(seq 1 1100); do : > f$i || break; done; } 2>/dev/null")
        .await;
    let error = f.deposit("one-more.txt", b"x").await.unwrap_err();
    assert!(matches!(error, FileError::WorkspaceFull), "{error}");
    assert_eq!(f.run("ls /workspace/inbox").await, "small.txt\n");
}

async fn a_file_a_run_wrote_is_taken_whole(f: Fixture) {
    f.run("mkdir -p /workspace/out && printf 'plot data' > '/workspace/out/my plot.png'")
        .await;
    let bytes = f.take("/workspace/out/my plot.png", 1024).await.unwrap();
    assert_eq!(&bytes[..], b"plot data");
    let file = f
        .shell
        .take(Take {
            session: SESSION.into(),
            path: "/workspace/./out/my plot.png".into(),
            max_bytes: 9,
        })
        .await
        .unwrap();
    assert_eq!(file.name, "my_plot.png", "its name is cleaned");
    assert_eq!(file.bytes.len(), 9, "exactly the bound is taken");
}

async fn what_is_not_a_regular_file_of_the_workspace_is_refused_with_its_reason(f: Fixture) {
    f.run(
        "mkdir /workspace/dir && ln -s /etc/passwd /workspace/pw && ln -s /etc /workspace/etc \
         && ln -s dir /workspace/inner && echo hi > /workspace/dir/f \
         && mkfifo /workspace/pipe && head -c 2048 /dev/zero > /workspace/big",
    )
    .await;
    let refused = |result: Result<Bytes, FileError>| result.unwrap_err();
    let error = refused(f.take("/workspace/../etc/passwd", 1 << 20).await);
    assert!(
        matches!(error, FileError::LeavesWorkspace { .. }),
        "{error}"
    );
    let error = refused(f.take("/etc/passwd", 1 << 20).await);
    assert!(
        matches!(error, FileError::OutsideWorkspace { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("under /workspace/"), "{error}");
    for symlinked in [
        "/workspace/pw",
        "/workspace/etc/passwd",
        "/workspace/inner/f",
    ] {
        let error = refused(f.take(symlinked, 1 << 20).await);
        assert!(
            matches!(error, FileError::Symlink { .. }),
            "{symlinked}: {error}"
        );
    }
    let error = refused(f.take("/workspace/dir", 1 << 20).await);
    assert!(matches!(error, FileError::NotAFile { .. }), "{error}");
    let error = refused(f.take("/workspace/pipe", 1 << 20).await);
    assert!(
        matches!(error, FileError::NotAFile { .. }),
        "a FIFO: {error}"
    );
    let error = refused(f.take("/workspace/missing", 1 << 20).await);
    assert!(matches!(error, FileError::NotFound { .. }), "{error}");
    let error = refused(f.take("/workspace/big", 2047).await);
    assert!(
        matches!(
            error,
            FileError::TooLarge {
                size: 2048,
                max: 2047
            }
        ),
        "{error}"
    );
    // What the links point at is there, and taken by its own path.
    assert_eq!(
        &f.take("/workspace/dir/f", 1 << 20).await.unwrap()[..],
        b"hi\n"
    );
    assert_eq!(f.take("/workspace/big", 2048).await.unwrap().len(), 2048);
}

async fn through_the_exec_service_a_deposit_stales_a_question_and_a_planted_link_is_not_shared(
    f: Fixture,
) {
    use hardshell_exec::testing::{Harness, pending};
    use hardshell_protocol::ExecAnswer;
    let harness = Harness::over(
        hardshell_config::Approval::Ask,
        &["cat", "ln"],
        Arc::new(f.shell.clone()),
    )
    .await;
    let ran = |answer: ExecAnswer| match answer {
        ExecAnswer::Ran { report } => report.stdout,
        other => panic!("did not run: {other:?}"),
    };
    // The volume is made before the question, so its 2 s are the owner's.
    ran(harness.request(SESSION, "cat /dev/null").await);
    let asked = pending(
        harness
            .request(SESSION, "bash /workspace/inbox/run.sh")
            .await,
    );
    let name = harness
        .service
        .deposit(SESSION, "run.sh", Bytes::from_static(b"id\n"))
        .await
        .unwrap();
    assert_eq!(name, "run.sh");
    harness
        .service
        .answer(SESSION, &asked, true, "owner")
        .unwrap();
    let refused = harness.service.wait(&asked).await;
    assert!(
        matches!(&refused, ExecAnswer::Refused { reason } if reason.contains("a file was put in it")),
        "{refused:?}"
    );
    assert_eq!(
        ran(harness
            .request(SESSION, "cat /workspace/inbox/run.sh")
            .await),
        "id\n"
    );

    ran(harness
        .request(SESSION, "ln -s /etc/passwd /workspace/pw")
        .await);
    let error = harness
        .service
        .share(SESSION, "/workspace/pw")
        .await
        .unwrap_err();
    assert!(matches!(error, FileError::Symlink { .. }), "{error}");
    let shared = harness
        .service
        .share(SESSION, "/workspace/inbox/run.sh")
        .await
        .unwrap();
    let (name, bytes) = harness.service.shared_file(SESSION, &shared.id).unwrap();
    assert_eq!((name.as_str(), &bytes[..]), ("run.sh", &b"id\n"[..]));

    let records = harness.records().await;
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        records
            .iter()
            .filter(|record| record["type"] == kind)
            .collect()
    };
    let (deposited, shared) = (of("file_deposited"), of("file_shared"));
    assert_eq!(deposited.len(), 1, "{records:?}");
    assert_eq!(
        shared.len(),
        1,
        "only the regular file was shared: {records:?}"
    );
    // SHA-256 of "id\n", in both: what went in is what came out.
    let digest = "984a644ec3b56d32b0404777e1eb73390c4b0742a6a0e183f07861056b6746de";
    assert_eq!(deposited[0]["sha256"], digest);
    assert_eq!(shared[0]["sha256"], digest);
    assert_eq!(deposited[0]["size"], 3);
}
