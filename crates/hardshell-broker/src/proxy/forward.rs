//! One request the broker reads (plain HTTP, or inside an inspected
//! tunnel), already admitted, from the shell's bytes to the answer's head.
//! The phases, in the order [`Broker::forward`] runs them:
//!
//! 1. the body read whole, up to the scan window (`max_body_bytes`); a
//!    longer one, on a route without a tap, keeps its rest to stream;
//! 2. the leak scan of what the shell sent, before any swap;
//! 3. the tap, on a tagged route;
//! 4. the swap ([`super::swap`]), refused where a placeholder may not go;
//! 5. sent: whole, or the window then the rest as it arrives
//!    ([`super::stream`]), the answer's wait bounded;
//! 6. the answer: headers and body read for echoes of swapped values,
//!    metered, counted; or, on `101`, a WebSocket joined
//!    ([`super::websocket`]).

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;

use super::shell::{Shell, Slot, counted};
use super::stream::{Rest, Streaming, Watch, cut_refusal, streamed};
use super::swap::{Swapped, Unsendable, text_head};
use super::tap::{Meter, relay};
use super::upstream::Upstream;
use super::{Body, Broker, Event, empty, full, refusal, websocket};
use crate::host::Host;
use crate::policy::{Placeholders, Route};
use crate::secrets::{LeakScanner, Redactor, StreamScan, ends_in_placeholder};

/// The shell's side of a WebSocket upgrade, and the connection slot it
/// holds while open.
type WebSocketSide = (hyper::upgrade::OnUpgrade, Slot);

