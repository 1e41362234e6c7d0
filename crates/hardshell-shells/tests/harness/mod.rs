//! The main of this crate's test binaries that start real shells: without
//! the default harness, as the binary is also the shells' init program
//! (`<this test> shell-init`), which must start before any thread does. The
//! tests run one after another; a name given on the command line runs those
//! containing it.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use hardshell_sandbox::Launcher;
use hardshell_sandbox::volume::{VolumeSize, Volumes};
use hardshell_shells::SandboxShell;

/// Real tool shells started by this binary, `at_once` at most, over
/// workspaces that are volumes (16 MiB each) in a temporary directory; the
/// volumes, to unmount before the directory goes; and the directory.
pub fn tool_shells(at_once: usize) -> (SandboxShell, Arc<Volumes>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let size = VolumeSize {
        bytes: 16 << 20,
        inodes: 1024,
    };
    let volumes = Arc::new(Volumes::open(&dir.path().join("volumes"), size).expect("the volumes"));
    let launcher = Launcher {
        program: std::env::current_exe().expect("this test's path"),
        args: vec!["shell-init".into()],
    };
    let shell = SandboxShell::new(
        launcher,
        dir.path().join("workspaces"),
        volumes.clone(),
        at_once,
        16 << 20,
    )
    .expect("the tool shells");
    (shell, volumes, dir)
}

/// What runs one test.
pub type Run = fn() -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// A test: its name, and what runs it.
pub type Test = (&'static str, Run);

/// Runs as the shells' init program when asked to, else runs `tests` and
/// says which failed.
pub fn main(tests: &[Test]) -> ExitCode {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "shell-init")
    {
        hardshell_sandbox::init::main();
    }
    let filter: Option<String> = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut failed = Vec::new();
    for (name, test) in tests {
        if filter
            .as_ref()
            .is_some_and(|filter| !name.contains(filter.as_str()))
        {
            continue;
        }
        // A panic fails the test: the task's join says so.
        let passed = runtime.block_on(runtime.spawn(test())).is_ok();
        println!("test {name} ... {}", if passed { "ok" } else { "FAILED" });
        if !passed {
            failed.push(*name);
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failed: {failed:?}");
        ExitCode::FAILURE
    }
}
