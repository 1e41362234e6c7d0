//! The browser's records in the audit log: one method per event, each
//! taking only what its record may hold (a checked method name, a checked
//! host, hardshell's own words), so no caller can hand it a parameter.

use std::sync::Arc;

use hardshell_audit::event::{
    BrowserHost, BrowserNavigated, BrowserSessionEnded, BrowserSessionStarted, CdpClient,
    CdpMethod, CdpRefusal, CdpRefused,
};
use hardshell_audit::{AuditEvent, AuditLog};

use crate::relay::RelayEnd;

/// Where one browser session's facts are recorded.
#[derive(Debug, Clone)]
pub struct BrowserTrail {
    log: Arc<AuditLog>,
    session: String,
    /// With the agent's sessions: where its screenshots are kept, for its
    /// conversation.
    screenshots: Option<(Arc<crate::Screenshots>, String)>,
}

impl BrowserTrail {
    /// `session` is hardshell's own id for the session.
    pub fn new(log: Arc<AuditLog>, session: &str) -> BrowserTrail {
        BrowserTrail {
            log,
            session: session.to_owned(),
            screenshots: None,
        }
    }

    /// Keeps the screenshots this session takes in `screenshots`, for the
    /// agent's `conversation`.
    pub fn with_screenshots(
        mut self,
        screenshots: Arc<crate::Screenshots>,
        conversation: &str,
    ) -> Self {
        self.screenshots = Some((screenshots, conversation.to_owned()));
        self
    }

    pub(crate) fn keeps_screenshots(&self) -> bool {
        self.screenshots.is_some()
    }

    /// A screenshot the browser answered with (`data`, base64), kept when
    /// it decodes as a PNG within the limits; anything else is dropped.
    pub(crate) fn screenshot(&self, data: &str) {
        if let Some((screenshots, conversation)) = &self.screenshots
            && !screenshots.put_base64(conversation, data)
        {
            tracing::debug!(session = %self.session, "a screenshot was not kept: others are being decoded");
        }
    }

    pub fn session(&self) -> &str {
        &self.session
    }

    /// A client was given its browser.
    pub fn session_started(&self, client: CdpClient) {
        self.note(AuditEvent::BrowserSessionStarted(BrowserSessionStarted {
            session: self.session.clone(),
            client,
        }));
    }

    /// The session ended, as the relay reported.
    pub fn session_ended(&self, end: &RelayEnd) {
        self.note(AuditEvent::BrowserSessionEnded(BrowserSessionEnded {
            session: self.session.clone(),
            ended: end.cause.ending(),
            pages: end.pages,
            refused: end.refused,
            navigated: end.navigated,
            seconds: end.duration.as_secs(),
        }));
    }

    /// A command was refused. `method` is the client's text: a record keeps
    /// it only when it is a method name, else `(invalid)`.
    pub fn refused(&self, method: &str, reason: CdpRefusal) {
        self.note(AuditEvent::CdpRefused(CdpRefused {
            session: self.session.clone(),
            method: CdpMethod::or_invalid(method),
            reason,
        }));
    }

    /// A navigation to `host` was let through.
    pub fn navigated(&self, host: &BrowserHost) {
        self.note(AuditEvent::BrowserNavigated(BrowserNavigated {
            session: self.session.clone(),
            host: host.clone(),
        }));
    }

    /// Buffered and flushed with the log's next flush; a record the log
    /// refuses is logged by the log: what it records has happened.
    fn note(&self, event: AuditEvent) {
        self.log.note(event);
    }
}
