//! Running the browser scripts (`scripts/browser-*.mjs`, playwright-core over
//! Debian's Chromium) from a test: what they need, found or refused up front,
//! and one run to completion or to its deadline.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's Chromium, the browser driven; playwright-core never downloads one.
pub const CHROMIUM: &str = "/usr/bin/chromium";

const HOW: &str =
    "run the suite with scripts/test, which installs chromium, node and playwright-core";

/// The directory npm installed playwright-core into (`$INFRA/node`); the test
/// fails, naming `scripts/test`, when Chromium, node or playwright-core is
/// missing.
pub fn playwright_home() -> PathBuf {
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: {HOW}");
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|output| output.status.success()),
        "node is missing: {HOW}"
    );
    let infra = std::env::var("INFRA")
        .unwrap_or_else(|_| panic!("INFRA is not set, so playwright-core cannot be found: {HOW}"));
    let home = PathBuf::from(infra).join("node");
    assert!(
        home.join("node_modules/playwright-core/package.json")
            .exists(),
        "playwright-core is not installed under {}: {HOW}",
        home.display()
    );
    home
}

/// `scripts/<name>` in the checkout whose test runs: read from the
/// environment `cargo test` sets, as a path baked in at compile time can be
/// another checkout's (a shared build cache).
pub fn script(name: &str) -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("CARGO_MANIFEST_DIR is not set: run the test with cargo"));
    manifest.join("../../scripts").join(name)
}

/// How a script's run ended, with everything it printed.
pub struct ScriptRun {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl ScriptRun {
    /// The script's report, its last line; fails the test with both outputs
    /// when the run failed.
    pub fn report(&self) -> &str {
        assert!(
            self.ok,
            "the browser run failed:\n{}\n{}",
            self.stderr, self.stdout
        );
        self.stdout.lines().last().unwrap_or_default()
    }
}

/// `node scripts/<name> <args>`, as [`run`] runs it.
pub fn run_script(name: &str, args: &[String], deadline: Duration) -> ScriptRun {
    let mut command = Command::new("node");
    command.arg(script(name)).args(args);
    run(command, deadline)
}

/// `<target>/artifacts/browser/`, made if missing, for a test's screenshots:
/// the test runs from `<target>/<profile>/deps/`.
pub fn artifacts() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("the test's own path: {e}"));
    let dir = exe
        .ancestors()
        .nth(3)
        .unwrap_or_else(|| panic!("{} is not under a target directory", exe.display()))
        .join("artifacts")
        .join("browser");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Runs `command` (`node <script> <args>`) with `PLAYWRIGHT_HOME` set, to
/// completion or until `deadline`, when it is killed by its pid and its
/// stderr says so. Both outputs are read as it runs, so a full pipe never
/// stalls it.
pub fn run(mut command: Command, deadline: Duration) -> ScriptRun {
    let mut child = command
        .env("PLAYWRIGHT_HOME", playwright_home())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting node: {e}: {HOW}"));
    let read_all = |mut stream: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            text
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("piped")));
    let stderr = read_all(Box::new(child.stderr.take().expect("piped")));
    let until = Instant::now() + deadline;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for node") {
            break Some(status);
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = stdout.join().expect("reading stdout");
    let mut stderr = stderr.join().expect("reading stderr");
    if status.is_none() {
        stderr.push_str(&format!(
            "\nthe browser run was killed after {}s",
            deadline.as_secs()
        ));
    }
    ScriptRun {
        ok: status.is_some_and(|s| s.success()),
        stdout,
        stderr,
    }
}
