//! Waiting for `hardshell up` to be ready the way systemd does: a unix
//! datagram socket named in `NOTIFY_SOCKET`, on which `up` sends `READY=1`
//! (with `STATUS=edge listening on <url>`) once the edge listens and the
//! agent answers, and `STOPPING=1` when it shuts down (sd_notify(3)).

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// What a notification said: its `KEY=value` lines, in order.
#[derive(Debug, Clone)]
pub struct Notice {
    fields: Vec<(String, String)>,
}

impl Notice {
    fn parse(datagram: &[u8]) -> Self {
        let fields = String::from_utf8_lossy(datagram)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        Self { fields }
    }

    /// The value of `key`, if the notification has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// The edge's URL, from `STATUS=edge listening on <url>`.
    pub fn edge_url(&self) -> &str {
        let status = self.get("STATUS").expect("READY=1 comes with a STATUS");
        status
            .strip_prefix("edge listening on ")
            .unwrap_or_else(|| panic!("unexpected STATUS: {status}"))
    }

    /// The edge's address (`host:port`), from its URL.
    pub fn edge_addr(&self) -> &str {
        let url = self.edge_url();
        url.split_once("://").map_or(url, |(_, rest)| rest)
    }
}

/// Why no notification came.
#[derive(Debug)]
pub enum NotReady {
    /// The process ended first.
    Exited(ExitStatus),
    /// The deadline passed.
    TimedOut(Duration),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exited(status) => write!(f, "it exited ({status}) before saying so"),
            Self::TimedOut(within) => write!(f, "it did not say so within {}s", within.as_secs()),
        }
    }
}

/// The service manager's end: a datagram socket in a temporary directory.
pub struct NotifySocket {
    socket: UnixDatagram,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Default for NotifySocket {
    fn default() -> Self {
        Self::new()
    }
}

impl NotifySocket {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        Self {
            socket,
            path,
            _dir: dir,
        }
    }

    /// The value for the child's `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until `child` sends `READY=1`, at most `within`; fails early if
    /// the child exits.
    pub fn ready(&self, child: &mut Child, within: Duration) -> Result<Notice, NotReady> {
        self.wait_for("READY", child, within)
    }

    /// Waits until `child` sends a notification with `KEY=1`.
    pub fn wait_for(
        &self,
        key: &str,
        child: &mut Child,
        within: Duration,
    ) -> Result<Notice, NotReady> {
        let deadline = Instant::now() + within;
        let mut datagram = vec![0u8; 4096];
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Err(NotReady::Exited(status));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NotReady::TimedOut(within));
            }
            // In slices, to notice a child that died.
            let slice = left.min(Duration::from_millis(200));
            self.socket.set_read_timeout(Some(slice)).unwrap();
            match self.socket.recv(&mut datagram) {
                Ok(n) => {
                    let notice = Notice::parse(&datagram[..n]);
                    if notice.get(key) == Some("1") {
                        return Ok(notice);
                    }
                }
                // Interrupted: a signal arrived for another thread's child
                // (a test binary that also runs tokio's process handling
                // gets SIGCHLD handlers); the wait goes on.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => panic!("reading the notify socket: {e}"),
            }
        }
    }
}
