//! The policed relay between one CDP client and its browser: two WebSockets,
//! JSON values, unknown fields passed through. Every command is decided by
//! the [`MethodPolicy`] before the browser sees it; refusals are CDP error
//! answers and the session goes on. What ends a session (and how the client
//! learns it) is [`EndCause`].
//!
//! Neither side is trusted: the client may be anyone holding a browser
//! token, and the browser may be owned by a page. The relay bounds what each
//! can make it keep (message sizes, commands in flight, pages), answers only
//! ids it issued, and never logs a parameter.

mod admit;
mod end;
mod limits;
mod pages;
mod pending;
mod wire;

use std::future::Future;
use std::ops::ControlFlow::{self, Break, Continue};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hardshell_ratelimit::Tat;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, sleep_until, timeout, timeout_at};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

pub use end::{EndCause, RelayEnd};
pub use limits::RelayLimits;
use pages::{PageEvent, Pages};
use pending::{Pending, Waiting};
use wire::{browser_failed, client_failed, error_answer, send};

use crate::command::Command;
use crate::policy::{MethodPolicy, SessionRules};
use crate::trail::BrowserTrail;

/// How long closing handshakes may take: a peer that stops reading must not
/// keep a finished session's task alive.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

type Step = ControlFlow<EndCause>;

/// Relays one session until it ends or `stop` completes, and says why. Both
/// streams must have been made with [`RelayLimits::client_config`] and
/// [`RelayLimits::browser_config`], so oversized messages are refused as they
/// are read. The caller records the session's start and, with the returned
/// [`RelayEnd`], its end ([`BrowserTrail`]); refusals and navigations are
/// recorded here.
pub async fn relay<C, B>(
    mut client: WebSocketStream<C>,
    mut browser: WebSocketStream<B>,
    policy: &MethodPolicy,
    session: &SessionRules,
    limits: &RelayLimits,
    trail: &BrowserTrail,
    stop: impl Future<Output = ()> + Send,
) -> RelayEnd
where
    C: AsyncRead + AsyncWrite + Unpin + Send,
    B: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut relay = Relay::new(policy, session, limits, trail);
    let started = relay.started;
    let cause = {
        let run = timeout_at(
            later(started, limits.lifetime),
            relay.run(&mut client, &mut browser),
        );
        tokio::select! {
            ended = run => ended.unwrap_or(EndCause::Lifetime),
            () = stop => EndCause::Stopped,
        }
    };
    relay.finish(cause, &mut client, &mut browser).await;
    RelayEnd {
        cause,
        pages: relay.pages.opened(),
        refused: relay.refused,
        navigated: relay.navigated,
        duration: started.elapsed(),
    }
}

struct Relay<'a> {
    policy: &'a MethodPolicy,
    rules: &'a SessionRules,
    limits: &'a RelayLimits,
    trail: &'a BrowserTrail,
    pending: Pending,
    pages: Pages,
    /// The rate limit's state (GCRA).
    tat: Option<Tat>,
    /// Whether the last command was rate-limited: only the first refusal of
    /// a run is recorded, so a flood cannot fill the audit log.
    limited: bool,
    /// Commands refused and navigations let through, so far.
    refused: u64,
    navigated: u64,
    started: Instant,
}

