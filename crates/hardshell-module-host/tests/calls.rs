//! Tool calls of real components built from `guests/`: the allow paths, and
//! beside each the refusal of what a hostile module tries, with its error
//! kind, and a good call right after each bad one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hardshell_module_host::{
    BodyLimits, CallError, GrantError, Grants, HEADER_BYTES, MAX_ANSWER_BYTES, MAX_RESOURCES,
    ModuleHost, NoEgress, PrepareError, Prepared, Workspace,
};

struct Fixture {
    host: ModuleHost,
    echo: Prepared,
    hostile: Prepared,
}

/// One host and one preparation of each guest for all tests: preparing
/// compiles, and warm calls are what the host is built for.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let host = ModuleHost::new(Arc::new(NoEgress), BodyLimits::default())
            .expect("the module host starts");
        let echo = host
            .prepare(&hardshell_testkit::modules::guest("echo"))
            .expect("the echo guest prepares");
        let hostile = host
            .prepare(&hardshell_testkit::modules::guest("hostile"))
            .expect("the hostile guest prepares");
        Fixture {
            host,
            echo,
            hostile,
        }
    })
}

fn grants() -> Grants {
    Grants::compute_only(64, 5_000)
}

async fn echo(tool: &str, arguments: &str) -> Result<String, CallError> {
    let fixture = fixture();
    fixture
        .host
        .call(&fixture.echo, &grants(), tool, arguments)
        .await
}

async fn hostile(grants: &Grants, tool: &str, arguments: &str) -> Result<String, CallError> {
    let fixture = fixture();
    fixture
        .host
        .call(&fixture.hostile, grants, tool, arguments)
        .await
}

