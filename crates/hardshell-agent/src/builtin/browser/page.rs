//! One conversation's page: a tab of its own in the browser behind one CDP
//! connection, attached as a flat session, and the numbers of the elements
//! the model was last shown.

mod actions;

pub use actions::Direction;

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::cdp::{Cdp, CdpError, Event};
use super::text::{Outline, clean_line, outline};
use super::{BrowserError, BrowserSocket};

/// The longest a page may take to load before it is read as it is.
const LOAD_WITHIN: Duration = Duration::from_secs(30);
/// How long after a click or a key a navigation must have started to be
/// waited for: the browser reports it at once when the action caused one.
const NAVIGATION_STARTS_WITHIN: Duration = Duration::from_secs(1);
/// The most characters of a title passed on.
const MAX_TITLE_CHARS: usize = 200;
/// The most characters of an id the browser hands out (Chromium's are 32).
const MAX_ID_CHARS: usize = 128;

/// A tab and what the model knows of it.
#[derive(Debug)]
pub struct Page {
    cdp: Cdp,
    target: String,
    session: String,
    frame: String,
    /// `elements[n - 1]`: the `backendDOMNodeId` of the element shown as `[n]`.
    elements: Vec<i64>,
}

impl Page {
    /// Opens a blank tab over `socket` and attaches to it.
    pub async fn start(socket: BrowserSocket) -> Result<Self, BrowserError> {
        let mut cdp = Cdp::new(socket);
        let created = cdp
            .call("Target.createTarget", json!({"url": "about:blank"}), None)
            .await?;
        let target = id(&created, "/targetId", "Target.createTarget")?;
        let attached = cdp
            .call(
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
                None,
            )
            .await?;
        let session = id(&attached, "/sessionId", "Target.attachToTarget")?;
        cdp.call("Page.enable", json!({}), Some(&session)).await?;
        let tree = cdp
            .call("Page.getFrameTree", json!({}), Some(&session))
            .await?;
        let frame = id(&tree, "/frameTree/frame/id", "Page.getFrameTree")?;
        Ok(Self {
            cdp,
            target,
            session,
            frame,
            elements: Vec::new(),
        })
    }

    /// Loads `url` (already checked to be http(s)) and waits for it, within
    /// bounds.
    pub async fn navigate(&mut self, url: &str) -> Result<(), BrowserError> {
        self.cdp.forget_events();
        let answer = self.call("Page.navigate", json!({"url": url})).await?;
        if let Some(error) = answer.get("errorText").and_then(Value::as_str) {
            return Err(BrowserError::Navigate {
                reason: clean_line(error, MAX_TITLE_CHARS),
            });
        }
        // No loader: the URL only moved within the document, nothing loads.
        if answer.get("loaderId").is_some() {
            self.wait_loaded().await?;
        }
        Ok(())
    }

    /// The page as text, renumbering its elements.
    pub async fn read(&mut self, max_chars: usize) -> Result<String, BrowserError> {
        let (url, title) = self.location().await?;
        let tree = self.call("Accessibility.getFullAXTree", json!({})).await?;
        let Outline { text, elements, .. } = outline(&tree, &title, &url, max_chars);
        self.elements = elements;
        Ok(text)
    }

    /// The title, for telling the model what a screenshot showed.
    pub async fn title(&mut self) -> Result<String, BrowserError> {
        Ok(self.location().await?.1)
    }

    /// Ends the tab and the connection (and with it, behind the edge, the
    /// browser). Best effort: the browser may already be gone.
    pub async fn close(mut self) {
        let target = self.target.clone();
        let closing = self
            .cdp
            .call("Target.closeTarget", json!({"targetId": target}), None);
        let _ = tokio::time::timeout(Duration::from_secs(2), closing).await;
        self.cdp.close().await;
    }

    /// The current entry's URL and title, from the browser's history.
    async fn location(&mut self) -> Result<(String, String), BrowserError> {
        const METHOD: &str = "Page.getNavigationHistory";
        let history = self.call(METHOD, json!({})).await?;
        let index = history.get("currentIndex").and_then(Value::as_u64);
        let entry = index
            .and_then(|i| history.get("entries")?.get(usize::try_from(i).ok()?))
            .ok_or(CdpError::Malformed { method: METHOD })?;
        let field = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or("");
        Ok((
            clean_line(field("url"), 2 * MAX_TITLE_CHARS),
            clean_line(field("title"), MAX_TITLE_CHARS),
        ))
    }

    /// `method` on this page's session.
    async fn call(&mut self, method: &'static str, params: Value) -> Result<Value, BrowserError> {
        Ok(self.cdp.call(method, params, Some(&self.session)).await?)
    }

    /// The `backendDOMNodeId` of element `[n]`.
    fn element(&self, n: usize) -> Result<i64, BrowserError> {
        n.checked_sub(1)
            .and_then(|i| self.elements.get(i))
            .copied()
            .ok_or(BrowserError::NoElement { n })
    }

    /// After an action that may navigate: if a load started, waits for it.
    async fn settle(&mut self) -> Result<(), BrowserError> {
        let (session, frame) = (self.session.clone(), self.frame.clone());
        let started = move |e: &Event| {
            e.session.as_deref() == Some(session.as_str())
                && matches!(
                    e.method.as_str(),
                    "Page.frameStartedLoading" | "Page.frameRequestedNavigation"
                )
                && e.params.get("frameId").and_then(Value::as_str) == Some(frame.as_str())
        };
        let deadline = Instant::now() + NAVIGATION_STARTS_WITHIN;
        if self.cdp.wait_event(deadline, started).await?.is_some() {
            self.wait_loaded().await?;
        }
        Ok(())
    }

    /// Waits for the main frame to stop loading; a page that never does is
    /// read as it is when the time is up.
    async fn wait_loaded(&mut self) -> Result<(), BrowserError> {
        let (session, frame) = (self.session.clone(), self.frame.clone());
        let loaded = move |e: &Event| {
            e.session.as_deref() == Some(session.as_str())
                && (e.method == "Page.loadEventFired"
                    || (e.method == "Page.frameStoppedLoading"
                        && e.params.get("frameId").and_then(Value::as_str) == Some(frame.as_str())))
        };
        self.cdp
            .wait_event(Instant::now() + LOAD_WITHIN, loaded)
            .await?;
        Ok(())
    }
}

/// The id at `pointer` in the browser's answer to `method`: a short string
/// of the characters Chromium uses, as it is sent back to it.
fn id(answer: &Value, pointer: &str, method: &'static str) -> Result<String, CdpError> {
    answer
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_ID_CHARS
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        })
        .map(str::to_owned)
        .ok_or(CdpError::Malformed { method })
}
