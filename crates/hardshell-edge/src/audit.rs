//! The edge's audit trail: one call per decision, each turned into a typed event
//! of `hardshell-audit`. Request events are buffered and flushed on an interval;
//! administrative actions are written durably before they are answered. A
//! request that cannot be recorded (the backlog is full, storage is gone) is not
//! served: audit comes before the route. Refused and anonymous requests past
//! the first few per client and window are counted, not recorded one by one
//! (`summary.rs`), so that nobody can fill the log and lock the owner out.

mod summary;

use std::net::IpAddr;
use std::sync::Arc;

use chrono::Utc;
use hardshell_audit::event::{CredentialKind, FieldError, SummarizedKind};
use hardshell_audit::event::{
    CredentialRejected, HttpMethod, LimitedBy, RateLimited, RequestAllowed, RequestDenied,
    RequestId, Route, SessionRevoked, TokenCreated, TokenId, TokenRevoked,
};
use hardshell_audit::{AuditError, AuditEvent, AuditLog};
use hardshell_auth::{Principal, TokenRecord};
use http::Method;

use summary::{Disposition, Summaries};

pub(crate) use summary::WINDOW as SUMMARY_WINDOW;

/// Who did something, as the audit log names actors.
fn actor(principal: &Principal) -> Option<String> {
    Some(principal.subject.clone())
}

/// A credential that did not verify (found by the pipeline's authentication
/// phase, recorded here). `account` names what it claimed to be (a
/// token id), never anything secret.
#[derive(Debug, Clone)]
pub(crate) struct AuthFailure {
    /// Which kind of credential failed.
    pub kind: CredentialKind,
    pub reason: &'static str,
    pub account: Option<String>,
    /// Whose failure it is: only the client's counts against its failed-auth
    /// budget.
    pub cause: FailureCause,
}

/// Who caused an authentication failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureCause {
    /// The credential is wrong: charged, and a 401 where identity is needed.
    Credential,
    /// The edge could not check it (Cloudflare's key set unreachable): not
    /// charged, and a 503 where identity is needed, since a retry may succeed.
    Unavailable,
}

/// What identifies the request in every request event.
pub(crate) struct RequestFacts<'a> {
    pub request_id: &'a str,
    pub client: IpAddr,
    pub method: &'a Method,
    /// The matched route pattern, when one matched.
    pub route: Option<&'a str>,
}

impl RequestFacts<'_> {
    fn request_id(&self) -> RequestId {
        // Request ids are hex made by the edge; the fallback never triggers.
        RequestId::new(self.request_id).unwrap_or_else(|_| fallback_id())
    }

    fn method(&self) -> HttpMethod {
        HttpMethod::new(self.method.as_str())
            .or_else(|_| HttpMethod::new("OTHER"))
            .unwrap_or_else(|_| fallback_method())
    }

    fn route(&self) -> Option<Route> {
        self.route.and_then(|route| Route::new(route).ok())
    }
}

#[allow(clippy::unwrap_used)] // literals that satisfy the field rules
fn fallback_id() -> RequestId {
    RequestId::new("unknown").unwrap()
}

#[allow(clippy::unwrap_used)] // literals that satisfy the field rules
fn fallback_method() -> HttpMethod {
    HttpMethod::new("OTHER").unwrap()
}

/// Why an audit record could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TrailError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("audit field: {0}")]
    Field(#[from] FieldError),
}

/// Records the edge's decisions in the audit log.
pub(crate) struct Trail {
    /// Shared with exec, which records its decisions in the same log.
    log: Arc<AuditLog>,
    summaries: Summaries,
}

impl Trail {
    pub fn new(log: Arc<AuditLog>) -> Self {
        Self {
            log,
            summaries: Summaries::new(Utc::now()),
        }
    }

    /// Where this edge's log and every other writer's are kept.
    pub fn scope(&self) -> &hardshell_storage::Scope {
        self.log.scope()
    }

    /// This edge's own log.
    pub fn log_id(&self) -> &hardshell_audit::LogId {
        self.log.log_id()
    }

    /// Whether a refused or anonymous request gets its own record (else it is
    /// counted into the window's summary).
    fn detailed(&self, facts: &RequestFacts<'_>, kind: SummarizedKind) -> bool {
        self.summaries.observe(facts.client, kind) == Disposition::Record
    }

