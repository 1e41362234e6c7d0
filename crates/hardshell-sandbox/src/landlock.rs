//! Landlock, in hard-requirement mode: the shell's file tree again, as access
//! rights the kernel checks on every open (so a mount mistake alone does not
//! open a way out); TCP connect only to the forwarder's port and bind only to
//! the shell's own inbound port, if it has them; abstract unix sockets and
//! signals scoped to the shell's own domain. If the kernel cannot enforce all
//! of it, the shell does not start.

use std::io;
use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};

/// The ABI whose every feature is required: [`crate::LANDLOCK_ABI`].
const REQUIRED: ABI = ABI::V6;

/// Paths inside the shell and what may be done beneath each.
#[derive(Debug, Clone, Default)]
pub struct FsRules {
    /// Read files and list directories.
    pub read_only: Vec<PathBuf>,
    /// Also execute.
    pub read_exec: Vec<PathBuf>,
    /// Everything: create, write, remove, execute.
    pub read_write: Vec<PathBuf>,
    /// Device files that may be read and written (`/dev/null`, …).
    pub devices: Vec<PathBuf>,
    /// TCP ports on the shell's loopback it may connect to (its forwarder's).
    pub connect_ports: Vec<u16>,
    /// TCP ports it may bind (its own inbound port: the workload's shell).
    pub bind_ports: Vec<u16>,
}

/// Restricts the calling thread (and what it execs) to `rules`.
pub fn enforce(rules: &FsRules) -> io::Result<()> {
    let error = |e: &dyn std::fmt::Display| io::Error::other(e.to_string());
    let all = AccessFs::from_all(REQUIRED);
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let exec = read | AccessFs::Execute;
    let device = AccessFs::ReadFile | AccessFs::WriteFile;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(all)
        .map_err(|e| error(&e))?
        .handle_access(AccessNet::from_all(REQUIRED))
        .map_err(|e| error(&e))?
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(|e| error(&e))?
        .create()
        .map_err(|e| error(&e))?;
    let groups = [
        (&rules.read_only, read),
        (&rules.read_exec, exec),
        (&rules.read_write, all),
        (&rules.devices, device),
    ];
    for (paths, access) in groups {
        for path in paths {
            // A file takes file rights only (a directory right on it is an error).
            let access = if path.is_dir() {
                access
            } else {
                access & AccessFs::from_file(REQUIRED)
            };
            let fd = PathFd::new(path)
                .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, access))
                .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
        }
    }
    for port in &rules.connect_ports {
        ruleset = ruleset
            .add_rule(NetPort::new(*port, AccessNet::ConnectTcp))
            .map_err(|e| error(&e))?;
    }
    for port in &rules.bind_ports {
        ruleset = ruleset
            .add_rule(NetPort::new(*port, AccessNet::BindTcp))
            .map_err(|e| error(&e))?;
    }
    let status = ruleset.restrict_self().map_err(|e| error(&e))?;
    if status.ruleset != RulesetStatus::FullyEnforced {
        return Err(io::Error::other(format!(
            "the kernel enforces it only {:?}",
            status.ruleset
        )));
    }
    Ok(())
}

#[cfg(test)]
#[test]
fn the_abi_required_is_the_one_the_crate_says() {
    let said = ABI::from(crate::LANDLOCK_ABI as i32);
    assert_eq!(said, REQUIRED);
}
