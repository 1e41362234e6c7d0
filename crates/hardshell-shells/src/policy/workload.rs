//! The workload's shell: an image (OpenClaw's, say) run as hardshell's
//! workload. Its root is the image's unpacked root instead of the host's
//! system; it may bind its one port, which the edge reaches through the
//! inbound forwarder; its way out is its broker, as an exec shell's is.

use std::path::PathBuf;

use hardshell_intercept::TrustFiles;
use hardshell_sandbox::{Bind, Inbound, Limits, Root, ShellPolicy};

use super::broker_way_out;

/// Largest file the workload may write, in bytes.
const WORKLOAD_MAX_FILE_BYTES: u64 = 1 << 30;
/// Open files per process: a server holds a socket per client and Node
/// opens many files at start; the agent's shell has the same.
const WORKLOAD_MAX_OPEN_FILES: u64 = 4096;
/// `PATH` when neither the image nor the configuration sets one (the value
/// container runtimes use).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Hosts the workload reaches directly, not through its broker: its own
/// loopback (its own port; the broker would refuse loopback anyway).
const NO_PROXY: &str = "localhost,127.0.0.1,::1";

/// What the workload's shell is made of: plain values, resolved by the
/// caller from the image's configuration and `[workload]`.
#[derive(Debug)]
pub struct WorkloadShell<'a> {
    /// The image's unpacked root on the host (`hardshell-image`'s store):
    /// absolute, without symlinks, readable by the shell's host id.
    pub image_root: PathBuf,
    /// The program and its arguments (the image's entrypoint and command,
    /// or `[workload]`'s).
    pub argv: Vec<String>,
    /// The environment: the image's, then `[workload.env]` (later entries
    /// win). The way out's variables are added over it.
    pub env: Vec<(String, String)>,
    /// Working directory inside the shell.
    pub cwd: PathBuf,
    /// The port the workload listens on, on its shell's `127.0.0.1`.
    pub port: u16,
    pub memory_bytes: u64,
    pub max_pids: u64,
    /// 100 is one core.
    pub cpu_percent: u32,
    pub tmp_bytes: u64,
    /// Bound at `/workspace`, writable.
    pub workspace: PathBuf,
    /// Writable binds: the state directory (OpenClaw's `~/.openclaw`).
    pub state: Vec<StateBind>,
    /// When OpenClaw is the workload: its skills, bound read-only over
    /// where it loads them from inside the (first) state directory.
    pub skills: Option<SkillBinds>,
    /// Its broker's socket directory on the host (bound read-only at
    /// [`super::SOCKETS`]), and the egress CA to trust; `None`: no way out.
    pub way_out: Option<(PathBuf, Option<&'a TrustFiles>)>,
    /// With `[workload] browser`: a forwarder on its loopback's
    /// [`hardshell_protocol::socket::SHELL_CDP_PORT`] to the browser socket
    /// in that directory, announced as `HARDSHELL_CDP_URL`. Needs a way out
    /// (the directory is the way out's).
    pub browser: bool,
}

/// A directory of the host the workload may write, at `inside`.
#[derive(Debug, Clone)]
pub struct StateBind {
    pub host: PathBuf,
    pub inside: PathBuf,
}

/// OpenClaw's default workspace inside its state directory (its
/// `~/.openclaw`). It is bound over itself, writable, so that it is a mount
/// point the workload cannot rename: moved aside, a new `workspace` of its
/// making would hold skill directories hardshell never covered.
pub const OPENCLAW_WORKSPACE: &str = "workspace";
/// OpenClaw's managed skills directory inside its state directory: the
/// locked skills, read-only. Its parent, the state, is a mount point, so it
/// cannot be moved aside either.
pub const OPENCLAW_MANAGED_SKILLS: &str = "skills";
/// Where else OpenClaw loads skills from in its default workspace: its
/// `skills`, and `.agents` (whose `skills` the AgentSkills layout reads;
/// the whole folder is covered, as a mount point its parent cannot lose):
/// empty and read-only.
pub const OPENCLAW_WORKSPACE_SKILLS: [&str; 2] = ["workspace/skills", "workspace/.agents"];
/// Every path inside the state directory these binds are mounted at, in
/// mount order: each must be a real directory (no symlink on the way)
/// before the shell starts, which the caller makes sure of.
pub const OPENCLAW_SKILL_DIRS: [&str; 4] = [
    OPENCLAW_WORKSPACE,
    OPENCLAW_MANAGED_SKILLS,
    OPENCLAW_WORKSPACE_SKILLS[0],
    OPENCLAW_WORKSPACE_SKILLS[1],
];

