//! Conversations' workspaces on the host: `<data>/workspaces/<session>`,
//! each a volume of its own (`hardshell_sandbox::volume`), mounted at its
//! first use and kept mounted. The exec tool's shells and the shells of
//! modules granted the workspace see the same one at `/workspace`.

use std::path::PathBuf;
use std::sync::Arc;

use hardshell_exec::ToolShellError;
use hardshell_sandbox::volume::Volumes;

/// Where each session's workspace is, and the volumes they are.
#[derive(Debug, Clone)]
pub struct SessionWorkspaces {
    /// Absolute and without symlinks: shells bind exactly these paths.
    dir: PathBuf,
    volumes: Arc<Volumes>,
}

impl SessionWorkspaces {
    /// Workspaces under `dir` (made, mode 0700, if missing), each a volume
    /// of `volumes`. Volumes left mounted there by a killed edge are
    /// detached: open them once, at the start, and share the value.
    pub fn open(dir: PathBuf, volumes: Arc<Volumes>) -> std::io::Result<Self> {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let dir = dir.canonicalize()?;
        hardshell_sandbox::volume::unmount_stale_under(&dir)?;
        Ok(Self { dir, volumes })
    }

    /// Where `session`'s workspace is, on the host (mounted or not).
    pub fn path(&self, session: &str) -> PathBuf {
        self.dir.join(session)
    }

    /// `session`'s workspace, its volume mounted (at its first use).
    pub async fn mounted(&self, session: &str) -> Result<PathBuf, ToolShellError> {
        // It becomes a directory name.
        if !hardshell_exec::is_session_id(session) {
            return Err(ToolShellError::SessionId);
        }
        let workspace = self.path(session);
        let (volumes, at) = (self.volumes.clone(), workspace.clone());
        let volume = format!("exec-{session}");
        tokio::task::spawn_blocking(move || volumes.mount(&volume, &at))
            .await?
            .map_err(|e| ToolShellError::MountWorkspace(e.into()))?;
        Ok(workspace)
    }
}
