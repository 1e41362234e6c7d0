//! What one module was granted: the hosts it may reach, its workspace, its
//! memory and its time. Anything not written here does not exist for it.

use std::path::{Path, PathBuf};

pub use hardshell_module_wire::HostGrant;
use hardshell_module_wire::{ModuleGrants, WorkspaceGrant};

/// The smallest memory a module may be given: below this even a small Rust
/// component cannot instantiate, and the owner would only see traps.
pub const MIN_MEMORY_MB: u32 = 1;
/// The largest: a module is a tool call, not a workload.
pub const MAX_MEMORY_MB: u32 = 4096;
/// The longest a call may run.
pub const MAX_TIMEOUT_MS: u64 = 10 * 60 * 1000;

/// The capabilities accepted for one module, as the host applies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    /// Where its outgoing HTTP requests may go; empty: nowhere.
    pub hosts: Vec<HostGrant>,
    /// Besides `hosts`: `GET` and `HEAD` of any host on its scheme's default
    /// port (the broker refuses internal addresses).
    pub public_web: bool,
    /// Its view of the conversation's workspace, if any.
    pub workspace: Workspace,
    /// Linear memory (all memories together) a call may hold, in MiB.
    pub memory_mb: u32,
    /// Wall-clock time a call may take, compute and waiting alike.
    pub timeout_ms: u64,
}

impl Grants {
    /// Nothing but computation: no hosts, no workspace.
    pub fn compute_only(memory_mb: u32, timeout_ms: u64) -> Self {
        Self {
            hosts: Vec::new(),
            public_web: false,
            workspace: Workspace::None,
            memory_mb,
            timeout_ms,
        }
    }

    /// What the edge sent (`grants`), the workspace (if granted) at
    /// `workspace` as the host process sees it.
    pub fn from_wire(grants: ModuleGrants, workspace: &Path) -> Self {
        let workspace = match grants.workspace {
            WorkspaceGrant::None => Workspace::None,
            WorkspaceGrant::Read => Workspace::Read(workspace.to_path_buf()),
            WorkspaceGrant::Write => Workspace::Write(workspace.to_path_buf()),
        };
        Self {
            hosts: grants.hosts,
            public_web: grants.public_web,
            workspace,
            memory_mb: grants.memory_mb,
            timeout_ms: grants.timeout_ms,
        }
    }

    /// Refuses grants the host could not apply as written: a limit out of
    /// range, a scheme it does not speak, or a path prefix that is no path.
    pub fn validate(&self) -> Result<(), GrantError> {
        if !(MIN_MEMORY_MB..=MAX_MEMORY_MB).contains(&self.memory_mb) {
            return Err(GrantError::MemoryOutOfRange(self.memory_mb));
        }
        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            return Err(GrantError::TimeoutOutOfRange(self.timeout_ms));
        }
        self.hosts.iter().try_for_each(validate_host)
    }
}

/// One host's grant, checked before the host applies it.
fn validate_host(grant: &HostGrant) -> Result<(), GrantError> {
    if grant.scheme != "http" && grant.scheme != "https" {
        return Err(GrantError::Scheme(grant.scheme.clone()));
    }
    if let Some(prefix) = &grant.path_prefix
        && !prefix.starts_with('/')
    {
        return Err(GrantError::PathPrefix(prefix.clone()));
    }
    Ok(())
}

/// The module's view of the conversation's workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workspace {
    /// No `/workspace` at all.
    None,
    /// `/workspace` is this host directory, read only.
    Read(PathBuf),
    /// `/workspace` is this host directory, readable and writable.
    Write(PathBuf),
}

/// A grant the host refuses to apply.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GrantError {
    #[error("memory_mb {0} is out of range: give between {MIN_MEMORY_MB} and {MAX_MEMORY_MB} MiB")]
    MemoryOutOfRange(u32),
    #[error("timeout_ms {0} is out of range: give between 1 and {MAX_TIMEOUT_MS} ms")]
    TimeoutOutOfRange(u64),
    #[error("host grant scheme {0:?} is not supported: use http or https")]
    Scheme(String),
    #[error("host grant path prefix {0:?} must start with /")]
    PathPrefix(String),
}

#[cfg(test)]
mod tests {
    use hardshell_vocabulary::Host;

    use super::*;

    fn grant() -> HostGrant {
        HostGrant {
            scheme: "http".into(),
            host: Host::parse("api.example.com").expect("a host name"),
            port: 80,
            methods: None,
            path_prefix: None,
        }
    }

    #[test]
    fn plain_grants_are_accepted() {
        let mut grants = Grants::compute_only(16, 1000);
        grants.hosts.push(grant());
        assert_eq!(grants.validate(), Ok(()));
    }

    #[test]
    fn limits_out_of_range_are_refused() {
        assert_eq!(
            Grants::compute_only(0, 1000).validate(),
            Err(GrantError::MemoryOutOfRange(0))
        );
        assert_eq!(
            Grants::compute_only(16, 0).validate(),
            Err(GrantError::TimeoutOutOfRange(0))
        );
    }

    #[test]
    fn odd_schemes_and_path_prefixes_are_refused() {
        let mut grants = Grants::compute_only(16, 1000);
        grants.hosts.push(HostGrant {
            scheme: "ftp".into(),
            ..grant()
        });
        assert_eq!(grants.validate(), Err(GrantError::Scheme("ftp".into())));
        let mut grants = Grants::compute_only(16, 1000);
        grants.hosts.push(HostGrant {
            path_prefix: Some("api".into()),
            ..grant()
        });
        assert_eq!(grants.validate(), Err(GrantError::PathPrefix("api".into())));
    }
}
