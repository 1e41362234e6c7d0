//! Exec's records in the audit log: the same log as the edge's, written to
//! directly (exec keeps no request summaries, so it needs nothing of the
//! edge's trail but the log).

use std::sync::Arc;

use hardshell_audit::event::{ExecDecided, ExecDecision, ExecReason};
use hardshell_audit::{AuditError, AuditEvent, AuditLog};

/// Where exec's decisions and runs are recorded.
#[derive(Debug, Clone)]
pub(crate) struct ExecTrail {
    log: Arc<AuditLog>,
}

impl ExecTrail {
    pub(crate) fn new(log: Arc<AuditLog>) -> Self {
        Self { log }
    }

    /// A fact, buffered and flushed with the log's next flush. A record the
    /// log refuses is logged, not returned: what it records has happened.
    pub(crate) fn note(&self, event: AuditEvent) {
        self.log.note(event);
    }

    /// An owner's decision, in storage before it is acted on.
    pub(crate) async fn admin_action(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.log.record_durable_logged(event).await.map(|_| ())
    }
}

/// An `exec_decided` record: the command by its digest only.
pub(crate) fn decided(
    session: &str,
    digest: &str,
    decision: ExecDecision,
    reason: Option<ExecReason>,
    actor: Option<String>,
) -> AuditEvent {
    AuditEvent::ExecDecided(ExecDecided {
        session: session.to_owned(),
        command_sha256: digest.to_owned(),
        decision,
        reason,
        actor,
    })
}
