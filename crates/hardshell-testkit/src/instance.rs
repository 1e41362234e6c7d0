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

    pub fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let path = self.path("hardshell.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, edit(text)).unwrap();
    }

    /// Every byte under the directory, for "the value is nowhere in plaintext" checks.
    pub fn all_file_bytes(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
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