impl Broker {
    /// One request, read, scanned, metered, swapped and sent; `inspected`
    /// when it was read inside an inspected tunnel.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn forward(
        &self,
        shell: &Shell,
        request: Request<Incoming>,
        route: &Route,
        host: &Host,
        port: u16,
        upstream: Upstream,
        inspected: bool,
    ) -> Response<Body> {
        let (mut parts, body) = request.into_parts();
        let websocket = match self.websocket_side(shell, &mut parts) {
            Ok(websocket) => websocket,
            Err(refused) => return refused,
        };
        // As the shell stated it, if it did: a streamed body keeps it.
        let stated = hyper::body::Body::size_hint(&body).exact();
        // A tap reads the whole request: a tagged route's body is never
        // streamed.
        let streams = route.tag.is_none();
        // Held until the answer's head is back (a whole body is sent by
        // then).
        let (body, _held, rest) = match self.read_body(shell, body, streams).await {
            Ok(read) => read,
            Err(refused) => return refused,
        };
        if !shell.spend(body.len(), &self.limits) {
            return self.spent(host, port);
        }
        if let Some(refused) = self.scan_request(&parts, &body, host).await {
            return refused;
        }
        let (body, meter) = match self.metered(route, &parts, body, host, port).await {
            Ok(metered) => metered,
            Err(refused) => return refused,
        };
        let bound = matches!(route.placeholders, Placeholders::Bound);
        // A window that ends in a placeholder's name cannot be swapped: the
        // name may go on past it.
        if rest.is_some()
            && bound
            && text_head(&body).is_some_and(|(text, _)| ends_in_placeholder(text))
        {
            return self.deny(
                host,
                port,
                &format!(
                    "a secret placeholder in the request body is cut by the end of its first {} bytes (the part read whole, where placeholders are swapped)",
                    self.limits.max_body_bytes
                ),
            );
        }
        let tls = upstream.tls_name.is_some();
        let swapped = match self.swap(&parts, &body, host, port, route, tls, rest.is_some()) {
            Ok(swapped) => swapped,
            Err(unsendable) => return self.unsendable(unsendable, host),
        };
        self.allowed(host, port, false, inspected);
        let mut sender = match self.idle_connection(&upstream) {
            Some(sender) => sender,
            None => match self.connect(&upstream).await {
                Ok(sender) => sender,
                Err(e) => return refusal(StatusCode::BAD_GATEWAY, &format!("{e}\n")),
            },
        };
        let Swapped { request, values } = swapped;
        let (request, mut watch) = match rest {
            None => (request.map(full), None),
            Some(rest) => {
                let run = Streaming {
                    shell: shell.clone(),
                    limits: self.limits.clone(),
                    events: self.events.clone(),
                    host: host.clone(),
                    port,
                    window: self.limits.max_body_bytes,
                };
                let (request, watch) = self
                    .streaming(request, &body, stated, rest, bound, run)
                    .await;
                (request, Some(watch))
            }
        };
        let mut response = match self.send(&mut sender, request, watch.as_mut()).await {
            Ok(response) => response,
            Err(refused) => return refused,
        };
        let redactor = self.redactors.get(&values);
        // A WebSocket's connection is the WebSocket's now; any other goes
        // back to the pool.
        let splice = match websocket {
            Some((shell_side, slot)) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
                let destination = hyper::upgrade::on(&mut response);
                let splice = websocket::Splice {
                    shell: shell.clone(),
                    slot,
                    limits: self.limits.clone(),
                    events: self.events.clone(),
                    host: host.clone(),
                    port,
                    scanner: self.scanner.current().await,
                    echoes: Arc::new(LeakScanner::new(&values)),
                };
                Some((splice, shell_side, destination))
            }
            _ => {
                self.keep_connection(upstream, sender);
                None
            }
        };
        // Wiped now: the redactor and the echo scan hold what they need.
        drop(values);
        self.answer(shell, response, redactor, meter, splice)
    }

    /// On a WebSocket upgrade, the shell's side of it and a connection
    /// slot for as long as it is open; `None` for any other request.
    // The refusal is the shell's answer, as from every other phase; it is
    // built once per refused request, so its size costs nothing.
    #[allow(clippy::result_large_err)]
    fn websocket_side(
        &self,
        shell: &Shell,
        parts: &mut http::request::Parts,
    ) -> Result<Option<WebSocketSide>, Response<Body>> {
        if !websocket::asks_websocket(parts) {
            return Ok(None);
        }
        let Some(upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                "hardshell broker: this connection cannot become a WebSocket\n",
            ));
        };
        let Some(slot) = shell.slot(&self.limits) else {
            return Err(refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "hardshell broker: too many connections at once\n",
            ));
        };
        Ok(Some((upgrade, slot)))
    }

    /// What the shell sent, before any swap: it holds no secret value, so
    /// any it sends was obtained to be smuggled out. Each part alone (no
    /// copy of the body): a value split across two parts is not one.
    async fn scan_request(
        &self,
        parts: &http::request::Parts,
        body: &Bytes,
        host: &Host,
    ) -> Option<Response<Body>> {
        let scanner = self.scanner.current().await;
        let found = scanner
            .find(parts.uri.to_string().as_bytes())
            .or_else(|| {
                // Names too: a shell chooses them as freely as the values.
                parts.headers.iter().find_map(|(name, value)| {
                    scanner
                        .find(name.as_str().as_bytes())
                        .or_else(|| scanner.find(value.as_bytes()))
                })
            })
            .or_else(|| scanner.find(parts.method.as_str().as_bytes()))
            .or_else(|| scanner.find(body))?;
        Some(self.leak(&found.name, host))
    }

    /// A tagged route's request through its tap: the body to send and the
    /// meter for the answer; any other's as it is.
    async fn metered(
        &self,
        route: &Route,
        parts: &http::request::Parts,
        body: Bytes,
        host: &Host,
        port: u16,
    ) -> Result<(Bytes, Option<Box<dyn Meter>>), Response<Body>> {
        match (&route.tag, &self.tap) {
            (None, _) => Ok((body, None)),
            (Some(_), None) => Err(refusal(
                StatusCode::BAD_GATEWAY,
                "hardshell broker: this route is metered and its meter is missing\n",
            )),
            (Some(tag), Some(tap)) => match tap.admit(tag, parts, body).await {
                Ok(admitted) => Ok((admitted.body, Some(admitted.meter))),
                Err(refused) => {
                    (self.events)(Event::Denied {
                        host: host.to_string(),
                        port,
                        reason: refused.reason,
                    });
                    Err(refused.response.map(full))
                }
            },
        }
    }

    /// The refusal of a request that could not be swapped, recorded where
    /// it is a decision.
    fn unsendable(&self, unsendable: Unsendable, host: &Host) -> Response<Body> {
        match unsendable {
            Unsendable::Invalid(why) => refusal(
                StatusCode::BAD_REQUEST,
                &format!("hardshell broker: {why}\n"),
            ),
            Unsendable::Misdirected(name) => {
                (self.events)(Event::SecretMisdirected {
                    name: name.clone(),
                    host: host.to_string(),
                });
                refusal(
                    StatusCode::FORBIDDEN,
                    &format!("hardshell broker: refused: secret {name} is not bound to {host}\n"),
                )
            }
        }
    }

    /// The request with its swapped window first and the rest streamed
    /// after it, scanned in passing; the length the shell stated kept,
    /// corrected for the swap.
    async fn streaming(
        &self,
        request: Request<Bytes>,
        read: &Bytes,
        stated: Option<u64>,
        rest: Rest,
        bound: bool,
        run: Streaming,
    ) -> (Request<Body>, Watch) {
        let (mut head, window) = request.into_parts();
        // The stated length, less the window as the shell sent it, plus
        // the window as it leaves.
        head.headers.remove(http::header::CONTENT_LENGTH);
        if let Some(length) = stated
            .and_then(|stated| stated.checked_sub(u64::try_from(read.len()).ok()?))
            .and_then(|after| after.checked_add(u64::try_from(window.len()).ok()?))
        {
            head.headers.insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(length),
            );
        }
        // Placeholders past the window stop the body only where they would
        // have been swapped: a text body on a route that swaps them.
        let text = text_head(read).is_some();
        let scan = StreamScan::new(self.scanner.current().await, bound && text, read);
        let (body, watch) = streamed(window, rest, scan, run);
        (Request::from_parts(head, body), watch)
    }

    /// Sends `request` and waits for the answer's head, at most
    /// `response_timeout`. A streamed body may take long to send, a piece
    /// at most `body_idle` apart from the shell: the wait starts once it
    /// has all been sent (or the destination answers before), and a
    /// destination that takes no piece for as long is given up on.
    async fn send(
        &self,
        sender: &mut SendRequest<Body>,
        request: Request<Body>,
        watch: Option<&mut Watch>,
    ) -> Result<Response<Incoming>, Response<Body>> {
        let sent = sender.send_request(request);
        let timeout = self.limits.response_timeout;
        let (sent, cut) = match watch {
            None => (tokio::time::timeout(timeout, sent).await, None),
            Some(watch) => {
                tokio::pin!(sent);
                let sent = loop {
                    tokio::select! {
                        answer = &mut sent => break Ok(answer),
                        moved = tokio::time::timeout(timeout, watch.progress.changed()) => {
                            match moved {
                                Ok(Ok(())) => {}
                                Ok(Err(_ended)) => {
                                    break tokio::time::timeout(timeout, &mut sent).await;
                                }
                                Err(elapsed) => break Err(elapsed),
                            }
                        }
                    }
                };
                (sent, watch.cut())
            }
        };
        let Ok(sent) = sent else {
            return Err(refusal(
                StatusCode::GATEWAY_TIMEOUT,
                "hardshell broker: the destination did not answer in time\n",
            ));
        };
        sent.map_err(|e| match cut {
            Some(cut) => cut_refusal(&cut),
            None => refusal(
                StatusCode::BAD_GATEWAY,
                &format!("the destination failed: {e}\n"),
            ),
        })
    }

    /// The answer for the shell: headers and body read for echoes of the
    /// swapped values (a compressed one refused, as it could not be),
    /// metered, counted; on `101`, the WebSocket joined instead.
    fn answer(
        &self,
        shell: &Shell,
        response: Response<Incoming>,
        redactor: Option<Redactor>,
        meter: Option<Box<dyn Meter>>,
        splice: Option<(
            websocket::Splice,
            hyper::upgrade::OnUpgrade,
            hyper::upgrade::OnUpgrade,
        )>,
    ) -> Response<Body> {
        if redactor.is_some()
            && response
                .headers()
                .get(http::header::CONTENT_ENCODING)
                .is_some_and(|encoding| encoding != "identity")
        {
            return refusal(
                StatusCode::BAD_GATEWAY,
                "hardshell broker: the destination compressed its answer to a request that carried a secret, so it cannot be checked for the secret\n",
            );
        }
        let status = response.status();
        let (mut head, body) = response.into_parts();
        if let Some(redactor) = &redactor {
            // The length changes when a value becomes its placeholder.
            head.headers.remove(http::header::CONTENT_LENGTH);
            // An echo may come back in a header too.
            for value in head.headers.values_mut() {
                if let Some(replaced) = redactor.whole(value.as_bytes()) {
                    match http::HeaderValue::from_bytes(&replaced) {
                        Ok(replaced) => *value = replaced,
                        Err(_) => *value = http::HeaderValue::from_static(""),
                    }
                }
            }
        }
        if let Some((splice, shell_side, destination)) = splice {
            tokio::spawn(async move {
                if let Ok(destination) = destination.await {
                    splice.start(shell_side, destination);
                }
            });
            return Response::from_parts(head, empty());
        }
        let body = counted(body, shell.clone(), self.limits.clone());
        let body = match (redactor, meter) {
            (None, None) => body,
            (redactor, meter) => relay(body, redactor, meter, status),
        };
        Response::from_parts(head, body)
    }
}