    /// Writes the summaries of the window that ends now; called every
    /// `summary::WINDOW` and at shutdown.
    pub fn close_window(&self) {
        for summary in self.summaries.close(Utc::now()) {
            let _ = self.record(AuditEvent::RequestsSummarized(summary));
        }
    }

    fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.log.record_logged(event).map(|_| ())
    }

    async fn record_durable(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.log.record_durable_logged(event).await.map(|_| ())
    }

    pub fn request_allowed(
        &self,
        facts: &RequestFacts<'_>,
        principal: Option<&Principal>,
    ) -> Result<(), AuditError> {
        if principal.is_none() && !self.detailed(facts, SummarizedKind::AnonymousAllowed) {
            return Ok(());
        }
        self.record(AuditEvent::RequestAllowed(RequestAllowed {
            request_id: facts.request_id(),
            client: facts.client,
            method: facts.method(),
            route: facts.route(),
            subject: principal.map(|p| p.subject.clone()),
            auth_method: principal.map(|p| p.method),
        }))
    }

    pub fn request_denied(
        &self,
        facts: &RequestFacts<'_>,
        principal: Option<&Principal>,
        status: u16,
        reason: &str,
    ) {
        if !self.detailed(facts, SummarizedKind::RequestDenied) {
            return;
        }
        let _ = self.record(AuditEvent::RequestDenied(RequestDenied {
            request_id: facts.request_id(),
            client: facts.client,
            method: facts.method(),
            route: facts.route(),
            subject: principal.map(|p| p.subject.clone()),
            auth_method: principal.map(|p| p.method),
            status,
            reason: reason.to_owned(),
        }));
    }

    pub fn credential_rejected(&self, facts: &RequestFacts<'_>, failure: &AuthFailure) {
        if !self.detailed(facts, SummarizedKind::CredentialRejected) {
            return;
        }
        let token_id = failure
            .account
            .as_deref()
            .and_then(|account| account.strip_prefix("token:"))
            .and_then(|id| TokenId::new(id).ok());
        let _ = self.record(AuditEvent::CredentialRejected(CredentialRejected {
            request_id: facts.request_id(),
            client: facts.client,
            credential: failure.kind,
            token_id,
            reason: failure.reason.to_owned(),
        }));
    }

    pub fn rate_limited(
        &self,
        facts: &RequestFacts<'_>,
        principal: Option<&Principal>,
        by_principal: bool,
        retry_after_secs: u64,
    ) {
        if !self.detailed(facts, SummarizedKind::RateLimited) {
            return;
        }
        let _ = self.record(AuditEvent::RateLimited(RateLimited {
            request_id: facts.request_id(),
            client: facts.client,
            method: facts.method(),
            route: facts.route(),
            subject: principal.map(|p| p.subject.clone()),
            limited_by: if by_principal {
                LimitedBy::Principal
            } else {
                LimitedBy::ClientAddress
            },
            retry_after_secs,
        }));
    }

    pub async fn session_ended(&self, principal: &Principal) -> Result<(), AuditError> {
        self.record_durable(AuditEvent::SessionRevoked(SessionRevoked {
            subject: principal.subject.clone(),
            actor: actor(principal),
        }))
        .await
    }

    pub async fn token_created(
        &self,
        by: &Principal,
        record: &TokenRecord,
    ) -> Result<(), TrailError> {
        self.record_durable(AuditEvent::TokenCreated(TokenCreated {
            token_id: TokenId::new(&record.id)?,
            scope: record.scope,
            expires_at: Some(record.expires_at),
            actor: actor(by),
        }))
        .await
        .map_err(TrailError::from)
    }

    pub async fn token_revoked(
        &self,
        by: &Principal,
        record: &TokenRecord,
    ) -> Result<(), TrailError> {
        self.record_durable(AuditEvent::TokenRevoked(TokenRevoked {
            token_id: TokenId::new(&record.id)?,
            actor: actor(by),
        }))
        .await
        .map_err(TrailError::from)
    }

    /// Any other fact, buffered like request records.
    pub fn note(&self, event: AuditEvent) {
        let _ = self.record(event);
    }

    /// Any other administrative fact, written before the action is answered.
    pub async fn admin_action(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.record_durable(event).await
    }

    /// Writes everything still buffered, the open window's summaries included;
    /// called on shutdown.
    pub async fn flush(&self) {
        self.close_window();
        if let Err(e) = self.log.flush().await {
            tracing::error!(error = %e, "flushing the audit log at shutdown failed");
        }
    }

    pub fn backlog(&self) -> u64 {
        self.log.backlog()
    }
}
