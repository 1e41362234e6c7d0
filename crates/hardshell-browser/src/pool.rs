//! The browser pool: at most `max_instances` browsers at once, each started
//! fresh for one session and ended with it. Nothing is reused: a session's
//! cookies, cache and storage live in its shell's `/tmp` and are gone when
//! the shell is.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UnixStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::devtools::{self, DevtoolsError};
use crate::launch::{BrowserExit, Launch, LaunchError, RunningBrowser, SessionId};

/// How the pool runs its browsers.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Browsers at once (`[browser] max_instances`); a session past them is
    /// refused at once rather than queued: a CDP client waiting on a
    /// handshake cannot tell a queue from a hang.
    pub max_instances: usize,
    /// How long a fresh browser has to answer on its DevTools port.
    pub ready_within: Duration,
    /// The browser's WebSocket: its message bounds are the relay's
    /// (`RelayLimits::browser_config`).
    pub browser: WebSocketConfig,
}

/// Why a session got no browser.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("every browser is in use ({0} at once)")]
    Busy(usize),
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error(transparent)]
    Devtools(#[from] DevtoolsError),
}

/// Starts a fresh browser per session; see the module.
#[derive(Debug)]
pub struct BrowserPool {
    launcher: Arc<dyn Launch>,
    slots: Arc<Semaphore>,
    settings: PoolSettings,
    sessions: AtomicU64,
}

impl BrowserPool {
    /// Browsers at once (`[browser] max_instances`).
    pub fn max_instances(&self) -> usize {
        self.settings.max_instances
    }

    pub fn new(launcher: Arc<dyn Launch>, settings: PoolSettings) -> Self {
        Self {
            launcher,
            slots: Arc::new(Semaphore::new(settings.max_instances.max(1))),
            settings,
            sessions: AtomicU64::new(1),
        }
    }

    /// A fresh browser, its DevTools WebSocket open, for a new session.
    /// Refused at once when `max_instances` browsers run.
    pub async fn open(&self) -> Result<BrowserSession, PoolError> {
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| PoolError::Busy(self.settings.max_instances))?;
        let id = SessionId::new(self.sessions.fetch_add(1, Ordering::Relaxed));
        let running = self.launcher.launch(&id).await?;
        let ready_within = self.settings.ready_within;
        match devtools::connect(running.devtools(), ready_within, self.settings.browser).await {
            Ok(browser) => Ok(BrowserSession {
                id,
                browser: Some(browser),
                running: Some(running),
                slot: Some(slot),
            }),
            Err(e) => {
                let exit = running.stop().await;
                tracing::warn!(session = %id, ?exit, "the browser never answered on its DevTools port");
                Err(e.into())
            }
        }
    }
}

/// One session's browser: its DevTools WebSocket and its shell. Closing
/// it ends the shell; dropping it without closing ends it too (in a task).
#[derive(Debug)]
pub struct BrowserSession {
    pub id: SessionId,
    browser: Option<WebSocketStream<UnixStream>>,
    running: Option<Box<dyn RunningBrowser>>,
    /// The pool's place, given back once the session's shell has ended.
    slot: Option<OwnedSemaphorePermit>,
}

impl BrowserSession {
    /// The browser-wide CDP WebSocket; `None` once taken.
    pub fn take_browser(&mut self) -> Option<WebSocketStream<UnixStream>> {
        self.browser.take()
    }

    /// Ends the browser's whole shell and waits for its last process.
    pub async fn close(mut self) -> BrowserExit {
        drop(self.browser.take());
        let exit = match self.running.take() {
            Some(running) => running.stop().await,
            None => BrowserExit::Unknown,
        };
        drop(self.slot.take());
        exit
    }
}

impl Drop for BrowserSession {
    fn drop(&mut self) {
        if let Some(running) = self.running.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let slot = self.slot.take();
            runtime.spawn(async move {
                running.stop().await;
                drop(slot);
            });
        }
    }
}
