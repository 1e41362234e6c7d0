//! The component's side of `hardshell:module`: the `search` tool, its one
//! request through `wasi:http`, and the bounded read of the answer.
// The bindings wit-bindgen generates are the crate's only unsafe code.
#![allow(unsafe_code)]

wit_bindgen::generate!({ path: "../../crates/hardshell-module-host/wit", world: "module" });

use exports::hardshell::module::tools::Guest;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasip2::io::streams::StreamError;

use crate::answer::{self, MAX_BODY_BYTES};
use crate::arguments::Search;
use crate::request;

#[derive(Debug)]
struct WebSearch;

impl Guest for WebSearch {
    fn call(tool: String, arguments: String) -> Result<String, String> {
        match tool.as_str() {
            "search" => search(&arguments),
            _ => Err("this module has one tool, `search`".to_owned()),
        }
    }
}

fn search(arguments: &str) -> Result<String, String> {
    let search = Search::parse(arguments)?;
    let response = send(&request::path_and_query(&search))?;
    let status = response.status();
    let body = body(response)?;
    answer::read(status, &body, search.count)
}

/// Sends the GET to Brave's host and waits for its response head.
fn send(path_and_query: &str) -> Result<IncomingResponse, String> {
    let headers = Fields::new();
    for (name, value) in request::headers() {
        headers
            .append(name, value.as_bytes())
            .map_err(|_| format!("the request header {name} was refused"))?;
    }
    let outgoing = OutgoingRequest::new(headers);
    let built = outgoing.set_method(&Method::Get).is_ok()
        && outgoing.set_scheme(Some(&Scheme::Https)).is_ok()
        && outgoing.set_authority(Some(request::HOST)).is_ok()
        && outgoing.set_path_with_query(Some(path_and_query)).is_ok();
    if !built {
        return Err("the search request could not be built".to_owned());
    }
    let body = outgoing
        .body()
        .map_err(|()| "the search request has no body")?;
    OutgoingBody::finish(body, None).map_err(|_| "the search request could not be finished")?;
    let pending = outgoing_handler::handle(outgoing, None)
        .map_err(|error| format!("the search could not be sent: {error:?}"))?;
    pending.subscribe().block();
    pending
        .get()
        .ok_or("the search got no response")?
        .map_err(|()| "the search's response was taken twice")?
        .map_err(|error| format!("the search failed: {error:?}"))
}

/// The response's body, at most [`MAX_BODY_BYTES`].
fn body(response: IncomingResponse) -> Result<Vec<u8>, String> {
    let incoming = response
        .consume()
        .map_err(|()| "Brave Search's answer has no body")?;
    let stream = incoming
        .stream()
        .map_err(|()| "Brave Search's answer cannot be read")?;
    let mut received = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                if received.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(format!(
                        "Brave Search's answer is larger than {MAX_BODY_BYTES} bytes"
                    ));
                }
                received.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok(received),
            Err(StreamError::LastOperationFailed(_)) => {
                return Err("Brave Search's answer broke off".to_owned());
            }
        }
    }
}

export!(WebSearch);
