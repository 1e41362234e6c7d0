//! The browser for the built-in agent: a unix socket in the agent's socket
//! directory (`hardshell_protocol::socket::BROWSER_SOCKET`), where the
//! agent's `browser` tool opens a WebSocket per conversation:
//! `GET /cdp?session=<conversation>`. Each gets a fresh browser of its own,
//! as an edge client does, through the same policed relay.
//!
//! The conversation is marked as having read untrusted content
//! (`on_browse`) as its browser session opens, by the edge, whatever the
//! agent says later: from then on its commands are asked about.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::UnixListener;
use tokio::sync::Semaphore;

use crate::service::{CdpClient, CdpService};

/// Connections at once on the agent's socket: each holds a browser or waits
/// for one, and the pool refuses past `max_instances` anyway.
const MAX_CONNECTIONS: usize = 16;
/// How long a connection may take to send its handshake: a shell that
/// opens connections and sends nothing holds no place for long.
const HEAD_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);
/// The longest conversation id taken (the agent's are well under).
const MAX_SESSION_BYTES: usize = 128;

/// What happens when one of the agent's conversations opens a browser.
pub type OnBrowse = Arc<dyn Fn(&str) + Send + Sync>;

/// Serves the agent's browser socket until the task is dropped.
pub async fn serve_agent_socket(
    listener: UnixListener,
    service: Arc<CdpService>,
    on_browse: OnBrowse,
) {
    serve(listener, service, on_browse, |session| CdpClient::Agent {
        session,
    })
    .await;
}

/// Serves a workload's browser socket (`[workload] browser`), reached
/// through its shell's forwarder on `127.0.0.1:9222`, until the task is
/// dropped. `?session=` is whatever the workload says; it names nothing
/// of the edge's.
pub async fn serve_workload_socket(listener: UnixListener, service: Arc<CdpService>) {
    let nothing: OnBrowse = Arc::new(|_: &str| {});
    serve(listener, service, nothing, |_| CdpClient::Workload).await;
}

async fn serve(
    listener: UnixListener,
    service: Arc<CdpService>,
    on_browse: OnBrowse,
    client: fn(String) -> CdpClient,
) {
    use hardshell_accept::Listener as _;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Some(HEAD_WITHIN));
    loop {
        let stream = listener.next("agent browser").await;
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Closed unread: the agent has more open than it may.
            continue;
        };
        let (service, on_browse, builder) = (service.clone(), on_browse.clone(), builder.clone());
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |request| {
                let (service, on_browse) = (service.clone(), on_browse.clone());
                async move { Ok::<_, Infallible>(handshake(request, service, on_browse, client)) }
            });
            hardshell_accept::serve_http1("agent browser", &builder, stream, handler, true).await;
            drop(slot);
        });
    }
}

/// Answers one handshake: 101 and the session served, or a plain refusal.
fn handshake(
    mut request: Request<Incoming>,
    service: Arc<CdpService>,
    on_browse: OnBrowse,
    client: fn(String) -> CdpClient,
) -> Response<Full<Bytes>> {
    let refuse = |status: StatusCode, why: &'static str| {
        let mut response = Response::new(Full::new(Bytes::from_static(why.as_bytes())));
        *response.status_mut() = status;
        response
    };
    if request.uri().path() != "/cdp" {
        return refuse(StatusCode::NOT_FOUND, "not found\n");
    }
    let Some(session) = session_of(request.uri().query()) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "?session=<conversation id> is needed\n",
        );
    };
    let Some(accept) = crate::handshake::accept(request.headers()) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake is expected\n",
        );
    };
    on_browse(&session);
    let upgraded = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match upgraded.await {
            Ok(upgraded) => {
                let client = client(session);
                service
                    .serve(TokioIo::new(upgraded), client, std::future::pending())
                    .await;
            }
            Err(e) => tracing::debug!(error = %e, "the agent's browser upgrade failed"),
        }
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    crate::handshake::switching(response.headers_mut(), accept);
    response
}

/// `session=` of the query, when it is a plain conversation id
/// (`[A-Za-z0-9-]`, at most [`MAX_SESSION_BYTES`]).
fn session_of(query: Option<&str>) -> Option<String> {
    let value = url::form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == "session")
        .map(|(_, value)| value.into_owned())?;
    let plain = !value.is_empty()
        && value.len() <= MAX_SESSION_BYTES
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    plain.then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_conversation_id_is_taken() {
        assert_eq!(
            session_of(Some("session=web-0a1b2c3d-0011")).as_deref(),
            Some("web-0a1b2c3d-0011")
        );
        for bad in [
            "session=",
            "session=a/b",
            "session=..",
            "session=a%0Ab",
            "other=x",
            &format!("session={}", "a".repeat(129)),
        ] {
            assert_eq!(session_of(Some(bad)), None, "{bad}");
        }
        assert_eq!(session_of(None), None);
    }
}
