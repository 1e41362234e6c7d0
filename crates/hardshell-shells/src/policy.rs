//! What a shell can see: the policy of each kind of shell hardshell starts,
//! side by side, so that question has one answer.
//!
//! | | the agent's shell ([`agent`]) | an exec tool shell ([`exec`]) | the workload's shell ([`workload()`]) |
//! |---|---|---|---|
//! | lives | as long as the edge | one command | as long as the edge (restarted when it dies) |
//! | `/` | the host's system directories, read-only | the same | the image's unpacked root, read-only (never written: a skeleton of mount points is layered over it) |
//! | workspace at `/workspace` | `[agent] workspace`, its instructions and `.git` read-only | the session's, `.git` read-only | its own, writable |
//! | bound in | the hardshell binary, the socket directory (read-only) | with `[egress]` routes, the run's own broker socket directory (read-only) | its state directory (writable); with a way out, its broker socket directory and the egress CA (read-only) |
//! | sockets | the edge's control socket, its broker | its broker only, or none | its broker only, or none |
//! | way out | its broker (the model routes) | with `[egress]` routes, its broker; else none | with a broker, its broker (`HTTP(S)_PROXY`, `NO_PROXY` for its loopback, the CA); else none |
//! | way in | the edge's requests on a passed unix listener | none | its one TCP port, bound by it on its own loopback, reached only through the inbound forwarder's unix socket |
//! | `HOME` | `/workspace` | `/tmp` (fresh, the shell's own), git kept from host configuration | the image's or `[workload]`'s, else `/tmp` |
//! | limits | `[shell]` | `[exec]`, with `[shell] tmp_mb` | `[workload]` (memory, processes), `[shell] tmp_mb` |
//!
//! A module's shell ([`module()`]) is the agent's kind, narrowed: the host's
//! system and the binary read-only, its component read-only at
//! [`COMPONENT_DIR`], an empty workspace, its own broker its only way out,
//! its memory the module's cap and the compiler's.
//!
//! Every other layer (namespaces, no capabilities, `no_new_privs`, Landlock,
//! seccomp, cgroups) is `hardshell-sandbox`'s and the same for all three;
//! the workload's Landlock alone allows a TCP bind, of its one port.

use std::path::{Path, PathBuf};

use hardshell_sandbox::{Bind, Forward, Limits, Root, ShellPolicy};

use hardshell_exec::ShellRun;

mod browser;
mod module;
mod workload;
pub use browser::{BrowserShell, browser};
use hardshell_intercept::{BUNDLE_FILE, CA_FILE, TrustFiles};
pub use module::{
    COMPONENT_DIR, COMPONENT_FILE, GrantedWorkspace, HOST_MEMORY_BYTES, MODULE_HOST_PROGRAM,
    ModuleShell, module,
};
pub use workload::{
    OPENCLAW_MANAGED_SKILLS, OPENCLAW_SKILL_DIRS, OPENCLAW_WORKSPACE, OPENCLAW_WORKSPACE_SKILLS,
    SkillBinds, StateBind, Workload, WorkloadShell, workload,
};

// The port on every shell's loopback that its forwarder relays to its
// broker, and where a shell sees its socket directory (the agent's: the
// control socket and its broker; an exec run's: its broker): the
// protocol's names, which the agent's side reads too.
pub use hardshell_protocol::socket::{SHELL_PROXY_PORT as PROXY_PORT, SHELL_SOCKET_DIR as SOCKETS};
/// Where the agent's shell has the hardshell binary.
pub const AGENT_PROGRAM: &str = "/opt/hardshell/hardshell";

/// Largest file an exec command may write, in bytes.
const EXEC_MAX_FILE_BYTES: u64 = 1 << 30;
/// Open files per process in an exec tool shell.
const EXEC_MAX_OPEN_FILES: u64 = 1024;

/// What the agent's shell is made of.
#[derive(Debug)]
pub struct AgentShell<'a> {
    /// The hardshell binary on the host, bound in at [`AGENT_PROGRAM`].
    pub program: &'a Path,
    /// The edge's socket directory for the agent, bound in read-only at
    /// [`SOCKETS`]: the shell connects to the sockets there, and can neither
    /// replace them nor add any. Absolute, without symlinks.
    pub socket_dir: &'a Path,
    /// The agent's workspace on the host. Absolute, without symlinks.
    pub workspace: PathBuf,
    /// The agent's instruction files in its workspace, read-only to it.
    pub instructions: &'a [&'a str],
    pub shell: &'a hardshell_config::Shell,
    /// The edge's `RUST_LOG`, passed on.
    pub log_filter: Option<String>,
}

