//! The workload state's audit records: what `up` found and did before the
//! workload started, and why its state could no longer be kept. Only
//! hardshell's own values go in (generations, counts, its own snapshot
//! names, checked again as key segments); the holder another machine wrote
//! into the lease is not one of them.

use hardshell_audit::AuditEvent;
use hardshell_audit::event::{
    StateLoss, StateName, StateOutcome, WorkloadStateLost, WorkloadStatePrepared,
};
use hardshell_state::{Prepared, StateError};

/// The record of `restore_if_needed`'s outcome.
pub(super) fn prepared(workload: &StateName, outcome: &Prepared) -> AuditEvent {
    let mut record = WorkloadStatePrepared {
        workload: workload.clone(),
        outcome: StateOutcome::Fresh,
        generation: None,
        files: None,
        local_base: None,
        set_aside: None,
    };
    match outcome {
        Prepared::Fresh => {}
        Prepared::Restored { generation, files } => {
            record.outcome = StateOutcome::Restored;
            record.generation = Some(*generation);
            record.files = Some(u64::try_from(*files).unwrap_or(u64::MAX));
        }
        Prepared::UpToDate { generation } => {
            record.outcome = StateOutcome::UpToDate;
            record.generation = Some(*generation);
        }
        Prepared::Pushed { generation } => {
            record.outcome = StateOutcome::Pushed;
            record.generation = Some(*generation);
        }
        Prepared::SetAside {
            snapshot,
            local_base,
            generation,
        } => {
            record.outcome = StateOutcome::SetAside;
            record.generation = Some(*generation);
            record.local_base = *local_base;
            record.set_aside = StateName::new(snapshot).ok();
        }
    }
    AuditEvent::WorkloadStatePrepared(record)
}

/// The record of a state sync that stopped the workload; `None` for the
/// failures that do not (a last sync at shutdown that could not finish is
/// logged, the workload being stopped already).
pub(super) fn lost(workload: &StateName, error: &StateError) -> Option<AuditEvent> {
    let (cause, generation) = match error {
        StateError::LeaseLost { .. } | StateError::NoLease => (StateLoss::LeaseLost, None),
        StateError::RemoteChanged { generation } => (StateLoss::RemoteChanged, Some(*generation)),
        _ => return None,
    };
    Some(AuditEvent::WorkloadStateLost(WorkloadStateLost {
        workload: workload.clone(),
        cause,
        generation,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload() -> StateName {
        StateName::new("workload").unwrap()
    }

    #[test]
    fn a_lost_lease_is_recorded_without_the_holder_that_took_it() {
        let lost = lost(
            &workload(),
            &StateError::LeaseLost {
                holder: "mallory\u{1b}[31m".to_owned(),
            },
        )
        .unwrap();
        let json = serde_json::to_string(&lost).unwrap();
        assert_eq!(
            json,
            r#"{"type":"workload_state_lost","workload":"workload","cause":"lease_lost","generation":null}"#
        );
    }

    #[test]
    fn only_losses_that_stop_the_workload_are_recorded() {
        let moved = lost(&workload(), &StateError::RemoteChanged { generation: 4 });
        assert!(matches!(
            moved,
            Some(AuditEvent::WorkloadStateLost(WorkloadStateLost {
                cause: StateLoss::RemoteChanged,
                generation: Some(4),
                ..
            }))
        ));
        assert!(lost(&workload(), &StateError::TooManyFiles { limit: 1 }).is_none());
    }

    #[test]
    fn a_set_aside_copy_is_recorded_with_its_snapshot() {
        let event = prepared(
            &workload(),
            &Prepared::SetAside {
                snapshot: "set-aside-20261205T082149.123Z-host-0a1b".to_owned(),
                local_base: Some(2),
                generation: 3,
            },
        );
        let AuditEvent::WorkloadStatePrepared(record) = event else {
            panic!("{event:?}");
        };
        assert_eq!(record.outcome, StateOutcome::SetAside);
        assert_eq!(record.generation, Some(3));
        assert_eq!(record.local_base, Some(2));
        assert_eq!(
            record.set_aside.as_ref().map(StateName::as_str),
            Some("set-aside-20261205T082149.123Z-host-0a1b")
        );
    }
}