/// The host still serves a good call: asserted after every bad one.
async fn assert_host_healthy() {
    let answer = echo("add", r#"{"a": 40, "b": 2}"#).await;
    assert_eq!(answer.ok().as_deref(), Some("42"));
}

#[tokio::test]
async fn echo_answers_its_arguments() {
    let arguments = r#"{"text":"hello"}"#;
    assert_eq!(
        echo("echo", arguments).await.ok().as_deref(),
        Some(arguments)
    );
}

#[tokio::test]
async fn add_computes_from_json_arguments() {
    assert_eq!(
        echo("add", r#"{"a": 2, "b": 3}"#).await.ok().as_deref(),
        Some("5")
    );
}

#[tokio::test]
async fn a_cold_host_prepares_and_calls() {
    let host = ModuleHost::new(Arc::new(NoEgress), BodyLimits::default()).expect("host");
    let prepared = host
        .prepare(&hardshell_testkit::modules::guest("echo"))
        .expect("prepare");
    let answer = host.call(&prepared, &grants(), "echo", "{}").await;
    assert_eq!(answer.ok().as_deref(), Some("{}"));
}

#[tokio::test]
async fn calls_share_no_state() {
    for _ in 0..3 {
        assert_eq!(echo("count", "{}").await.ok().as_deref(), Some("1"));
    }
}

#[tokio::test]
async fn a_tool_error_is_the_modules_own_words() {
    let error = echo("refuse", "{}").await.expect_err("the tool refuses");
    assert!(
        matches!(&error, CallError::Tool { message } if message == "this tool always refuses"),
        "{error:?}"
    );
    assert_host_healthy().await;
}

#[tokio::test]
async fn an_endless_loop_is_stopped_at_its_deadline() {
    let grants = Grants::compute_only(64, 300);
    let started = Instant::now();
    let error = hostile(&grants, "spin", "{}")
        .await
        .expect_err("spin never ends");
    assert!(
        matches!(error, CallError::Timeout { timeout_ms: 300 }),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped after {:?}",
        started.elapsed()
    );
    assert_host_healthy().await;
}

#[tokio::test]
async fn unbounded_allocation_is_stopped_at_the_memory_cap() {
    let grants = Grants::compute_only(32, 10_000);
    let error = hostile(&grants, "grow", "{}")
        .await
        .expect_err("grow never ends");
    assert!(
        matches!(error, CallError::MemoryExceeded { memory_mb: 32 }),
        "{error:?}"
    );
    assert_host_healthy().await;
}

#[tokio::test]
async fn a_trap_is_a_clean_error() {
    let error = hostile(&grants(), "trap", "{}")
        .await
        .expect_err("it traps");
    assert!(matches!(error, CallError::Trap { .. }), "{error:?}");
    assert_host_healthy().await;
}

#[tokio::test]
async fn host_files_do_not_exist_for_a_module() {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("the host has /etc/passwd");
    assert!(passwd.contains("root:"));
    let error = hostile(&grants(), "read_file", r#"{"path":"/etc/passwd"}"#)
        .await
        .expect_err("no file system is granted");
    assert!(matches!(error, CallError::Tool { .. }), "{error:?}");
    assert!(!error.to_string().contains("root:"));
    assert_host_healthy().await;
}

#[tokio::test]
async fn workspace_is_absent_without_a_grant_and_readable_with_one() {
    let workspace = tempfile::tempdir().expect("tempdir");
    std::fs::write(workspace.path().join("x"), "workspace content").expect("write x");
    let arguments = r#"{"path":"/workspace/x"}"#;

    let error = hostile(&grants(), "read_file", arguments)
        .await
        .expect_err("no workspace was granted");
    assert!(matches!(error, CallError::Tool { .. }), "{error:?}");

    let mut granted = grants();
    granted.workspace = Workspace::Read(workspace.path().to_path_buf());
    let answer = hostile(&granted, "read_file", arguments).await;
    assert_eq!(answer.ok().as_deref(), Some("workspace content"));
}

#[tokio::test]
async fn a_read_workspace_cannot_be_written_and_a_write_one_can() {
    let workspace = tempfile::tempdir().expect("tempdir");
    let arguments = r#"{"path":"/workspace/new","content":"written by the module"}"#;

    let mut read_only = grants();
    read_only.workspace = Workspace::Read(workspace.path().to_path_buf());
    let error = hostile(&read_only, "write_file", arguments)
        .await
        .expect_err("the workspace is read only");
    assert!(matches!(error, CallError::Tool { .. }), "{error:?}");
    assert!(!workspace.path().join("new").exists());

    let mut writable = grants();
    writable.workspace = Workspace::Write(workspace.path().to_path_buf());
    let answer = hostile(&writable, "write_file", arguments).await;
    assert_eq!(answer.ok().as_deref(), Some("written"));
    let written = std::fs::read_to_string(workspace.path().join("new")).expect("the file");
    assert_eq!(written, "written by the module");
}

#[tokio::test]
async fn a_granted_workspace_does_not_reach_outside_itself() {
    let workspace = tempfile::tempdir().expect("tempdir");
    let mut granted = grants();
    granted.workspace = Workspace::Write(workspace.path().to_path_buf());
    for path in [
        "/workspace/../etc/passwd",
        "/workspace/../../../../etc/passwd",
    ] {
        let arguments = format!(r#"{{"path":"{path}"}}"#);
        let error = hostile(&granted, "read_file", &arguments)
            .await
            .expect_err("outside the workspace");
        assert!(!error.to_string().contains("root:"), "{path}: {error}");
    }
    // A symlink planted in the workspace is not a way out either.
    std::os::unix::fs::symlink("/etc/passwd", workspace.path().join("link")).expect("symlink");
    let error = hostile(&granted, "read_file", r#"{"path":"/workspace/link"}"#)
        .await
        .expect_err("a symlink out of the workspace");
    assert!(!error.to_string().contains("root:"), "{error}");
}

#[tokio::test]
async fn a_writable_workspace_is_not_a_way_to_write_outside_itself() {
    let outside = tempfile::tempdir().expect("tempdir");
    let target = outside.path().join("target");
    std::fs::write(&target, "the owner's file").expect("write the target");
    let workspace = tempfile::tempdir().expect("tempdir");
    // Links a shell could plant: to the file itself, to its directory, and
    // relative ones that climb out.
    let relative = Path::new("..")
        .join(outside.path().file_name().expect("a name"))
        .join("target");
    std::os::unix::fs::symlink(&target, workspace.path().join("absolute")).expect("symlink");
    std::os::unix::fs::symlink(outside.path(), workspace.path().join("directory"))
        .expect("symlink");
    std::os::unix::fs::symlink(&relative, workspace.path().join("relative")).expect("symlink");
    let mut granted = grants();
    granted.workspace = Workspace::Write(workspace.path().to_path_buf());
    for path in [
        "/workspace/absolute",
        "/workspace/directory/target",
        "/workspace/relative",
        "/workspace/../target",
    ] {
        let arguments = format!(r#"{{"path":"{path}","content":"overwritten"}}"#);
        let error = hostile(&granted, "write_file", &arguments)
            .await
            .expect_err("a write outside the workspace");
        assert!(matches!(error, CallError::Tool { .. }), "{path}: {error:?}");
    }
    let kept = std::fs::read_to_string(&target).expect("the target");
    assert_eq!(kept, "the owner's file");
    // The same module writes inside the workspace.
    let answer = hostile(
        &granted,
        "write_file",
        r#"{"path":"/workspace/inside","content":"x"}"#,
    )
    .await;
    assert_eq!(answer.ok().as_deref(), Some("written"));
}

#[tokio::test]
async fn workspace_directories_and_links_inside_it_open() {
    let workspace = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(workspace.path().join("sub")).expect("mkdir");
    std::fs::write(workspace.path().join("sub/a"), "a").expect("write a");
    std::fs::write(workspace.path().join("sub/b"), "b").expect("write b");
    std::os::unix::fs::symlink("sub/a", workspace.path().join("link")).expect("symlink");
    let mut granted = grants();
    granted.workspace = Workspace::Read(workspace.path().to_path_buf());
    let listed = hostile(&granted, "list_dir", r#"{"path":"/workspace/sub"}"#).await;
    assert_eq!(listed.ok().as_deref(), Some("a,b"));
    let read = hostile(&granted, "read_file", r#"{"path":"/workspace/link"}"#).await;
    assert_eq!(read.ok().as_deref(), Some("a"));
}

/// A FIFO made with mkfifo(1), as the agent's shell can make one in the
/// workspace it shares with modules.
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

#[tokio::test]
async fn a_fifo_in_the_workspace_is_refused_and_holds_no_thread() {
    let workspace = tempfile::tempdir().expect("tempdir");
    let fifo = workspace.path().join("fifo");
    mkfifo(&fifo);
    let mut granted = Grants::compute_only(64, 2_000);
    granted.workspace = Workspace::Read(workspace.path().to_path_buf());
    // Prepared first: the clock is for the call alone.
    fixture();
    let started = Instant::now();
    let outcome = hostile(&granted, "read_file", r#"{"path":"/workspace/fifo"}"#).await;
    let elapsed = started.elapsed();
    // No host thread is left waiting in open(2) as the FIFO's reader: a
    // writer that will not wait finds none. Looked at before anything is
    // asserted: such a writer would release a waiting thread, so a failing
    // test ends instead of waiting for that thread at the runtime's end.
    let writer = rustix::fs::open(
        &fifo,
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    );
    assert_eq!(writer.err(), Some(rustix::io::Errno::NXIO));
    let error = outcome.expect_err("a FIFO is not a file a module may open");
    assert!(matches!(error, CallError::Tool { .. }), "{error:?}");
    assert!(
        elapsed < Duration::from_millis(2_000),
        "refused after {elapsed:?}"
    );
    assert_host_healthy().await;
}

#[tokio::test]
async fn a_fifo_in_a_writable_workspace_is_not_written_and_holds_no_thread() {
    let workspace = tempfile::tempdir().expect("tempdir");
    let fifo = workspace.path().join("fifo");
    mkfifo(&fifo);
    let mut granted = Grants::compute_only(64, 2_000);
    granted.workspace = Workspace::Write(workspace.path().to_path_buf());
    fixture();
    let started = Instant::now();
    let arguments = r#"{"path":"/workspace/fifo","content":"to whoever reads"}"#;
    let outcome = hostile(&granted, "write_file", arguments).await;
    let elapsed = started.elapsed();
    // No host thread is left waiting in open(2) as the FIFO's writer: a
    // reader sees the end at once, not a writer with nothing written yet
    // (EAGAIN) or the module's content. Looked at first, as above.
    let reader = rustix::fs::open(
        &fifo,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    )
    .expect("a reader may always open without waiting");
    let mut buffer = [0u8; 64];
    let read = rustix::io::read(&reader, &mut buffer);
    drop(reader);
    assert_eq!(read, Ok(0));
    let error = outcome.expect_err("a FIFO is not a file a module may open");
    assert!(matches!(error, CallError::Tool { .. }), "{error:?}");
    assert!(
        elapsed < Duration::from_millis(2_000),
        "refused after {elapsed:?}"
    );
    assert_host_healthy().await;
}

#[tokio::test]
async fn the_environment_is_empty() {
    assert!(std::env::var("PATH").is_ok(), "the test process has PATH");
    let everything = hostile(&grants(), "read_env", r#"{"name":""}"#).await;
    assert_eq!(everything.ok().as_deref(), Some(""));
    for name in ["PATH", "HOME"] {
        let arguments = format!(r#"{{"name":"{name}"}}"#);
        let answer = hostile(&grants(), "read_env", &arguments).await.ok();
        assert!(
            answer.as_deref().is_some_and(|a| a.starts_with("unset")),
            "{name}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn there_are_no_arguments() {
    assert_eq!(
        hostile(&grants(), "args", "{}").await.ok().as_deref(),
        Some("")
    );
}

#[tokio::test]
async fn sockets_are_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let address = listener.local_addr().expect("address");
    let arguments = format!(r#"{{"address":"{address}"}}"#);
    let error = hostile(&grants(), "connect", &arguments)
        .await
        .expect_err("no sockets");
    assert!(matches!(error, CallError::Tool { .. }), "{error:?}");
    assert!(
        listener.accept().is_err(),
        "the module's connection must never arrive"
    );
}

#[tokio::test]
async fn output_is_captured_and_bounded() {
    let answer = hostile(&grants(), "print", r#"{"lines":10}"#).await;
    assert_eq!(answer.ok().as_deref(), Some("printed"));
    // 100 000 lines are past the capture's bound: the module's write fails
    // and it stops, the host does not buffer without end.
    let error = hostile(&grants(), "print", r#"{"lines":100000}"#)
        .await
        .expect_err("past the output bound");
    assert!(
        matches!(error, CallError::Trap { .. } | CallError::Failed { .. }),
        "{error:?}"
    );
    assert_host_healthy().await;
}

#[tokio::test]
async fn host_resources_are_bounded_per_call() {
    // What a tool needs is held...
    let arguments = r#"{"count":100,"header_bytes":4096}"#;
    let answer = hostile(&grants(), "hoard", arguments).await;
    assert_eq!(answer.ok().as_deref(), Some("held 100"));
    // ...but not resources without end (each is host memory, outside the
    // memory cap), nor a header set past its bound.
    let arguments = format!(r#"{{"count":{},"header_bytes":0}}"#, MAX_RESOURCES * 10);
    let error = hostile(&grants(), "hoard", &arguments)
        .await
        .expect_err("past the resource bound");
    assert!(
        matches!(error, CallError::Trap { .. } | CallError::Failed { .. }),
        "{error:?}"
    );
    let arguments = format!(r#"{{"count":1,"header_bytes":{}}}"#, HEADER_BYTES + 1);
    let error = hostile(&grants(), "hoard", &arguments)
        .await
        .expect_err("past the header bound");
    assert!(
        matches!(error, CallError::Trap { .. } | CallError::Failed { .. }),
        "{error:?}"
    );
    assert_host_healthy().await;
}

#[tokio::test]
async fn an_answer_past_its_bound_is_refused() {
    let at_bound = "x".repeat(MAX_ANSWER_BYTES);
    assert_eq!(
        echo("echo", &at_bound).await.ok().as_deref(),
        Some(at_bound.as_str())
    );
    let past_bound = "x".repeat(MAX_ANSWER_BYTES + 1);
    let error = echo("echo", &past_bound).await.expect_err("too large");
    assert!(
        matches!(
            error,
            CallError::AnswerTooLarge {
                limit: MAX_ANSWER_BYTES
            }
        ),
        "{error:?}"
    );
    assert_host_healthy().await;
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_refused() {
    let fixture = fixture();
    let error = fixture
        .host
        .prepare(b"\0asm not really")
        .expect_err("not a component");
    assert!(matches!(error, PrepareError::Compile(_)), "{error:?}");
}

#[tokio::test]
async fn grants_out_of_range_are_refused_before_running() {
    let error = echo_with(&Grants::compute_only(0, 1000))
        .await
        .expect_err("no memory");
    assert!(
        matches!(error, CallError::Grants(GrantError::MemoryOutOfRange(0))),
        "{error:?}"
    );
}

async fn echo_with(grants: &Grants) -> Result<String, CallError> {
    let fixture = fixture();
    fixture.host.call(&fixture.echo, grants, "echo", "{}").await
}