/// OpenClaw's skills for its shell: host directories hardshell wrote and
/// owns, each bound read-only.
#[derive(Debug, Clone)]
pub struct SkillBinds {
    /// The locked skills, one folder each, checked against their digests.
    pub locked: PathBuf,
    /// An empty directory: what the other skill locations show.
    pub empty: PathBuf,
}

/// The workload's policy and program.
#[derive(Debug)]
pub struct Workload {
    pub policy: ShellPolicy,
    pub argv: Vec<String>,
}

/// The workload's shell: the image's root read-only as `/`, its workspace
/// and state writable, a bounded `/tmp`, its port bindable (and reachable
/// only through the inbound forwarder), its broker as its one way out, and
/// every layer of any other shell. Start it with
/// `hardshell_sandbox::spawn_inbound`.
pub fn workload(shell: WorkloadShell<'_>) -> Workload {
    let skills = shell
        .state
        .first()
        .zip(shell.skills)
        .map(|(state, skills)| skill_binds(state, skills));
    let mut policy = ShellPolicy {
        name: "workload".into(),
        workspace: shell.workspace,
        protected: Vec::new(),
        root: Root::Image(shell.image_root),
        // The skills after the state: a bind is mounted over the ones before.
        binds: shell
            .state
            .into_iter()
            .map(|state| Bind {
                host: state.host,
                inside: state.inside,
                writable: true,
            })
            .chain(skills.into_iter().flatten())
            .collect(),
        env: shell.env,
        forward: Vec::new(),
        inbound: Some(Inbound { port: shell.port }),
        cwd: shell.cwd,
        limits: Limits {
            memory_bytes: shell.memory_bytes,
            max_pids: shell.max_pids,
            cpu_percent: shell.cpu_percent,
            // It lives as long as the edge; the supervisor restarts it.
            wall_clock: None,
            tmp_bytes: shell.tmp_bytes,
            file_size_bytes: WORKLOAD_MAX_FILE_BYTES,
            open_files: WORKLOAD_MAX_OPEN_FILES,
        },
    };
    // The image's root is read-only, where a container's is a writable layer:
    // caches (OpenClaw's sqlite keeps its temporary files under
    // `~/.cache`) go to the shell's bounded /tmp unless the image says
    // otherwise.
    for (name, value) in [
        ("PATH", DEFAULT_PATH),
        ("HOME", "/tmp"),
        ("XDG_CACHE_HOME", "/tmp/.cache"),
    ] {
        if !policy.env.iter().any(|(set, _)| set == name) {
            policy.env.push((name.into(), value.into()));
        }
    }
    if let Some((broker_dir, trust)) = shell.way_out {
        broker_way_out(&mut policy, broker_dir, trust);
        for name in ["NO_PROXY", "no_proxy"] {
            policy.env.push((name.into(), NO_PROXY.into()));
        }
        if shell.browser {
            policy.forward.push(hardshell_sandbox::Forward {
                port: hardshell_protocol::socket::SHELL_CDP_PORT,
                to: hardshell_protocol::socket::shell_browser_socket(),
            });
            policy.env.push((
                "HARDSHELL_CDP_URL".into(),
                hardshell_protocol::socket::workload_cdp_url(),
            ));
        }
    }
    policy.env = later_wins(policy.env);
    Workload {
        policy,
        argv: shell.argv,
    }
}

/// OpenClaw's workspace bound over itself, then its skill directories
/// read-only, inside `state`.
fn skill_binds(state: &StateBind, skills: SkillBinds) -> Vec<Bind> {
    OPENCLAW_SKILL_DIRS
        .iter()
        .map(|relative| {
            let (host, writable) = match *relative {
                OPENCLAW_WORKSPACE => (state.host.join(relative), true),
                OPENCLAW_MANAGED_SKILLS => (skills.locked.clone(), false),
                _ => (skills.empty.clone(), false),
            };
            Bind {
                host,
                inside: state.inside.join(relative),
                writable,
            }
        })
        .collect()
}

/// One entry per name, the last one given: a program reads the first of
/// two, so an image's own `HTTPS_PROXY` would otherwise beat the broker's.
fn later_wins(env: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = Vec::with_capacity(env.len());
    for (name, value) in env {
        kept.retain(|(seen, _)| *seen != name);
        kept.push((name, value));
    }
    kept
}

#[cfg(test)]
mod tests;
