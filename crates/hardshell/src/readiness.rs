//! Readiness for a service manager, by systemd's notify protocol
//! (sd_notify(3)): what a `Type=notify` unit waits for, and what the tests
//! and the bench scripts wait for instead of reading the log.
//!
//! When `NOTIFY_SOCKET` names a socket, `up` sends `READY=1` once it serves —
//! the edge listens and, when the built-in agent runs, the agent answers —
//! with `STATUS=edge listening on <url>`, and `STOPPING=1` when a signal
//! begins the shutdown. Without `NOTIFY_SOCKET` nothing is sent and nothing
//! waits. The shells never see the variable: each gets an environment of
//! its own making.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hardshell_protocol::AgentRoute;
use sd_notify::NotifyState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one health check may take before it is given up and retried.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Once the agent answers on `agent` (its socket, when it runs): sends
/// `READY=1` (`edge_url` is where the edge listens, for `systemctl
/// status`), and gives back the start-up's mappings of the program file,
/// and from then on every [`RELEASE_EVERY`].
pub fn when_serving(edge_url: String, agent: Option<PathBuf>) {
    tokio::spawn(async move {
        if let Some(socket) = agent {
            agent_answers(&socket).await;
        }
        if std::env::var_os("NOTIFY_SOCKET").is_some() {
            let status = format!("edge listening on {edge_url}");
            send(&[NotifyState::Ready, NotifyState::Status(&status)]);
        }
        keep_releasing_program_pages().await;
    });
}

/// How often a running process gives back the program's pages mapped since
/// the last time: an edge or agent left idle returns to its resting size
/// within this of its last use, and one at work maps its hot code again with
/// a few hundred minor faults, a millisecond or so of CPU each time.
const RELEASE_EVERY: Duration = Duration::from_secs(600);

/// Gives back this process's mappings of the program file now (what start-up
/// left behind), and again every [`RELEASE_EVERY`]; never returns.
pub async fn keep_releasing_program_pages() {
    loop {
        release_program_pages();
        tokio::time::sleep(RELEASE_EVERY).await;
    }
}

/// Drops this process's mappings of the program's code and read-only data
/// (see [`hardshell_sandbox_sys::pages`]): what runs again is mapped again.
/// Best effort: a failure costs only memory.
fn release_program_pages() {
    match hardshell_sandbox_sys::pages::release_file_pages() {
        Ok(released) => tracing::debug!(
            mappings = released.mappings,
            kib = released.resident_kib,
            "released the mappings of the program file"
        ),
        Err(e) => tracing::debug!(error = %e, "releasing the mappings of the program file failed"),
    }
}

/// Sends `STOPPING=1`: the shutdown has begun.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// Sends `RELOADING=1`: a SIGHUP's config passed its check, and `up` stops to
/// start again with it (the new run sends `READY=1`).
pub fn reloading() {
    send(&[NotifyState::Reloading]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        // Not fatal: a service manager that was not told times the start out
        // and says so.
        tracing::warn!(error = %e, "telling the service manager our state failed");
    }
}

/// Waits until the agent answers its health check. The edge made the
/// agent's listening socket, so a request waits in its queue until an agent
/// accepts it; a run that dies first leaves the next connection to the next.
async fn agent_answers(socket: &Path) {
    loop {
        // Bounded: the agent may accept and never answer (hung, or
        // hostile); each try then ends and the next is a new connection.
        match tokio::time::timeout(HEALTH_TIMEOUT, agent_health(socket)).await {
            Ok(Ok(true)) => return,
            Ok(Ok(false)) => tracing::debug!("the agent's health check did not answer 200"),
            Ok(Err(e)) => tracing::debug!(error = %e, "the agent's health check failed"),
            Err(_) => tracing::debug!("the agent's health check did not answer in time"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One health check (`GET /v1/health`) on the agent's socket: by hand, as it is one request
/// and one status line, where an HTTP client would be a dependency more.
async fn agent_health(socket: &Path) -> std::io::Result<bool> {
    let mut stream = tokio::net::UnixStream::connect(socket).await?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        AgentRoute::Health.path_and_query(),
        hardshell_protocol::socket::AGENT_HOST,
    );
    stream.write_all(request.as_bytes()).await?;
    let mut status_line = [0u8; 12];
    stream.read_exact(&mut status_line).await?;
    Ok(&status_line == b"HTTP/1.1 200")
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn an_agent_that_accepts_and_never_answers_does_not_hold_the_check() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let socket = dir.path().join("agent.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap_or_else(|e| panic!("{e}"));
        let agent = tokio::spawn(async move {
            // The first connection is held open and never answered...
            let (silent, _) = listener.accept().await.unwrap_or_else(|e| panic!("{e}"));
            // ...the next one is answered.
            let (mut answered, _) = listener.accept().await.unwrap_or_else(|e| panic!("{e}"));
            answered
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            silent
        });
        // Without a bound on each try this never returns.
        tokio::time::timeout(HEALTH_TIMEOUT * 3, agent_answers(&socket))
            .await
            .unwrap_or_else(|_| panic!("the check hung on a silent agent"));
        drop(agent.await);
    }
}
