//! `/agent/v1/switch`: the agent reports that its fallback chain moved on,
//! for the audit log. What is recorded is only what the edge can check: two
//! entries of the chain the edge configured (the first before the second),
//! and a reason from a closed set; anything else is refused with 400. And
//! no faster than [`SWITCHES_PER_MINUTE`] (after a burst of [`BURST`]): more
//! get 429 and are not recorded, so the workload cannot flood the log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use hardshell_audit::event::{ChainModel, ProviderSwitched, Recorded, SwitchReason as Reason};
use hardshell_llm::{ModelRef, SwitchReason};
use hardshell_protocol::SwitchReport;
use hardshell_ratelimit::{Quota, Tat};
use http::Request;

use super::ControlService;
use crate::response::{self, HttpResponse};

/// The steady rate of switches recorded...
const SWITCHES_PER_MINUTE: u32 = 30;
/// ...after a burst of this many (a chain of several models all failing).
const BURST: u32 = 10;

/// When the next switch may be recorded (GCRA, one key: the workload).
#[derive(Debug)]
pub(crate) struct SwitchGate {
    origin: Instant,
    tat: Mutex<Option<Tat>>,
}

impl SwitchGate {
    pub(crate) fn new() -> Self {
        Self {
            origin: Instant::now(),
            tat: Mutex::new(None),
        }
    }

    /// `Err(retry after, in seconds)` when over the rate.
    fn admit(&self, now: Instant) -> Result<(), u64> {
        let Ok(quota) = Quota::new(SWITCHES_PER_MINUTE, BURST) else {
            return Err(60);
        };
        let since: Duration = now.saturating_duration_since(self.origin);
        let mut tat = self
            .tat
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (decision, next) = hardshell_ratelimit::check(*tat, &quota, since);
        *tat = Some(next);
        match decision.retry_after_secs() {
            None => Ok(()),
            Some(secs) => Err(secs),
        }
    }
}

pub(super) async fn report(service: &ControlService, request: Request<Body>) -> HttpResponse {
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), 4 * 1024).await else {
        return response::payload_too_large();
    };
    if let Err(secs) = service.switches.admit(Instant::now()) {
        return response::too_many_requests(secs);
    }
    let Ok(reported) = serde_json::from_slice::<SwitchReport>(&bytes) else {
        return response::bad_request(
            "expected {\"from\": \"provider/model\", \"to\": \"provider/model\", \"reason\": one of unreachable, timed_out, rate_limited, overloaded, provider_failed, cut_short, spend_cap_reached}\n",
        );
    };
    let Some(event) = checked(service, &reported) else {
        return response::bad_request(
            "from and to must be models of the configured chain, from before to\n",
        );
    };
    tracing::warn!(from = %event.from, to = %event.to, reason = ?event.reason, "model fallback");
    if let Some(edge) = &service.edge {
        edge.audit
            .note(hardshell_audit::AuditEvent::ProviderSwitched(event));
    }
    response::text(http::StatusCode::NO_CONTENT, "")
}

/// The record to write, if both models are in the chain, the first first.
fn checked(service: &ControlService, reported: &SwitchReport) -> Option<ProviderSwitched> {
    let chain = &service.settings.as_ref()?.chain;
    let at = |model: &ModelRef| chain.iter().position(|entry| entry.model == *model);
    let (from, to) = (at(&reported.from)?, at(&reported.to)?);
    if from >= to {
        return None;
    }
    Some(ProviderSwitched {
        // Only `Checked`: free text (`Recorded::Legacy`) can be read from old
        // records but not built.
        from: Recorded::Checked(ChainModel::new(&reported.from.to_string()).ok()?),
        to: Recorded::Checked(ChainModel::new(&reported.to.to_string()).ok()?),
        reason: Recorded::Checked(recorded(reported.reason)),
    })
}

fn recorded(reason: SwitchReason) -> Reason {
    match reason {
        SwitchReason::Unreachable => Reason::Unreachable,
        SwitchReason::TimedOut => Reason::TimedOut,
        SwitchReason::RateLimited => Reason::RateLimited,
        SwitchReason::Overloaded => Reason::Overloaded,
        SwitchReason::ProviderFailed => Reason::ProviderFailed,
        SwitchReason::CutShort => Reason::CutShort,
        SwitchReason::SpendCapReached => Reason::SpendCapReached,
    }
}
