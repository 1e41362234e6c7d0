//! `hardshell service install|uninstall`: `up` as a systemd service.
//!
//! The unit is `Type=notify` (`up` says READY=1 once it serves), runs
//! `up --check` before each start, logs to the journal (standard error), and
//! takes the hardening systemd offers that leaves the shells working. What it
//! leaves out, and why, is written in the unit itself, for the reader of
//! `systemctl cat`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::cli::{Global, ServiceCommand};
use crate::context;

pub async fn run(global: &Global, command: &ServiceCommand) -> anyhow::Result<()> {
    match command {
        ServiceCommand::Install { unit_dir, name } => install(global, unit_dir, name),
        ServiceCommand::Uninstall { unit_dir, name } => uninstall(unit_dir, name),
    }
}

/// A unit name systemd takes, and that is safe in a path.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        bail!("{name:?} is not a unit name: letters, digits, '-' and '_'");
    }
    Ok(())
}

/// Whether systemd is this machine's init, so systemctl can be run.
fn systemd_runs() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// A path as the unit writes it: absolute, and quoted for systemd's
/// command-line and assignment syntax.
fn quoted(path: &Path) -> anyhow::Result<String> {
    let text = path
        .to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))?;
    if text
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\\' || c == '%' || c == '$')
    {
        bail!("{text:?} has a character the unit cannot hold plainly");
    }
    Ok(format!("\"{text}\""))
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// The unit's text for `binary` serving `config`, whose data directory is
/// `data_dir`.
pub fn unit(binary: &Path, config: &Path, data_dir: &Path) -> anyhow::Result<String> {
    let (binary, config_q, data) = (quoted(binary)?, quoted(config)?, quoted(data_dir)?);
    let parent = config.parent().unwrap_or(Path::new("/"));
    let directory = quoted(parent)?;
    // WorkingDirectory= takes the rest of its line as the path, unquoted.
    let working = directory.trim_matches('"').to_owned();
    Ok(format!(
        "# Written by `hardshell service install`; `hardshell service uninstall` removes it.
[Unit]
Description=hardshell: a self-hosted AI agent behind its own edge
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
WorkingDirectory={working}
# The config, the master key, the stores, every credential and the
# certificate files are checked before each start: a bad config fails the
# start here, with its reason in the journal. Run `hardshell up --check`
# yourself before a restart, so a bad change never stops a running service.
ExecStartPre={binary} --config {config_q} up --check
ExecStart={binary} --config {config_q} up
# SIGHUP: up checks the config on disk as `up --check` does; a bad one is
# refused (said in the journal) and the running one kept, a good one makes up
# stop and start again with it in the same process.
ExecReload=/bin/kill -HUP $MAINPID
# SIGTERM drains the edge for up to 10 s, stops the agent and flushes the
# audit log; the shells are hardshell's to stop (KillMode=mixed sends SIGTERM
# to up alone, and SIGKILL to whatever is left at the end).
KillMode=mixed
TimeoutStartSec=180
TimeoutStopSec=60
Restart=on-failure
RestartSec=5
# Logs go to standard error, which is the journal.
StandardOutput=journal
StandardError=journal
UMask=0077
LimitNOFILE=65536

# Hardening that leaves the shells working. up runs as root: it makes each
# shell's namespaces, mounts, cgroups and network, and the shell itself drops
# every privilege (user namespace, seccomp, Landlock, no capabilities).
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={data} {directory}
ProtectHome=read-only
PrivateTmp=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectClock=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
# Left out on purpose:
#   RestrictNamespaces, PrivateUsers: each shell is a set of new namespaces.
#   ProtectControlGroups: each shell gets cgroups of its own, written here.
#   ProtectHostname: it forbids sethostname, which a shell's init calls in
#     its own UTS namespace.
#   ProtectKernelTunables: it makes /sys read-only, and each shell's cgroups
#     are written under /sys/fs/cgroup.
#   MemoryDenyWriteExecute: modules (wasmtime) and the browser (V8) compile
#     code at run time.
#   CapabilityBoundingSet, SystemCallFilter: up needs the capabilities and
#     system calls that build a shell (mount, pivot_root, clone3, setns, ...);
#     each shell is filtered by hardshell's own seccomp list.
#   PrivateDevices: shells bind /dev/null, /dev/urandom and the like.

[Install]
WantedBy=multi-user.target
",
    ))
}

fn install(global: &Global, unit_dir: &Path, name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    let loaded = context::load_config(global)?;
    let config = absolute(&loaded.path)?;
    let data_dir = absolute(&loaded.data_dir())?;
    let binary = std::env::current_exe().context("finding the hardshell binary")?;
    let text = unit(&binary, &config, &data_dir)?;
    let path = unit_dir.join(format!("{name}.service"));
    if path.exists() {
        bail!(
            "{} exists: `hardshell service uninstall` first, or give another --name",
            path.display()
        );
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    println!("wrote {}", path.display());
    let steps: [&[&str]; 2] = [&["daemon-reload"], &["enable", "--now", name]];
    if systemd_runs() && unit_dir == Path::new("/etc/systemd/system") {
        for step in steps {
            systemctl(step)?;
        }
        println!("started {name}: journalctl -u {name} shows its log");
    } else {
        println!("systemd does not run here (or the unit is elsewhere); to start it:");
        for step in steps {
            println!("  systemctl {}", step.join(" "));
        }
    }
    Ok(())
}

fn uninstall(unit_dir: &Path, name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    let path = unit_dir.join(format!("{name}.service"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    if !text.starts_with("# Written by `hardshell service install`") {
        bail!(
            "{} was not written by hardshell: not removing it",
            path.display()
        );
    }
    let managed = systemd_runs() && unit_dir == Path::new("/etc/systemd/system");
    if managed {
        systemctl(&["disable", "--now", name])?;
    }
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    if managed {
        systemctl(&["daemon-reload"])?;
    }
    println!("removed {}", path.display());
    Ok(())
}

fn systemctl(args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("systemctl")
        .args(args)
        .status()
        .context("running systemctl")?;
    if !status.success() {
        bail!("systemctl {} failed ({status})", args.join(" "));
    }
    Ok(())
}
