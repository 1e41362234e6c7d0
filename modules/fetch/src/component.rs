//! The component's side of `hardshell:module`: the `fetch` tool, its `GET`s
//! through `wasi:http` (following redirects itself, each checked again),
//! and the bounded read of the page.
// The bindings wit-bindgen generates are the crate's only unsafe code.
#![allow(unsafe_code)]

wit_bindgen::generate!({ path: "../../crates/hardshell-module-host/wit", world: "module" });

use exports::hardshell::module::tools::Guest;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasip2::io::streams::StreamError;

use crate::arguments::{Fetch, Target};
use crate::page::{self, MAX_PAGE_BYTES, Response};

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;
/// Longest `Location` or `Content-Type` read.
const MAX_HEADER_CHARS: usize = 2048;

#[derive(Debug)]
struct FetchModule;

impl Guest for FetchModule {
    fn call(tool: String, arguments: String) -> Result<String, String> {
        match tool.as_str() {
            "fetch" => fetch(&arguments),
            _ => Err("this module has one tool, `fetch`".to_owned()),
        }
    }
}

fn fetch(arguments: &str) -> Result<String, String> {
    let Fetch {
        mut target,
        max_chars,
    } = Fetch::parse(arguments)?;
    for _ in 0..=MAX_REDIRECTS {
        let response = send(&target)?;
        let status = response.status();
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            let location = header(&response, "location").ok_or_else(|| {
                format!("{target} redirects (HTTP {status}) without saying where")
            })?;
            target = target
                .redirected(&location)
                .map_err(|why| format!("{target} redirects somewhere not fetched: {why}"))?;
            continue;
        }
        let content_type = header(&response, "content-type");
        let (body, cut) = body(response)?;
        if body.starts_with(b"hardshell broker:") {
            return Err(format!(
                "{target} was not fetched: hardshell's broker refused it (HTTP {status}); \
                 it reads public hosts only"
            ));
        }
        let response = Response {
            status,
            content_type: content_type.as_deref(),
            body: &body,
            cut,
        };
        return page::text(&target.to_string(), &response, max_chars);
    }
    Err(format!(
        "more than {MAX_REDIRECTS} redirects; stopped at {target}"
    ))
}

/// Sends a `GET` of `target` and waits for its response head.
fn send(target: &Target) -> Result<IncomingResponse, String> {
    let headers = Fields::new();
    for (name, value) in [
        ("user-agent", "hardshell-fetch/0.1"),
        ("accept", "text/html, text/plain;q=0.9, */*;q=0.1"),
    ] {
        headers
            .append(name, value.as_bytes())
            .map_err(|_| format!("the request header {name} was refused"))?;
    }
    let outgoing = OutgoingRequest::new(headers);
    let scheme = if target.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let built = outgoing.set_method(&Method::Get).is_ok()
        && outgoing.set_scheme(Some(&scheme)).is_ok()
        && outgoing.set_authority(Some(&target.host)).is_ok()
        && outgoing
            .set_path_with_query(Some(&target.path_and_query))
            .is_ok();
    if !built {
        return Err(format!("a request for {target} could not be built"));
    }
    let body = outgoing
        .body()
        .map_err(|()| "the request has no body".to_owned())?;
    OutgoingBody::finish(body, None).map_err(|_| "the request could not be finished".to_owned())?;
    let pending = outgoing_handler::handle(outgoing, None)
        .map_err(|error| format!("{target} could not be fetched: {error:?}"))?;
    pending.subscribe().block();
    pending
        .get()
        .ok_or_else(|| format!("{target} gave no response"))?
        .map_err(|()| "the response was taken twice".to_owned())?
        .map_err(|error| format!("{target} could not be fetched: {error:?}"))
}

/// The first value of header `name`, printable and bounded.
fn header(response: &IncomingResponse, name: &str) -> Option<String> {
    let values = response.headers().get(name);
    let value = values.first()?;
    let text = String::from_utf8_lossy(value);
    Some(
        text.chars()
            .filter(|c| !c.is_control())
            .take(MAX_HEADER_CHARS)
            .collect(),
    )
}

/// The body, at most [`MAX_PAGE_BYTES`], and whether it went on.
fn body(response: IncomingResponse) -> Result<(Vec<u8>, bool), String> {
    let incoming = response
        .consume()
        .map_err(|()| "the page has no body".to_owned())?;
    let stream = incoming
        .stream()
        .map_err(|()| "the page cannot be read".to_owned())?;
    let mut received = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                let room = MAX_PAGE_BYTES - received.len();
                if chunk.len() > room {
                    received.extend_from_slice(&chunk[..room]);
                    return Ok((received, true));
                }
                received.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok((received, false)),
            Err(StreamError::LastOperationFailed(_)) => {
                return Err("the page broke off".to_owned());
            }
        }
    }
}

export!(FetchModule);
