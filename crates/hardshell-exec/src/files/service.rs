//! The exec service's side of files: a deposit counts as a run in the
//! workspace (so an approval asked before it no longer holds), a shared
//! file is kept and announced; both are audited by digest.

use bytes::Bytes;
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{FileDeposited, FileShared};
use sha2::{Digest, Sha256};

use super::{Deposit, FileError, SharedFileInfo, Take, TakenFile, safe_file_name};
use crate::{ExecEvent, ExecService, is_session_id, lock, random_id};

impl ExecService {
    /// Puts `bytes`, named `name` by a chat platform (cleaned here), into
    /// `session`'s workspace at `inbox/<name>`; returns the name it got
    /// (numbered when taken).
    ///
    /// Held as a run in the workspace while it writes: a deposit changes
    /// the workspace like a command does, so a question asked before it
    /// can no longer be approved (see [`crate::workspaces`]).
    pub async fn deposit(
        &self,
        session: &str,
        name: &str,
        bytes: Bytes,
    ) -> Result<String, FileError> {
        if !is_session_id(session) {
            return Err(FileError::SessionId);
        }
        let max = self.config.max_file_bytes();
        let size = bytes.len() as u64;
        if size > max {
            return Err(FileError::TooLarge { size, max });
        }
        let digest = hex::encode(Sha256::digest(&bytes));
        let deposit = Deposit {
            session: session.to_owned(),
            name: safe_file_name(name),
            bytes,
        };
        let workspace_run = self.workspaces.start(session);
        let written = self.shell.deposit(deposit).await;
        drop(workspace_run);
        let name = written?;
        self.audit.note(AuditEvent::FileDeposited(FileDeposited {
            session: session.to_owned(),
            name: name.clone(),
            size,
            sha256: digest,
        }));
        tracing::info!(session = %session, name = %name, size, "a file was put in the workspace inbox");
        Ok(name)
    }

    /// Shares the file at `path` (`/workspace/...`) of `session`'s
    /// workspace: keeps a copy for the session's owner under a random id,
    /// and tells the session's clients ([`ExecEvent::File`]).
    pub async fn share(&self, session: &str, path: &str) -> Result<SharedFileInfo, FileError> {
        if !is_session_id(session) {
            return Err(FileError::SessionId);
        }
        let take = Take {
            session: session.to_owned(),
            path: path.to_owned(),
            max_bytes: self.config.max_file_bytes(),
        };
        let TakenFile { name, bytes } = self.shell.take(take).await?;
        let id = random_id().ok_or(FileError::NoRandomness)?;
        let size = bytes.len() as u64;
        self.audit.note(AuditEvent::FileShared(FileShared {
            session: session.to_owned(),
            name: name.clone(),
            size,
            sha256: hex::encode(Sha256::digest(&bytes)),
        }));
        lock(&self.shared).keep(session, id.clone(), name.clone(), bytes);
        let info = SharedFileInfo { id, name, size };
        // Nobody listening (no chat open) is not an error: the file is kept.
        let _ = self.events.send(ExecEvent::File {
            session: session.to_owned(),
            file: info.clone(),
        });
        Ok(info)
    }

    /// `session`'s shared file `id`, while it is kept: its name and bytes.
    pub fn shared_file(&self, session: &str, id: &str) -> Option<(String, Bytes)> {
        lock(&self.shared).get(session, id)
    }
}
