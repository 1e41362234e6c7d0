//! What has happened to each session's workspace since a question was put to
//! its owner: an approval covers the workspace as it was when it was asked.
//!
//! The owner approves a command's text, but the text runs whatever the
//! workspace then holds: `bash build.sh` approved after an allowlisted
//! `echo 'id > pwned' > build.sh` ran in the meantime runs the new script.
//! Pinning the content of what a command reads would need knowing which files
//! that is (a script names others, reads config, sources) — vetting cannot
//! know. So the edge refuses instead: every run in a workspace moves its
//! generation on when it starts and again when it ends, and an approved
//! command runs only if the generation is the one its question was asked at
//! and no other command is running there. Nothing else writes a workspace:
//! the agent's own shell does not see them, and only the edge starts exec
//! shells.
//!
//! A session's record lives only while a run is going in it or a question
//! holds it ([`WorkspaceHold`]): session ids come from the agent, so records
//! kept for every id ever named would grow without bound. Generations come
//! from one counter for all sessions, never reused, so a record made again
//! for a session can never show a generation an old question recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::lock;

/// The workspaces with a run going or a question held.
#[derive(Debug, Default)]
pub(super) struct Workspaces {
    records: Arc<Mutex<Records>>,
}

#[derive(Debug, Default)]
struct Records {
    /// The last generation handed out, in any session.
    last: u64,
    sessions: HashMap<String, Workspace>,
}

#[derive(Debug, Clone, Copy)]
struct Workspace {
    generation: u64,
    running: u32,
    /// Questions holding this record ([`WorkspaceHold`]).
    held: u32,
}

/// The workspace changed since the question was asked, or a command is
/// running in it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Changed;

impl Records {
    /// `session`'s record, made now (at a new generation) if it has none.
    fn workspace(&mut self, session: &str) -> &mut Workspace {
        let Records { last, sessions } = self;
        sessions
            .entry(session.to_owned())
            .or_insert_with(|| Workspace {
                generation: next(last),
                running: 0,
                held: 0,
            })
    }

    /// A run starts in `session`'s workspace.
    fn begin(&mut self, session: &str) {
        let generation = next(&mut self.last);
        let workspace = self.workspace(session);
        workspace.generation = generation;
        workspace.running = workspace.running.saturating_add(1);
    }

    /// Drops `session`'s record once no run and no question needs it.
    fn forget_if_unused(&mut self, session: &str) {
        if self
            .sessions
            .get(session)
            .is_some_and(|workspace| workspace.running == 0 && workspace.held == 0)
        {
            self.sessions.remove(session);
        }
    }
}

/// A generation no record has had: one after the last handed out.
fn next(last: &mut u64) -> u64 {
    // 2^64 runs do not happen; wrapping makes a debug build behave as a
    // release one.
    *last = last.wrapping_add(1);
    *last
}

impl Workspaces {
    /// A question is asked now in `session`: holds the workspace's record,
    /// at its generation now, until the question ends (the hold drops).
    pub(super) fn hold(&self, session: &str) -> WorkspaceHold {
        let mut records = lock(&self.records);
        let workspace = records.workspace(session);
        workspace.held = workspace.held.saturating_add(1);
        WorkspaceHold {
            records: Arc::clone(&self.records),
            session: session.to_owned(),
            generation: workspace.generation,
        }
    }

    /// A run starts in `session`'s workspace; it ends when the guard drops
    /// (also when the run is cancelled).
    pub(super) fn start(&self, session: &str) -> WorkspaceRun<'_> {
        lock(&self.records).begin(session);
        WorkspaceRun {
            workspaces: self,
            session: session.to_owned(),
        }
    }

    /// An approved run starts, only if the workspace is as it was when its
    /// question was asked (`asked`) and nothing runs in it: checked and
    /// started under one lock, so no run slips in between.
    pub(super) fn start_approved(
        &self,
        asked: &WorkspaceHold,
    ) -> Result<WorkspaceRun<'_>, Changed> {
        let mut records = lock(&self.records);
        // The hold keeps the record; a missing one is a changed workspace.
        let workspace = records.sessions.get(&asked.session).ok_or(Changed)?;
        if workspace.generation != asked.generation || workspace.running > 0 {
            return Err(Changed);
        }
        records.begin(&asked.session);
        Ok(WorkspaceRun {
            workspaces: self,
            session: asked.session.clone(),
        })
    }

    /// How many sessions have a record now.
    #[cfg(test)]
    pub(super) fn recorded(&self) -> usize {
        lock(&self.records).sessions.len()
    }
}

