//! Where each end finds the other: the socket files' names, the directory a
//! shell sees its sockets in, and the port on a shell's loopback that leads
//! to its egress broker. Each is named here once; the edge lays the files
//! out, the shells and the agent find them by these names.

use std::path::PathBuf;

/// The edge's control socket, in the agent's socket directory: how the
/// workload reaches the edge.
pub const EDGE_SOCKET: &str = "edge.sock";
/// A shell's egress broker, in its socket directory.
pub const BROKER_SOCKET: &str = "broker.sock";
/// The edge's CDP proxy for the built-in agent, in its socket directory: a
/// WebSocket to [`browser_path`] there reaches a fresh, policed browser.
pub const BROWSER_SOCKET: &str = "browser.sock";
/// The agent's own socket, on which the edge reaches it. It lies in a
/// directory of the edge's, never in the shell: the agent is handed the
/// listening descriptor.
pub const AGENT_SOCKET: &str = "agent.sock";

/// Where a shell sees its socket directory, bound in read-only: the agent's
/// holds [`EDGE_SOCKET`] and [`BROKER_SOCKET`], an exec shell's its
/// [`BROKER_SOCKET`].
pub const SHELL_SOCKET_DIR: &str = "/run/hardshell";
/// The port on a shell's loopback whose forwarder leads to
/// [`BROKER_SOCKET`]: the HTTP proxy its programs are told to use.
pub const SHELL_PROXY_PORT: u16 = 3128;

/// The host name in the URLs of requests on the control socket (HTTP needs
/// one; the socket ignores it).
pub const EDGE_HOST: &str = "hardshell-edge";
/// The host name in the URLs of requests on the agent's socket.
pub const AGENT_HOST: &str = "hardshell-agent";

/// [`EDGE_SOCKET`] as a shell sees it.
pub fn shell_edge_socket() -> PathBuf {
    PathBuf::from(SHELL_SOCKET_DIR).join(EDGE_SOCKET)
}

/// [`BROKER_SOCKET`] as a shell sees it.
pub fn shell_broker_socket() -> PathBuf {
    PathBuf::from(SHELL_SOCKET_DIR).join(BROKER_SOCKET)
}

/// The port on a workload's loopback whose forwarder leads to its
/// [`BROWSER_SOCKET`] (with `[workload] browser`): CDP clients that take only
/// a URL (OpenClaw's `browser.cdpUrl`) reach hardshell's browsers there.
pub const SHELL_CDP_PORT: u16 = 9222;

/// The CDP URL a workload is given (`HARDSHELL_CDP_URL`).
pub fn workload_cdp_url() -> String {
    format!(
        "ws://127.0.0.1:{SHELL_CDP_PORT}{}",
        browser_path("workload")
    )
}

/// [`BROWSER_SOCKET`] as a shell sees it.
pub fn shell_browser_socket() -> PathBuf {
    PathBuf::from(SHELL_SOCKET_DIR).join(BROWSER_SOCKET)
}

/// The path of the WebSocket on [`BROWSER_SOCKET`] that opens a browser for
/// the agent's conversation `session`. Session ids are `[A-Za-z0-9-]`, so no
/// percent-encoding is needed.
pub fn browser_path(session: &str) -> String {
    format!("/cdp?session={session}")
}

/// The proxy URL a shell's programs use: [`SHELL_PROXY_PORT`] on its loopback.
pub fn shell_proxy_url() -> String {
    format!("http://127.0.0.1:{SHELL_PROXY_PORT}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_finds_its_sockets_and_proxy_where_it_always_did() {
        assert_eq!(
            shell_edge_socket(),
            PathBuf::from("/run/hardshell/edge.sock")
        );
        assert_eq!(
            shell_broker_socket(),
            PathBuf::from("/run/hardshell/broker.sock")
        );
        assert_eq!(shell_proxy_url(), "http://127.0.0.1:3128");
    }

    #[test]
    fn the_agent_finds_its_browser_beside_the_edge() {
        assert_eq!(
            shell_browser_socket(),
            PathBuf::from("/run/hardshell/browser.sock")
        );
        assert_eq!(browser_path("web-abc-1"), "/cdp?session=web-abc-1");
    }
}