/// The agent's shell: the binary and the socket directory bound in
/// (read-only), its workspace at `/workspace` with its own instructions
/// read-only, its one way out its broker.
pub fn agent(shell: AgentShell<'_>) -> ShellPolicy {
    let mut env = vec![
        ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
        ("HOME".to_owned(), "/workspace".to_owned()),
    ];
    if let Some(filter) = shell.log_filter {
        env.push(("RUST_LOG".to_owned(), filter));
    }
    let protected = shell
        .instructions
        .iter()
        .chain(&[".git"])
        .map(PathBuf::from)
        .collect();
    let limits = shell.shell;
    ShellPolicy {
        name: "agent".into(),
        workspace: shell.workspace,
        protected,
        root: Root::host_system(),
        binds: vec![
            Bind {
                host: shell.program.to_owned(),
                inside: AGENT_PROGRAM.into(),
                writable: false,
            },
            Bind {
                host: shell.socket_dir.to_owned(),
                inside: SOCKETS.into(),
                writable: false,
            },
        ],
        env,
        forward: vec![Forward {
            port: PROXY_PORT,
            to: hardshell_protocol::socket::shell_broker_socket(),
        }],
        inbound: None,
        cwd: "/workspace".into(),
        limits: Limits {
            memory_bytes: limits.memory_mb << 20,
            max_pids: limits.max_pids,
            cpu_percent: limits.cpu_percent,
            wall_clock: None,
            tmp_bytes: limits.tmp_mb << 20,
            file_size_bytes: 1 << 30,
            open_files: 4096,
        },
    }
}

/// An exec tool shell for `run`: its session's workspace (`workspace`, on
/// the host) at `/workspace`, no way out (see [`broker_way_out`]), killed
/// whole at the run's timeout.
pub(crate) fn exec(workspace: PathBuf, run: &ShellRun, tmp_bytes: u64) -> ShellPolicy {
    ShellPolicy {
        name: "exec".into(),
        workspace,
        protected: vec![PathBuf::from(".git")],
        root: Root::host_system(),
        binds: Vec::new(),
        env: exec_env(),
        forward: Vec::new(),
        inbound: None,
        cwd: PathBuf::from("/workspace"),
        limits: Limits {
            memory_bytes: run.memory_mb.saturating_mul(1 << 20),
            max_pids: run.max_pids,
            cpu_percent: 100,
            wall_clock: Some(run.timeout),
            tmp_bytes,
            file_size_bytes: EXEC_MAX_FILE_BYTES,
            open_files: EXEC_MAX_OPEN_FILES,
        },
    }
}

/// Gives an exec shell its way out: the run's own broker socket directory
/// (`run_dir`, on the host) bound in at [`SOCKETS`], its forwarder, and the
/// proxy variables; and with `trust`, the egress CA to trust (see
/// [`trust_egress_ca`]).
pub(crate) fn broker_way_out(
    policy: &mut ShellPolicy,
    run_dir: PathBuf,
    trust: Option<&TrustFiles>,
) {
    policy.binds.push(Bind {
        host: run_dir,
        inside: SOCKETS.into(),
        writable: false,
    });
    policy.forward.push(Forward {
        port: PROXY_PORT,
        to: hardshell_protocol::socket::shell_broker_socket(),
    });
    let proxy = format!("http://127.0.0.1:{PROXY_PORT}");
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        policy.env.push((name.into(), proxy.clone()));
    }
    // Node's fetch (undici) reads the proxy variables only when told to
    // (Node 24 and later; older ones ignore it).
    policy.env.push(("NODE_USE_ENV_PROXY".into(), "1".into()));
    if let Some(trust) = trust {
        trust_egress_ca(policy, trust);
    }
}

/// Where a shell finds the egress CA's certificate and the bundle of the
/// system's roots with it.
pub const TRUST_DIR: &str = "/run/hardshell-ca";

/// Makes a shell trust the egress CA, with no configuration of the programs
/// in it: the trust files bound read-only at [`TRUST_DIR`]; the variables
/// that OpenSSL (and so curl, Python, Ruby), curl, Python's requests, git and
/// Node read pointed at them; and each system bundle of the host covered by
/// the bundle, for clients that read no variable (Go, rustls-native-certs
/// without `SSL_CERT_FILE`).
fn trust_egress_ca(policy: &mut ShellPolicy, trust: &TrustFiles) {
    policy.binds.push(Bind {
        host: trust.dir.clone(),
        inside: TRUST_DIR.into(),
        writable: false,
    });
    for system in &trust.covers {
        policy.binds.push(Bind {
            host: trust.bundle.clone(),
            inside: system.clone(),
            writable: false,
        });
    }
    let bundle = format!("{TRUST_DIR}/{BUNDLE_FILE}");
    for name in [
        "SSL_CERT_FILE",
        "CURL_CA_BUNDLE",
        "REQUESTS_CA_BUNDLE",
        "GIT_SSL_CAINFO",
    ] {
        policy.env.push((name.into(), bundle.clone()));
    }
    // Node keeps its own roots and adds these.
    policy.env.push((
        "NODE_EXTRA_CA_CERTS".into(),
        format!("{TRUST_DIR}/{CA_FILE}"),
    ));
}