impl<'a> Relay<'a> {
    fn new(
        policy: &'a MethodPolicy,
        rules: &'a SessionRules,
        limits: &'a RelayLimits,
        trail: &'a BrowserTrail,
    ) -> Relay<'a> {
        Relay {
            policy,
            rules,
            limits,
            trail,
            pending: Pending::new(limits.max_in_flight),
            pages: Pages::new(limits.max_pages),
            tat: None,
            limited: false,
            refused: 0,
            navigated: 0,
            started: Instant::now(),
        }
    }

    async fn run<C, B>(
        &mut self,
        client: &mut WebSocketStream<C>,
        browser: &mut WebSocketStream<B>,
    ) -> EndCause
    where
        C: AsyncRead + AsyncWrite + Unpin + Send,
        B: AsyncRead + AsyncWrite + Unpin + Send,
    {
        // Pages opened by pages are seen only through discovery.
        let discover = json!({"discover": true});
        if let Break(cause) = self
            .send_own(browser, "Target.setDiscoverTargets", discover)
            .await
        {
            return cause;
        }
        let mut idle_until = later(Instant::now(), self.limits.idle);
        loop {
            let step = tokio::select! {
                message = client.next() => {
                    idle_until = later(Instant::now(), self.limits.idle);
                    self.client_message(message, client, browser).await
                }
                message = browser.next() => self.browser_message(message, client, browser).await,
                () = sleep_until(idle_until) => Break(EndCause::Idle),
            };
            if let Break(cause) = step {
                return cause;
            }
        }
    }

    async fn client_message<C, B>(
        &mut self,
        message: Option<Result<Message, WsError>>,
        client: &mut WebSocketStream<C>,
        browser: &mut WebSocketStream<B>,
    ) -> Step
    where
        C: AsyncRead + AsyncWrite + Unpin + Send,
        B: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let text = match message {
            None | Some(Ok(Message::Close(_))) => return Break(EndCause::ClientClosed),
            Some(Err(error)) => return Break(client_failed(&error)),
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => return Break(EndCause::ClientBinary),
            Some(Ok(_)) => return Continue(()),
        };
        if text.len() > self.limits.max_client_message_bytes {
            return Break(EndCause::ClientTooLarge);
        }
        let command = match Command::parse(text.as_str()) {
            Ok(command) => command,
            Err(error) => return Break(EndCause::ClientMalformed(error)),
        };
        let id = command.id().clone();
        let session_id = command.session_id().map(str::to_owned);
        let method = command.method().to_owned();
        let permitted = match self.admit(command) {
            Ok(permitted) => permitted,
            Err(refused) => {
                let answer = error_answer(
                    &id,
                    session_id.as_deref(),
                    refused.code(),
                    &refused.message(&method),
                );
                return send(client, answer, EndCause::ClientClosed).await;
            }
        };
        if let Some(host) = permitted.navigated() {
            if self.navigated < self.limits.max_navigation_records {
                self.trail.navigated(host);
            }
            self.navigated = self.navigated.saturating_add(1);
        }
        // The edge keeps its own copy of what the agent's browser shows it
        // (the owner is shown that copy, never one the agent hands over).
        let capture = method == "Page.captureScreenshot" && self.trail.keeps_screenshots();
        let waiting = Waiting::Client {
            id,
            session_id,
            capture,
        };
        let Some(proxy_id) = self.pending.insert(waiting) else {
            // `admit` refused a full map; nothing else fills it in between.
            return Continue(());
        };
        send(
            browser,
            permitted.command().to_browser(proxy_id),
            EndCause::BrowserEnded,
        )
        .await
    }

    async fn browser_message<C, B>(
        &mut self,
        message: Option<Result<Message, WsError>>,
        client: &mut WebSocketStream<C>,
        browser: &mut WebSocketStream<B>,
    ) -> Step
    where
        C: AsyncRead + AsyncWrite + Unpin + Send,
        B: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let text = match message {
            None | Some(Ok(Message::Close(_))) => return Break(EndCause::BrowserEnded),
            Some(Err(error)) => return Break(browser_failed(&error)),
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => return Break(EndCause::BrowserMalformed),
            Some(Ok(_)) => return Continue(()),
        };
        if text.len() > self.limits.max_browser_message_bytes {
            return Break(EndCause::BrowserTooLarge);
        }
        let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(text.as_str()) else {
            return Break(EndCause::BrowserMalformed);
        };
        if let Some(id) = fields.get("id") {
            let Some(id) = id.as_u64() else {
                return Break(EndCause::BrowserMalformed);
            };
            return match self.pending.answer(id) {
                Some(Waiting::Client { id, capture, .. }) => {
                    if capture
                        && let Some(data) = fields
                            .get("result")
                            .and_then(|result| result.get("data"))
                            .and_then(Value::as_str)
                    {
                        self.trail.screenshot(data);
                    }
                    fields.insert("id".to_owned(), Value::Number(id));
                    send(
                        client,
                        Value::Object(fields).to_string(),
                        EndCause::ClientClosed,
                    )
                    .await
                }
                // The proxy's own answers stay here; an id it never issued
                // is the browser's invention and answers nobody.
                Some(Waiting::Own) | None => Continue(()),
            };
        }
        let Some(Value::String(method)) = fields.get("method") else {
            return Break(EndCause::BrowserMalformed);
        };
        if !fields.contains_key("sessionId") {
            let params = fields.get("params").and_then(Value::as_object);
            if let PageEvent::Close(target) = self.pages.event(method, params) {
                let close = json!({"targetId": target});
                self.send_own(browser, "Target.closeTarget", close).await?;
            }
        }
        // Events pass as the browser sent them: unknown events, unknown fields.
        match client.send(Message::Text(text)).await {
            Ok(()) => Continue(()),
            Err(_) => Break(EndCause::ClientClosed),
        }
    }

    /// A command of the proxy's own; skipped when the in-flight map is full
    /// (the client's commands fill it, and the next page event retries).
    async fn send_own<B>(
        &mut self,
        browser: &mut WebSocketStream<B>,
        method: &str,
        params: Value,
    ) -> Step
    where
        B: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Some(proxy_id) = self.pending.insert(Waiting::Own) else {
            tracing::warn!(
                method,
                "CDP proxy: too many commands in flight to send its own"
            );
            return Continue(());
        };
        let text = Command::own(method, params).to_browser(proxy_id);
        send(browser, text, EndCause::BrowserEnded).await
    }

    /// Answers what is left and closes both sides, each bounded by
    /// [`CLOSE_GRACE`].
    async fn finish<C, B>(
        &mut self,
        cause: EndCause,
        client: &mut WebSocketStream<C>,
        browser: &mut WebSocketStream<B>,
    ) where
        C: AsyncRead + AsyncWrite + Unpin + Send,
        B: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let waiting = self.pending.drain_clients();
        let to_client = async {
            if cause != EndCause::ClientClosed {
                for (id, session_id) in waiting {
                    let answer = error_answer(
                        &id,
                        session_id.as_deref(),
                        -32000,
                        "hardshell: the session ended before the browser answered",
                    );
                    if client.send(Message::text(answer)).await.is_err() {
                        break;
                    }
                }
            }
            let _ = client.close(cause.close_frame()).await;
        };
        let _ = timeout(CLOSE_GRACE, to_client).await;
        if !matches!(cause, EndCause::BrowserEnded) {
            let _ = timeout(CLOSE_GRACE, browser.close(None)).await;
        }
    }
}

/// `now + wait`, or a time that never comes for a wait past any clock (a
/// configured limit must not panic the relay).
fn later(now: Instant, wait: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(wait.min(CENTURY)).unwrap_or(now)
}