/// A question's hold on its session's workspace record, at the generation it
/// was asked at: the record lives at least as long as the question.
#[derive(Debug)]
pub(super) struct WorkspaceHold {
    records: Arc<Mutex<Records>>,
    session: String,
    generation: u64,
}

impl Drop for WorkspaceHold {
    fn drop(&mut self) {
        let mut records = lock(&self.records);
        if let Some(workspace) = records.sessions.get_mut(&self.session) {
            workspace.held = workspace.held.saturating_sub(1);
        }
        records.forget_if_unused(&self.session);
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
        let mut records = lock(&self.workspaces.records);
        let Records { last, sessions } = &mut *records;
        if let Some(workspace) = sessions.get_mut(&self.session) {
            // Moved on again at the end: a run that was going when a
            // question was asked may have written after it.
            workspace.generation = next(last);
            workspace.running = workspace.running.saturating_sub(1);
        }
        records.forget_if_unused(&self.session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_holds_only_while_the_workspace_is_unchanged() {
        let workspaces = Workspaces::default();
        let asked = workspaces.hold("s-1");
        // Nothing ran: the approved command may run.
        assert!(workspaces.start_approved(&asked).is_ok());
        // It ran, so a question asked before it is stale.
        assert_eq!(workspaces.start_approved(&asked).err(), Some(Changed));
        // Another session's runs do not touch this one's.
        let asked = workspaces.hold("s-1");
        drop(workspaces.start("s-2"));
        assert!(workspaces.start_approved(&asked).is_ok());
    }

    #[test]
    fn an_approved_command_waits_for_no_run_that_is_still_going() {
        let workspaces = Workspaces::default();
        let going = workspaces.start("s-1");
        // Asked while a command runs: it may still write.
        let asked = workspaces.hold("s-1");
        assert_eq!(workspaces.start_approved(&asked).err(), Some(Changed));
        drop(going);
        assert_eq!(workspaces.start_approved(&asked).err(), Some(Changed));
        // Unasked runs (allowlisted) are not held back by one going.
        let _going = workspaces.start("s-1");
        let _another = workspaces.start("s-1");
    }

    #[test]
    fn a_record_lives_only_while_a_run_or_a_question_needs_it() {
        let workspaces = Workspaces::default();
        for n in 0..1000 {
            drop(workspaces.start(&format!("s-{n}")));
            drop(workspaces.hold(&format!("q-{n}")));
        }
        assert_eq!(workspaces.recorded(), 0, "nothing needs them");

        let going = workspaces.start("s-1");
        let asked = workspaces.hold("s-2");
        assert_eq!(workspaces.recorded(), 2);
        drop(going);
        assert_eq!(workspaces.recorded(), 1, "a question still holds s-2");
        // The held record is the one asked about: nothing ran, so it runs.
        let approved = workspaces.start_approved(&asked);
        assert!(approved.is_ok());
        drop(asked);
        assert_eq!(workspaces.recorded(), 1, "its run is going");
        drop(approved);
        assert_eq!(workspaces.recorded(), 0);
    }

    #[test]
    fn a_record_made_again_never_repeats_an_old_generation() {
        let workspaces = Workspaces::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            let asked = workspaces.hold("s-1");
            assert!(seen.insert(asked.generation), "{}", asked.generation);
            drop(asked);
            // The record is gone now, and made again at the next question.
            assert_eq!(workspaces.recorded(), 0);
            drop(workspaces.start("s-1"));
        }
    }

    #[test]
    fn a_question_whose_record_went_away_is_refused() {
        let workspaces = Workspaces::default();
        let asked = workspaces.hold("s-1");
        // Only a bug could drop a held record; the approval still fails
        // closed, also against a record made again since.
        lock(&workspaces.records).sessions.clear();
        assert_eq!(workspaces.start_approved(&asked).err(), Some(Changed));
        drop(workspaces.start("s-1"));
        let again = workspaces.hold("s-1");
        assert_ne!(again.generation, asked.generation);
        assert_eq!(workspaces.start_approved(&asked).err(), Some(Changed));
    }
}
