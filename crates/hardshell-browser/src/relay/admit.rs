//! Whether a client's command goes to the browser: the checks in their
//! order, and the record of a refusal.

use hardshell_audit::event::CdpRefusal;

use super::Relay;
use crate::command::Command;
use crate::policy::{Permitted, Refused};

impl Relay<'_> {
    /// The rate limit, the policy, the page limit and the in-flight bound,
    /// in that order; a refusal is recorded.
    pub(super) fn admit(&mut self, command: Command) -> Result<Permitted, Refused> {
        let method = command.method().to_owned();
        let refused = match self.decide(command) {
            Ok(permitted) => {
                self.limited = false;
                return Ok(permitted);
            }
            Err(refused) => refused,
        };
        let run_goes_on = refused.reason == CdpRefusal::RateLimited && self.limited;
        if !run_goes_on && self.refused < self.limits.max_refusal_records {
            self.trail.refused(&method, refused.reason);
        }
        self.refused = self.refused.saturating_add(1);
        self.limited = refused.reason == CdpRefusal::RateLimited;
        Err(refused)
    }

    fn decide(&mut self, command: Command) -> Result<Permitted, Refused> {
        let (decision, tat) =
            hardshell_ratelimit::check(self.tat, &self.limits.rate, self.started.elapsed());
        self.tat = Some(tat);
        if !decision.is_allowed() {
            return Err(Refused::new(
                CdpRefusal::RateLimited,
                "too many commands; slow down",
            ));
        }
        let permitted = self.policy.check(command, self.rules)?;
        if permitted.opens_page() && self.pages.is_full() {
            return Err(Refused::new(
                CdpRefusal::PageLimit,
                "the session has as many pages open as it may",
            ));
        }
        if self.pending.is_full() {
            return Err(Refused::new(
                CdpRefusal::TooManyInFlight,
                "too many commands wait for an answer",
            ));
        }
        Ok(permitted)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use hardshell_audit::{AuditLog, AuditOptions, LogId, Tail};
    use hardshell_ratelimit::Quota;
    use hardshell_testkit::TestStore;

    use super::*;
    use crate::policy::{MethodPolicy, SessionRules};
    use crate::relay::RelayLimits;
    use crate::trail::BrowserTrail;

    fn version() -> Command {
        Command::parse(r#"{"id":1,"method":"Browser.getVersion"}"#).unwrap()
    }

    /// Each run of rate-limited commands is recorded once: a command let
    /// through in between ends the run.
    #[tokio::test(start_paused = true)]
    async fn each_run_of_rate_limited_commands_is_recorded_once() {
        let store = TestStore::new().await;
        let log = LogId::new("admit").unwrap();
        let audit = Arc::new(
            AuditLog::open(&store.scope("audit"), &log, AuditOptions::default())
                .await
                .unwrap(),
        );
        let trail = BrowserTrail::new(Arc::clone(&audit), "brs-1");
        let policy = MethodPolicy::standard().unwrap();
        let rules = SessionRules::new(Path::new("/d"), Path::new("/u")).unwrap();
        let limits = RelayLimits {
            rate: Quota::new(60, 1).unwrap(),
            ..RelayLimits::default()
        };
        let mut relay = Relay::new(&policy, &rules, &limits, &trail);
        let mut outcomes = Vec::new();
        for _ in 0..2 {
            for _ in 0..3 {
                outcomes.push(relay.admit(version()).map(|_| ()).map_err(|r| r.reason));
            }
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        let limited = Err(CdpRefusal::RateLimited);
        assert_eq!(
            outcomes,
            [Ok(()), limited, limited, Ok(()), limited, limited]
        );
        assert_eq!(relay.refused, 4);

        audit.flush().await.unwrap();
        let mut tail = Tail::new(&store.scope("audit"), &log, 1).unwrap();
        let records = tail.read().await.unwrap();
        assert_eq!(records.len(), 2, "one record per run");
    }
}
