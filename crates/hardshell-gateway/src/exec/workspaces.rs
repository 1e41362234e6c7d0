//! What has happened to each session's workspace since a question was put to
//! its owner: an approval covers the workspace as it was when it was asked.
//!
//! The owner approves a command's text, but the text runs whatever the
//! workspace then holds: `bash build.sh` approved after an allowlisted
//! `echo 'id > pwned' > build.sh` ran in the meantime runs the new script.
//! Pinning the content of what a command reads would need knowing which files
//! that is (a script names others, reads config, sources) — vetting cannot
//! know. So the edge refuses instead: every run in a workspace bumps its
//! generation when it starts and again when it ends, and an approved command
//! runs only if the generation is the one its question was asked at and no
//! other command is running there. Nothing else writes a workspace: the
//! agent's own shell does not see them, and only the edge starts exec shells.

use std::collections::HashMap;
use std::sync::Mutex;

use super::lock;

/// Each session's workspace: how often runs started or ended in it, and how
/// many are running now.
#[derive(Debug, Default)]
pub(super) struct Workspaces {
    sessions: Mutex<HashMap<String, Workspace>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Workspace {
    generation: u64,
    running: u32,
}

/// The workspace changed since the question was asked, or a command is
/// running in it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Changed;

impl Workspaces {
    /// The generation of `session`'s workspace now, for a question asked now.
    pub(super) fn generation(&self, session: &str) -> u64 {
        lock(&self.sessions)
            .get(session)
            .map_or(0, |workspace| workspace.generation)
    }

    /// A run starts in `session`'s workspace; it ends when the guard drops
    /// (also when the run is cancelled).
    pub(super) fn start(&self, session: &str) -> WorkspaceRun<'_> {
        let mut sessions = lock(&self.sessions);
        let workspace = sessions.entry(session.to_owned()).or_default();
        workspace.begin();
        WorkspaceRun {
            workspaces: self,
            session: session.to_owned(),
        }
    }

    /// An approved run starts, only if the workspace is as it was when its
    /// question was asked (`asked_at`) and nothing runs in it: checked and
    /// started under one lock, so no run slips in between.
    pub(super) fn start_approved(
        &self,
        session: &str,
        asked_at: u64,
    ) -> Result<WorkspaceRun<'_>, Changed> {
        let mut sessions = lock(&self.sessions);
        let workspace = sessions.entry(session.to_owned()).or_default();
        if workspace.generation != asked_at || workspace.running > 0 {
            return Err(Changed);
        }
        workspace.begin();
        Ok(WorkspaceRun {
            workspaces: self,
            session: session.to_owned(),
        })
    }
}

impl Workspace {
    fn begin(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.running = self.running.saturating_add(1);
    }
}

/// A run in a workspace, until dropped.
#[derive(Debug)]
pub(super) struct WorkspaceRun<'a> {
    workspaces: &'a Workspaces,
    session: String,
}

impl Drop for WorkspaceRun<'_> {
    fn drop(&mut self) {
        let mut sessions = lock(&self.workspaces.sessions);
        let workspace = sessions.entry(self.session.clone()).or_default();
        // Bumped again at the end: a run that was going when a question was
        // asked may have written after it.
        workspace.generation = workspace.generation.wrapping_add(1);
        workspace.running = workspace.running.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_holds_only_while_the_workspace_is_unchanged() {
        let workspaces = Workspaces::default();
        let asked = workspaces.generation("s-1");
        // Nothing ran: the approved command may run.
        assert!(workspaces.start_approved("s-1", asked).is_ok());
        // It ran, so a question asked before it is stale.
        assert_eq!(workspaces.start_approved("s-1", asked).err(), Some(Changed));
        // Another session's runs do not touch this one's.
        let asked = workspaces.generation("s-1");
        drop(workspaces.start("s-2"));
        assert!(workspaces.start_approved("s-1", asked).is_ok());
    }

    #[test]
    fn an_approved_command_waits_for_no_run_that_is_still_going() {
        let workspaces = Workspaces::default();
        let going = workspaces.start("s-1");
        // Asked while a command runs: it may still write.
        let asked = workspaces.generation("s-1");
        assert_eq!(workspaces.start_approved("s-1", asked).err(), Some(Changed));
        drop(going);
        assert_eq!(workspaces.start_approved("s-1", asked).err(), Some(Changed));
        // Unasked runs (allowlisted) are not held back by one going.
        let _going = workspaces.start("s-1");
        let _another = workspaces.start("s-1");
    }
}
