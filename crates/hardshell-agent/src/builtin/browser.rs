//! `browser`: the model browses the web through a real browser the edge runs
//! for this conversation (a fresh Chromium in a shell of its own, behind the
//! edge's policed CDP proxy). The model reads each page as a numbered text
//! outline framed as untrusted, and acts on the numbers; screenshots go to
//! the owner, never to the model.
//!
//! The browser may be hostile (a page can own it): what it says is bounded
//! and cleaned before the model sees it, and nothing the model types reaches
//! a log or an error.

mod action;
mod cdp;
mod connect;
mod page;
mod sessions;
mod spec;
mod text;

use std::sync::Arc;
use std::time::Duration;

use hardshell_llm::ToolSpec;
use hardshell_protocol::BrowserSettings;

use crate::tool::parse_arguments;
use crate::{Tool, ToolContext, ToolError, ToolOutput};

pub use cdp::CdpError;
pub use connect::{
    BrowserConnector, BrowserSocket, BrowserStream, MAX_CDP_MESSAGE_BYTES, handshake,
};
pub use page::Direction;
pub use text::{UNTRUSTED_CLOSING, UNTRUSTED_OPENING};

use action::Action;
use page::Page;
use sessions::Sessions;

/// Why a browser action failed. The messages go to the model, so they say
/// what to do next; none carries what was typed or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("no browser could be started: {reason}")]
    Connect { reason: String },
    #[error(transparent)]
    Cdp(#[from] CdpError),
    #[error("the page did not load: {reason}")]
    Navigate { reason: String },
    #[error("no page is open in this conversation: open one first")]
    NoPage,
    #[error("there is no element [{n}] on the page: read the page for the current numbers")]
    NoElement { n: usize },
    #[error("element [{n}] is not visible on the page, so it cannot be clicked")]
    NotVisible { n: usize },
    #[error("element [{n}] is not a list to select from")]
    NotSelect { n: usize },
    #[error("element [{n}] has no such option: use an option's text as shown")]
    NoOption { n: usize },
    #[error("there is no previous page to go back to")]
    NoHistory,
}

impl BrowserError {
    /// Whether the connection is of no more use: it is closed and dropped.
    fn ends_browser(&self) -> bool {
        matches!(
            self,
            BrowserError::Cdp(
                CdpError::Lost | CdpError::Timeout { .. } | CdpError::Malformed { .. }
            )
        )
    }
}

/// The tool's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserLimits {
    /// Browsers open at once, one per conversation (default 4).
    pub max_sessions: usize,
    /// Unused this long, a browser is closed (default 10 minutes).
    pub idle: Duration,
    /// The most characters of page text given to the model (default 12 000).
    pub max_text_chars: usize,
}

impl Default for BrowserLimits {
    fn default() -> Self {
        Self {
            max_sessions: 4,
            idle: Duration::from_secs(600),
            max_text_chars: 12_000,
        }
    }
}

/// The `browser` tool.
pub struct Browser<C> {
    connector: C,
    settings: BrowserSettings,
    limits: BrowserLimits,
    sessions: Arc<Sessions>,
}

impl<C> std::fmt::Debug for Browser<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("limits", &self.limits)
            .finish()
    }
}

impl<C: BrowserConnector> Browser<C> {
    pub fn new(connector: C, settings: BrowserSettings, limits: BrowserLimits) -> Self {
        let sessions = Sessions::new(limits.max_sessions, limits.idle);
        Self {
            connector,
            settings,
            limits,
            sessions,
        }
    }

    /// Runs `action` on `session`'s page and answers with the page's text
    /// (or, for a screenshot, the sentence the model gets instead).
    async fn act(&self, session: &str, action: Action) -> Result<String, BrowserError> {
        let slot = match &action {
            Action::Open { .. } => self.sessions.open(session),
            _ => self
                .sessions
                .existing(session)
                .ok_or(BrowserError::NoPage)?,
        };
        let mut held = slot.lock().await;
        let result = self.act_on(&mut held, session, action).await;
        drop(held);
        self.sessions.forget_if_empty(session, &slot);
        result
    }

    async fn act_on(
        &self,
        held: &mut Option<Page>,
        session: &str,
        action: Action,
    ) -> Result<String, BrowserError> {
        if let Action::Open { url } = &action {
            if let Some(page) = held.as_mut() {
                match page.navigate(url).await {
                    // The edge ended that browser (idle, lifetime, crash):
                    // a fresh one opens the page as if it had been kept.
                    Err(BrowserError::Cdp(CdpError::Lost)) => drop(held.take()),
                    result => return self.then_read(held, result).await,
                }
            }
            let socket = self.connector.connect(session).await?;
            let mut page = Page::start(socket).await?;
            let result = page.navigate(url).await;
            *held = Some(page);
            return self.then_read(held, result).await;
        }
        let page = held.as_mut().ok_or(BrowserError::NoPage)?;
        let result = match action {
            Action::Open { .. } | Action::Read | Action::Close => Ok(()),
            Action::Click { element } => page.click(element).await,
            Action::Type {
                element,
                text,
                submit,
            } => page.type_text(element, &text, submit).await,
            Action::Select { element, value } => page.select(element, &value).await,
            Action::Scroll { direction } => page.scroll(direction).await,
            Action::Back => page.back().await,
            Action::Screenshot => {
                let taken = match page.screenshot().await {
                    Ok(()) => page.title().await,
                    Err(e) => Err(e),
                };
                return self.forget_if_broken(held, taken).map(|title| {
                    format!("A screenshot of \"{title}\" was shown to the user. You cannot see it.")
                });
            }
        };
        self.then_read(held, result).await
    }

    /// The page's text after `result`, or its error; a broken browser is
    /// dropped either way.
    async fn then_read(
        &self,
        held: &mut Option<Page>,
        result: Result<(), BrowserError>,
    ) -> Result<String, BrowserError> {
        let read = match (result, held.as_mut()) {
            (Ok(()), Some(page)) => page.read(self.limits.max_text_chars).await,
            (Ok(()), None) => Err(BrowserError::NoPage),
            (Err(e), _) => Err(e),
        };
        self.forget_if_broken(held, read)
    }

    fn forget_if_broken<T>(
        &self,
        held: &mut Option<Page>,
        result: Result<T, BrowserError>,
    ) -> Result<T, BrowserError> {
        if let Err(e) = &result
            && e.ends_browser()
            && let Some(page) = held.take()
        {
            tokio::spawn(page.close());
        }
        result
    }
}

impl<C: BrowserConnector> Tool for Browser<C> {
    fn spec(&self) -> ToolSpec {
        spec::spec(&self.settings)
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        cx: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let action: Action = parse_arguments(arguments)?;
        action.check()?;
        let session = cx.session().to_string();
        if let Action::Close = action {
            let closed = self.sessions.close(&session).await;
            return Ok(ToolOutput::text(if closed {
                "The browser is closed."
            } else {
                "No browser was open."
            }));
        }
        match self.act(&session, action).await {
            Ok(text) => Ok(ToolOutput::text(text)),
            Err(BrowserError::Cdp(CdpError::Lost)) => Err(ToolError::failed(
                "the browser ended: the page was lost, open it again",
            )),
            Err(e) => Err(ToolError::failed(e.to_string())),
        }
    }
}
