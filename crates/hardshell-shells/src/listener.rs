//! A shell's own broker listener: the broker shared by every shell of its
//! kind, served on a socket of this shell's alone (so its connections and
//! bytes are counted on their own), in a directory given to the shells' id,
//! stopped and removed with the shell. An exec run's and a browser
//! session's.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hardshell_broker::proxy::Broker;

/// One shell's broker listener (see the module).
#[derive(Debug)]
pub(crate) struct RunBroker {
    task: tokio::task::JoinHandle<()>,
    pub(crate) dir: PathBuf,
}

impl Drop for RunBroker {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl RunBroker {
    /// In a directory of its own under `parent` (`run-<pid>-<n>`).
    pub(crate) fn start_under(parent: &Path, broker: Arc<Broker>) -> std::io::Result<Self> {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self::start_in(
            &parent.join(format!("run-{}-{run}", std::process::id())),
            broker,
        )
    }

    /// In `dir`, made here (mode 0700, then given to the shells' id).
    pub(crate) fn start_in(dir: &Path, broker: Arc<Broker>) -> std::io::Result<Self> {
        std::fs::DirBuilder::new().mode(0o700).create(dir)?;
        let socket = dir.join(hardshell_protocol::socket::BROKER_SOCKET);
        let listener = match hardshell_broker::socket::bind(&socket) {
            Ok(listener) => listener,
            Err(e) => {
                let _ = std::fs::remove_dir_all(dir);
                return Err(e);
            }
        };
        let task = tokio::spawn(broker.serve(listener));
        let started = Self {
            task,
            dir: dir.to_owned(),
        };
        let (uid, gid) = hardshell_sandbox::host_ids();
        for path in [&started.dir, &socket] {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
        }
        Ok(started)
    }
}