/// The environment of a command. `HOME` is the shell's own fresh `/tmp`, not
/// the workspace: programs read their configuration from `HOME` (git's
/// `~/.gitconfig` can hold aliases and hooks that run programs), and the
/// workspace is what earlier commands wrote. Git is also kept from the host's
/// system and global configuration.
fn exec_env() -> Vec<(String, String)> {
    [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", "/tmp"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("LANG", "C.UTF-8"),
        ("TERM", "dumb"),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .to_vec()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn run() -> ShellRun {
        ShellRun {
            session: "web-0a1b2c3d-00112233445566778899aabb".into(),
            command: "true".into(),
            timeout: std::time::Duration::from_secs(60),
            max_output_bytes: 1024,
            memory_mb: 64,
            max_pids: 16,
        }
    }

    #[test]
    fn no_shell_can_write_what_is_bound_in_and_an_exec_shell_sees_only_its_own_broker() {
        let shell = hardshell_config::Shell::default();
        let agent = agent(AgentShell {
            program: Path::new("/usr/local/bin/hardshell"),
            socket_dir: Path::new("/data/run/agent"),
            workspace: "/data/agent".into(),
            instructions: &["AGENTS.md", "SOUL.md"],
            shell: &shell,
            log_filter: None,
        });
        assert!(agent.binds.iter().all(|bind| !bind.writable));
        for protected in ["AGENTS.md", "SOUL.md", ".git"] {
            assert!(agent.protected.contains(&PathBuf::from(protected)));
        }
        assert!(!agent.env.iter().any(|(name, _)| name == "RUST_LOG"));

        let mut exec = exec("/data/workspaces/s".into(), &run(), 1 << 20);
        assert!(exec.binds.is_empty(), "no socket without a way out");
        assert!(exec.forward.is_empty());
        broker_way_out(&mut exec, "/data/run/exec/run-1-0".into(), None);
        let [bind] = exec.binds.as_slice() else {
            panic!("{:?}", exec.binds);
        };
        assert_eq!(bind.host, Path::new("/data/run/exec/run-1-0"));
        assert_eq!(bind.inside, Path::new(SOCKETS));
        assert!(!bind.writable);
        assert_eq!(exec.forward[0].port, PROXY_PORT);
        assert_eq!(exec.protected, [PathBuf::from(".git")]);
    }

    #[test]
    fn a_shell_with_a_way_out_trusts_the_egress_ca_through_files_bound_read_only() {
        let trust = TrustFiles {
            dir: "/data/run/egress-ca".into(),
            ca: "/data/run/egress-ca/egress-ca.pem".into(),
            bundle: "/data/run/egress-ca/ca-bundle.pem".into(),
            covers: vec!["/etc/ssl/certs/ca-certificates.crt".into()],
        };
        let mut policy = exec("/data/workspaces/s".into(), &run(), 1 << 20);
        broker_way_out(&mut policy, "/data/run/exec/run-1-0".into(), Some(&trust));
        assert!(policy.binds.iter().all(|bind| !bind.writable));
        let bound = |inside: &str| {
            policy
                .binds
                .iter()
                .find(|bind| bind.inside == Path::new(inside))
                .map(|bind| bind.host.clone())
        };
        assert_eq!(bound(TRUST_DIR), Some(trust.dir.clone()));
        assert_eq!(
            bound("/etc/ssl/certs/ca-certificates.crt"),
            Some(trust.bundle.clone())
        );
        let env: std::collections::HashMap<_, _> = policy.env.iter().cloned().collect();
        for name in [
            "SSL_CERT_FILE",
            "CURL_CA_BUNDLE",
            "REQUESTS_CA_BUNDLE",
            "GIT_SSL_CAINFO",
        ] {
            assert_eq!(env[name], "/run/hardshell-ca/ca-bundle.pem", "{name}");
        }
        assert_eq!(
            env["NODE_EXTRA_CA_CERTS"],
            "/run/hardshell-ca/egress-ca.pem"
        );
        assert_eq!(env["HTTPS_PROXY"], format!("http://127.0.0.1:{PROXY_PORT}"));
    }

    #[test]
    fn home_is_not_the_workspace_and_git_reads_no_host_configuration() {
        let env: std::collections::HashMap<_, _> = exec_env().into_iter().collect();
        assert_eq!(env["HOME"], "/tmp");
        assert_eq!(env["GIT_CONFIG_NOSYSTEM"], "1");
        assert_eq!(env["GIT_CONFIG_GLOBAL"], "/dev/null");
    }
}
