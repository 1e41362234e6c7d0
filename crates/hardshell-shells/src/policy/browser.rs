//! A browser session's shell: Chromium, fresh for one session, whose only
//! way out is the session's own broker listener and whose only way in is
//! its DevTools port through the inbound forwarder.

use std::path::PathBuf;

use hardshell_browser::chromium::{DEVTOOLS_PORT, POLICY_ROOT};
use hardshell_sandbox::{Bind, Forward, Inbound, Limits, Root, ShellPolicy};

use super::{PROXY_PORT, SOCKETS};

/// Processes and threads: Chromium runs a browser, a GPU-less utility or
/// two and a renderer per site, each with dozens of threads.
const BROWSER_MAX_PIDS: u64 = 1024;
/// Open files per process: a renderer holds shared-memory regions and
/// sockets to the browser by the hundred.
const BROWSER_MAX_OPEN_FILES: u64 = 8192;
/// Largest file the browser may write (its profile's databases, on `/tmp`).
const BROWSER_MAX_FILE_BYTES: u64 = 256 << 20;

/// What a browser session's shell is made of, resolved by the caller.
#[derive(Debug)]
pub struct BrowserShell {
    /// An empty directory of root's (mode 0555), bound at `/workspace` as
    /// every shell's workspace is, and written by nothing: the browser's
    /// profile is on `/tmp`.
    pub workspace: PathBuf,
    /// The session's broker socket directory on the host, bound read-only
    /// at [`SOCKETS`].
    pub broker_dir: PathBuf,
    /// hardshell's directory bound over `/etc/chromium` (read-only): the
    /// managed policies (`hardshell_browser::chromium::POLICY_FILE`).
    pub policy_dir: PathBuf,
    pub memory_bytes: u64,
    /// 100 is one core.
    pub cpu_percent: u32,
    /// The shell's `/tmp` (and `/dev/shm`): the profile, the cache, what
    /// renderers share.
    pub tmp_bytes: u64,
}

/// The browser's shell: the host's system read-only (Chromium and its
/// libraries, fonts), hardshell's managed policies over `/etc/chromium`,
/// the profile on the shell's own `/tmp`, the DevTools port bindable and
/// reached only through the inbound forwarder, the forwarder to the
/// session's broker its one way out. Start it with
/// `hardshell_sandbox::spawn_inbound`.
pub fn browser(shell: BrowserShell) -> ShellPolicy {
    let env = [
        ("PATH", "/usr/bin:/bin"),
        ("HOME", "/tmp"),
        ("XDG_CONFIG_HOME", "/tmp/.config"),
        ("XDG_CACHE_HOME", "/tmp/.cache"),
        ("LANG", "C.UTF-8"),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .to_vec();
    ShellPolicy {
        name: "browser".into(),
        workspace: shell.workspace,
        protected: Vec::new(),
        root: Root::host_system(),
        binds: vec![
            Bind {
                host: shell.broker_dir,
                inside: SOCKETS.into(),
                writable: false,
            },
            Bind {
                host: shell.policy_dir,
                inside: POLICY_ROOT.into(),
                writable: false,
            },
        ],
        env,
        // Chromium is told of the proxy by its flags, not the environment
        // (it reads no proxy variable when `--proxy-server` is set); the
        // namespace is what holds it to the forwarder.
        forward: vec![Forward {
            port: PROXY_PORT,
            to: hardshell_protocol::socket::shell_broker_socket(),
        }],
        inbound: Some(Inbound {
            port: DEVTOOLS_PORT,
        }),
        cwd: PathBuf::from("/tmp"),
        limits: Limits {
            memory_bytes: shell.memory_bytes,
            max_pids: BROWSER_MAX_PIDS,
            cpu_percent: shell.cpu_percent,
            // The session's own lifetime is the pool's; the shell outlives
            // no session.
            wall_clock: None,
            tmp_bytes: shell.tmp_bytes,
            file_size_bytes: BROWSER_MAX_FILE_BYTES,
            open_files: BROWSER_MAX_OPEN_FILES,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_browser_writes_only_its_tmp_and_reaches_only_its_broker() {
        let policy = browser(BrowserShell {
            workspace: "/data/run/browser/empty".into(),
            broker_dir: "/data/run/browser/s1-7/broker".into(),
            policy_dir: "/data/run/browser/chromium-etc".into(),
            memory_bytes: 1 << 30,
            cpu_percent: 100,
            tmp_bytes: 512 << 20,
        });
        assert!(policy.binds.iter().all(|bind| !bind.writable));
        let inside: Vec<&Path> = policy
            .binds
            .iter()
            .map(|bind| bind.inside.as_path())
            .collect();
        assert_eq!(inside, [Path::new(SOCKETS), Path::new("/etc/chromium")]);
        let ports: Vec<u16> = policy.forward.iter().map(|forward| forward.port).collect();
        assert_eq!(ports, [PROXY_PORT]);
        assert_eq!(
            policy.inbound.map(|inbound| inbound.port),
            Some(DEVTOOLS_PORT)
        );
        assert!(policy.limits.wall_clock.is_none());
        // No proxy variable: nothing in the shell is meant to use one but
        // Chromium, which is told by its flags.
        assert!(!policy.env.iter().any(|(name, _)| name.ends_with("_PROXY")));
    }
}
