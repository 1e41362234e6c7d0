//! A scratch directory with `hardshell` run inside it. The binary is the
//! test's to name (`env!("CARGO_BIN_EXE_hardshell")`, which only the
//! binary's own tests can expand).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Instance {
    pub dir: tempfile::TempDir,
    program: PathBuf,
}

impl Drop for Instance {
    /// Tests end `hardshell up` with SIGKILL, which leaves its workspace
    /// volumes mounted (a real edge detaches them at its next start).
    fn drop(&mut self) {
        let dir = self.dir.path();
        let _ = hardshell_sandbox::volume::unmount_stale(&dir.join("workspace"));
        let _ = hardshell_sandbox::volume::unmount_stale_under(&dir.join("data/workspaces"));
        for volume in ["workspace", "state"] {
            let _ = hardshell_sandbox::volume::unmount_stale(
                &dir.join("data/workloads/workload").join(volume),
            );
        }
    }
}

pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Self {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn ok(self) -> Self {
        assert!(
            self.status.success(),
            "failed: {}\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Failed with exit code 1 and exactly one line on standard error.
    pub fn failed_with_one_line(self) -> String {
        assert_eq!(
            self.status.code(),
            Some(1),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one line of error, got: {}",
            self.stderr
        );
        assert!(lines[0].starts_with("hardshell: error: "), "{}", lines[0]);
        lines[0].to_owned()
    }
}

impl Instance {
    /// An empty directory where `program` (the hardshell binary) runs;
    /// nothing initialised.
    pub fn empty(program: impl Into<PathBuf>) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            program: program.into(),
        }
    }

    /// A directory after `hardshell init`.
    pub fn initialised(program: impl Into<PathBuf>) -> Self {
        let instance = Self::empty(program);
        instance.run(&["init"]).ok();
        instance
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// The instance's own object store (`[storage] backend = "file"`, the
    /// template's), opened with its master key, as `up` opens it: for tests
    /// that look at or change what the instance stored.
    pub async fn local_store(&self) -> hardshell_storage::Store {
        use hardshell_storage::{LocalOptions, Location, MasterKey, MasterKeySource, Sealing};
        let data = self.path("data");
        let master = MasterKey::load(&MasterKeySource::File(data.join("master.key"))).unwrap();
        let location = Location::Local(LocalOptions {
            objects: data.join("objects"),
            locks: data.join("locks/objects"),
        });
        // As `up` opens its state store (`context::open_state`).
        hardshell_storage::Store::open_anchored(
            &location,
            Sealing::Envelope(master),
            &data,
            "state",
        )
        .await
        .unwrap()
    }

    /// Writes `bytes` at `key` of the instance's own object store, over what
    /// is there: what someone with the store's key could do, for the tests
    /// that hardshell refuses what it stored once it was changed.
    pub fn put_stored(&self, key: &str, bytes: &[u8]) {
        let key = hardshell_storage::ObjectKey::parse(key).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            self.local_store()
                .await
                .root()
                .put(&key, bytes)
                .await
                .unwrap()
        });
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("HARDSHELL_MASTER_KEY")
            .env_remove("HARDSHELL_MASTER_KEY_FILE")
            .env_remove("HARDSHELL_CONFIG")
            .env("RUST_LOG", "trace")
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        Run::from(child.wait_with_output().unwrap())
    }

    /// Every audit event the instance recorded, in order, as `hardshell
    /// audit verify` names the logs and `audit tail` reads them.
    pub fn audit_events(&self) -> Vec<serde_json::Value> {
        let verify = self.run(&["audit", "verify"]).ok();
        let mut events = Vec::new();
        for line in verify.stdout.lines() {
            let Some(log) = line.split(':').next() else {
                continue;
            };
            let tail = self.run(&["audit", "tail", "--log", log]).ok();
            events.extend(tail.stdout.lines().map(|line| {
                let mut record: serde_json::Value =
                    serde_json::from_str(line).expect("an audit record is JSON");
                record["event"].take()
            }));
        }
        events
    }

    pub fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let path = self.path("hardshell.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, edit(text)).unwrap();
    }

    /// Every byte under the directory, for "the value is nowhere in plaintext"
    /// checks: each regular file's (not the sockets a stopped `up` left).
    pub fn all_file_bytes(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let path = entry.path();
                let kind = entry.file_type().unwrap();
                if kind.is_dir() {
                    walk(&path, out);
                } else if kind.is_file() {
                    out.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A running `hardshell up`, started through the readiness protocol: its
/// standard error collected line by line (and never left to fill its pipe),
/// its address taken from its `READY=1` notification.
pub struct Up {
    pub child: std::process::Child,
    /// The edge's `host:port`.
    pub addr: String,
    /// Every line `up` wrote to standard error so far.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The service manager's end of the notify socket, for `STOPPING=1`.
    pub notify: crate::ready::NotifySocket,
}

impl Up {
    /// Spawns `command` (an `up` from [`Instance::command`], adjusted) with
    /// `NOTIFY_SOCKET` set, and waits at most `within` for it to be ready;
    /// fails the test, with the log, if it is not.
    pub fn start(mut command: Command, within: std::time::Duration) -> Self {
        use std::io::{BufRead, BufReader};
        let notify = crate::ready::NotifySocket::new();
        let mut child = command
            .env("NOTIFY_SOCKET", notify.path())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        match notify.ready(&mut child, within) {
            Ok(ready) => Self {
                addr: ready.edge_addr().to_owned(),
                child,
                log,
                notify,
            },
            Err(not_ready) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "hardshell up was not ready: {not_ready}; its log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        }
    }

    /// The log so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The log up to the first line containing `needle`, waiting at most
    /// `within` for it: for tests of what the log says, not for readiness.
    pub fn log_through(&self, needle: &str, within: std::time::Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let log = self.log();
            if let Some(at) = log.iter().position(|line| line.contains(needle)) {
                return log[..=at].to_vec();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {needle:?} in the log within {}s:\n{}",
                within.as_secs(),
                log.join("\n")
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
