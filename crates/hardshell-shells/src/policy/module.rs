//! A module's shell: its host process (`hardshell-module-host`), which
//! compiles the module's component and runs its tool calls. wasmtime keeps
//! a module from the host process; this shell keeps the host process (and
//! a module that escaped wasmtime) from the machine: the host's system
//! read-only, the host program and the component bound in read-only, the
//! workspace of one conversation only when the module is granted it (its
//! shell serves that conversation alone; read-only unless granted write),
//! and one way out, the module's own broker listener, which holds only the
//! module's routes.

use std::path::PathBuf;

use hardshell_module_wire::CONVERSATION_WORKSPACE;
use hardshell_sandbox::{Bind, Forward, Limits, Root, ShellPolicy};

use super::{PROXY_PORT, SOCKETS};

/// Where a module's shell has the module host program.
pub const MODULE_HOST_PROGRAM: &str = "/opt/hardshell/module-host";

/// Where a module's shell has its component's directory.
pub const COMPONENT_DIR: &str = "/module";
/// The component, inside [`COMPONENT_DIR`].
pub const COMPONENT_FILE: &str = "module.wasm";
/// What the host process needs beyond the module's own memory: the
/// compiler (Cranelift) while it compiles, the runtime, the buffers the
/// module host bounds (bodies, answers).
pub const HOST_MEMORY_BYTES: u64 = 384 << 20;
/// Processes and threads: the runtime's workers, its blocking pool (file
/// access for a granted workspace), the epoch ticker, the log writer.
const MODULE_MAX_PIDS: u64 = 64;
/// Open files per process.
const MODULE_MAX_OPEN_FILES: u64 = 256;
/// Largest file it may write: it writes none but on `/tmp`.
const MODULE_MAX_FILE_BYTES: u64 = 1 << 20;

/// What a module's shell is made of, resolved by the caller.
#[derive(Debug)]
pub struct ModuleShell {
    /// The module host program on the host, bound in at
    /// [`MODULE_HOST_PROGRAM`].
    pub program: PathBuf,
    /// The module's directory on the host holding [`COMPONENT_FILE`] (the
    /// edge's, read-only to the shell), bound at [`COMPONENT_DIR`].
    pub component_dir: PathBuf,
    /// An empty directory of root's (mode 0555), bound at `/workspace` as
    /// every shell's workspace is.
    pub workspace: PathBuf,
    /// The conversation's workspace, when the module is granted it: bound
    /// at [`CONVERSATION_WORKSPACE`] (the sandbox keeps `/workspace` for the
    /// shell's own, read-write).
    pub granted_workspace: Option<GrantedWorkspace>,
    /// The module's broker socket directory on the host, bound read-only at
    /// [`SOCKETS`].
    pub broker_dir: PathBuf,
    /// The module's own memory cap (its accepted `memory_mb`), in bytes;
    /// the shell allows [`HOST_MEMORY_BYTES`] more.
    pub module_memory_bytes: u64,
    /// 100 is one core.
    pub cpu_percent: u32,
    pub tmp_bytes: u64,
}

/// A conversation's workspace as a module's shell is given it.
#[derive(Debug)]
pub struct GrantedWorkspace {
    /// The workspace on the host (its volume mounted).
    pub host: PathBuf,
    /// Granted `write`; otherwise bound read-only.
    pub writable: bool,
}

/// The module's shell (see the module). Start it with
/// `hardshell_sandbox::spawn`, the call lines on its standard streams.
pub fn module(shell: ModuleShell) -> ShellPolicy {
    // The conversation's workspace, when granted: read-only unless granted
    // write (the mount, and Landlock with it).
    let granted = shell.granted_workspace.map(|granted| Bind {
        host: granted.host,
        inside: PathBuf::from(CONVERSATION_WORKSPACE),
        writable: granted.writable,
    });
    let env = [("PATH", "/usr/bin:/bin"), ("HOME", "/tmp")]
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .to_vec();
    ShellPolicy {
        name: "module".into(),
        workspace: shell.workspace,
        protected: Vec::new(),
        root: Root::host_system(),
        binds: vec![
            Bind {
                host: shell.program,
                inside: MODULE_HOST_PROGRAM.into(),
                writable: false,
            },
            Bind {
                host: shell.component_dir,
                inside: COMPONENT_DIR.into(),
                writable: false,
            },
            Bind {
                host: shell.broker_dir,
                inside: SOCKETS.into(),
                writable: false,
            },
        ]
        .into_iter()
        .chain(granted)
        .collect(),
        env,
        forward: vec![Forward {
            port: PROXY_PORT,
            to: hardshell_protocol::socket::shell_broker_socket(),
        }],
        inbound: None,
        cwd: PathBuf::from("/tmp"),
        limits: Limits {
            memory_bytes: shell.module_memory_bytes.saturating_add(HOST_MEMORY_BYTES),
            max_pids: MODULE_MAX_PIDS,
            cpu_percent: shell.cpu_percent,
            // It lives as long as the edge; each call has its own deadline,
            // and the runner kills the shell past it.
            wall_clock: None,
            tmp_bytes: shell.tmp_bytes,
            file_size_bytes: MODULE_MAX_FILE_BYTES,
            open_files: MODULE_MAX_OPEN_FILES,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn a_module_shell_writes_nothing_of_the_host_and_reaches_only_its_broker() {
        let policy = module(ModuleShell {
            program: "/data/run/modules/module-host".into(),
            component_dir: "/data/run/modules/web-search/component".into(),
            workspace: "/data/run/modules/empty".into(),
            granted_workspace: None,
            broker_dir: "/data/run/modules/web-search/broker".into(),
            module_memory_bytes: 64 << 20,
            cpu_percent: 100,
            tmp_bytes: 16 << 20,
        });
        assert!(policy.binds.iter().all(|bind| !bind.writable));
        let inside: Vec<&Path> = policy
            .binds
            .iter()
            .map(|bind| bind.inside.as_path())
            .collect();
        assert_eq!(
            inside,
            [
                Path::new(MODULE_HOST_PROGRAM),
                Path::new(COMPONENT_DIR),
                Path::new(SOCKETS)
            ]
        );
        let ports: Vec<u16> = policy.forward.iter().map(|forward| forward.port).collect();
        assert_eq!(ports, [PROXY_PORT]);
        assert!(policy.inbound.is_none());
        assert_eq!(policy.limits.memory_bytes, (64 << 20) + HOST_MEMORY_BYTES);
        assert!(!policy.env.iter().any(|(name, _)| name.ends_with("_PROXY")));
    }

    #[test]
    fn a_granted_workspace_is_bound_read_only_unless_write() {
        for writable in [false, true] {
            let policy = module(ModuleShell {
                program: "/data/run/modules/module-host".into(),
                component_dir: "/data/run/modules/notes/component".into(),
                workspace: "/data/run/modules/empty".into(),
                granted_workspace: Some(GrantedWorkspace {
                    host: "/data/workspaces/web-abc".into(),
                    writable,
                }),
                broker_dir: "/data/run/modules/notes/broker".into(),
                module_memory_bytes: 64 << 20,
                cpu_percent: 100,
                tmp_bytes: 16 << 20,
            });
            assert_eq!(policy.workspace, Path::new("/data/run/modules/empty"));
            let last = policy.binds.last().unwrap();
            assert_eq!(last.host, Path::new("/data/workspaces/web-abc"));
            assert_eq!(last.inside, Path::new(CONVERSATION_WORKSPACE));
            assert_eq!(last.writable, writable);
            let others = &policy.binds[..policy.binds.len() - 1];
            assert!(others.iter().all(|bind| !bind.writable));
        }
    }
}
