//! The CDP proxy's routes: `GET /cdp`, a WebSocket to a fresh browser of
//! the client's own (`hardshell-browser`), and `GET /cdp/json/version`, the
//! discovery document CDP clients read first. Both need the `Browser`
//! requirement (a `browser`-scoped token or an admin) and take the token
//! from the query string for clients that cannot send headers; the
//! handshake's `Origin` was checked by the pipeline (a web page cannot
//! drive the browser with a user's cookie).

use axum::body::Body;
use hardshell_auth::{Browser, Permit};
use http::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;

use crate::connections::Occupancy;
use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder};

pub(crate) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route_with_query_token(Method::GET, "/cdp", connect)
        .route_with_query_token(Method::GET, "/cdp/json/version", version)
        // Playwright asks with the trailing slash.
        .route_with_query_token(Method::GET, "/cdp/json/version/", version)
}

/// `/json/version` as Chromium answers it, but for the proxy: the
/// WebSocket URL is the edge's own `/cdp`, and no token is ever echoed in it
/// (a client that gave one in the query gives it again).
async fn version(_: Permit<Browser>, cx: Context, _: Request<Body>) -> HttpResponse {
    let mut url = cx.state.public_url.clone();
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    if url.set_scheme(scheme).is_err() {
        return response::internal_error();
    }
    url.set_path("/cdp");
    url.set_query(None);
    response::json(
        StatusCode::OK,
        &json!({
            "Browser": "hardshell",
            "Protocol-Version": "1.3",
            "webSocketDebuggerUrl": url.as_str(),
        }),
    )
}

/// Answers the WebSocket handshake itself and hands the connection to the
/// browser service, which starts the client's own browser and relays its
/// commands through the method policy.
async fn connect(_: Permit<Browser>, cx: Context, mut request: Request<Body>) -> HttpResponse {
    let Some(service) = cx.state.browser.clone() else {
        return response::not_found();
    };
    let Some(accept) = hardshell_browser::handshake::accept(request.headers()) else {
        return response::bad_request("a WebSocket handshake (version 13) is expected here\n");
    };
    let upgrade = hyper::upgrade::on(&mut request);
    let kept = request
        .extensions_mut()
        .remove::<Occupancy>()
        .map(Occupancy::keep);
    let client = hardshell_browser::CdpClient::Api;
    let credentials = cx.credentials;
    tokio::spawn(async move {
        let upgraded = match upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::warn!(error = %e, "a CDP client's upgrade failed");
                return;
            }
        };
        let mut kept = kept;
        let stop = async move {
            let stopping = async {
                match &mut kept {
                    Some(kept) => kept.stopping().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = credentials.ended() => tracing::info!("a CDP session ends: a credential it was opened with was revoked"),
                () = stopping => {}
            }
        };
        service.serve(TokioIo::new(upgraded), client, stop).await;
    });
    let mut response = HttpResponse::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    hardshell_browser::handshake::switching(response.headers_mut(), accept);
    response
}
