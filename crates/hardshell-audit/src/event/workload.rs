//! What happened to a workload's state: prepared at start, lost while it
//! ran, restored or snapshotted by the operator. Generations and counts are
//! hardshell's own; names are checked key segments ([`StateName`]). Nothing
//! here comes from the workload's files: not a path, not a holder another
//! machine wrote.

use serde::{Deserialize, Serialize};

use super::fields::StateName;
use super::outcomes::{StateLoss, StateOutcome};

/// `hardshell up` made the workload's local state and the stored state agree
/// before starting it (`hardshell_state::Prepared`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadStatePrepared {
    pub workload: StateName,
    pub outcome: StateOutcome,
    /// The generation the local copy is now based on; `None` when fresh.
    pub generation: Option<u64>,
    /// Files written into the local copy, when one was restored.
    pub files: Option<u64>,
    /// A set-aside copy's base, when it had a known one.
    pub local_base: Option<u64>,
    /// The snapshot a stale local copy was kept as.
    pub set_aside: Option<StateName>,
}

/// The running workload's state could no longer be kept (its lease taken by
/// another holder, or the remote moved under it); the workload was stopped,
/// since what it would write next could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadStateLost {
    pub workload: StateName,
    pub cause: StateLoss,
    /// The remote's generation, when it moved.
    pub generation: Option<u64>,
}

/// The operator restored a workload's state (`hardshell state restore`): a
/// snapshot made the current generation, or the current one rewritten into
/// the local copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadStateRestored {
    pub workload: StateName,
    /// The snapshot restored; `None` for the current generation.
    pub snapshot: Option<StateName>,
    /// The generation the local copy now holds.
    pub generation: u64,
    /// Files written, when known (not when a local copy was set aside first).
    pub files: Option<u64>,
    /// The snapshot unsynced local changes were kept as.
    pub set_aside: Option<StateName>,
    /// `None` for the command line on the host.
    pub actor: Option<String>,
}

/// The operator named a workload's current state generation as a snapshot
/// (`hardshell state snapshot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadStateSnapshotted {
    pub workload: StateName,
    pub snapshot: StateName,
    pub generation: u64,
    pub files: u64,
    pub actor: Option<String>,
}
