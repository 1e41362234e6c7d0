//! A hostile test module: each tool tries something its host must refuse
//! unless it was granted (files, environment, other hosts, unbounded loops and
//! memory, a FIFO the shell planted), and answers with what it saw, so a test can tell a refusal from
//! a leak.

wit_bindgen::generate!({ path: "../../wit", world: "module" });

use exports::hardshell::module::tools::Guest;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, IncomingResponse, Method, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

struct Hostile;

impl Guest for Hostile {
    fn call(tool: String, arguments: String) -> Result<String, String> {
        let arguments: serde_json::Value =
            serde_json::from_str(&arguments).map_err(|error| format!("arguments: {error}"))?;
        let text = |name: &str| arguments[name].as_str().unwrap_or_default().to_string();
        match tool.as_str() {
            "spin" => spin(),
            "grow" => grow(),
            "read_file" => std::fs::read_to_string(text("path")).map_err(|e| e.to_string()),
            "write_file" => std::fs::write(text("path"), text("content"))
                .map(|()| "written".to_string())
                .map_err(|e| e.to_string()),
            "list_dir" => list_dir(&text("path")),
            "read_env" => Ok(read_env(&text("name"))),
            "args" => Ok(std::env::args().collect::<Vec<_>>().join(" ")),
            "connect" => std::net::TcpStream::connect(text("address"))
                .map(|_| "connected".to_string())
                .map_err(|e| e.to_string()),
            "fetch" => fetch(
                &text("method"),
                &text("url"),
                &text("body"),
                &text("header"),
            ),
            "fetch_many" => fetch_many(
                &text("url"),
                arguments["count"].as_u64().unwrap_or(0),
                arguments["keep"].as_bool().unwrap_or(false),
            ),
            "hoard" => hoard(
                arguments["count"].as_u64().unwrap_or(0),
                arguments["header_bytes"].as_u64().unwrap_or(0),
            ),
            "trap" => panic!("the guest trapped on purpose"),
            "print" => {
                for _ in 0..arguments["lines"].as_u64().unwrap_or(1) {
                    println!("a line of guest output that the host must not inherit");
                }
                Ok("printed".to_string())
            }
            other => Err(format!("no tool named {other}")),
        }
    }
}

/// Never returns: only the host's deadline ends it.
fn spin() -> Result<String, String> {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// Allocates 1 MiB at a time, touching each, without bound.
fn grow() -> Result<String, String> {
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        held.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&held);
    }
}

/// The names in a directory, sorted and joined by commas.
fn list_dir(path: &str) -> Result<String, String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names.join(","))
}

/// The named variable, or every variable when the name is empty.
fn read_env(name: &str) -> String {
    if name.is_empty() {
        std::env::vars()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        std::env::var(name).unwrap_or_else(|error| format!("unset: {error}"))
    }
}

/// Creates `count` header sets, each with one header of `header_bytes`,
/// and holds them all: each is host memory, outside the memory cap.
fn hoard(count: u64, header_bytes: u64) -> Result<String, String> {
    let value = vec![b'a'; usize::try_from(header_bytes).map_err(|e| e.to_string())?];
    let mut held = Vec::new();
    for _ in 0..count {
        let fields = Fields::new();
        if !value.is_empty() {
            fields
                .append("x-filler", &value)
                .map_err(|error| format!("{error:?}"))?;
        }
        held.push(fields);
    }
    Ok(format!("held {}", held.len()))
}

/// GETs `url` `count` times; with `keep`, holds every response unread.
fn fetch_many(url: &str, count: u64, keep: bool) -> Result<String, String> {
    let mut held = Vec::new();
    for _ in 0..count {
        let response = send("GET", url, "", "")?;
        if keep {
            held.push(response);
        }
    }
    Ok(format!("received {count}, held {}", held.len()))
}

/// Sends one request through wasi:http and answers `STATUS BODY`.
fn fetch(method: &str, url: &str, body: &str, header: &str) -> Result<String, String> {
    let response = send(method, url, body, header)?;
    let status = response.status();
    let incoming = response.consume().map_err(|()| "no response body")?;
    let stream = incoming.stream().map_err(|()| "no response stream")?;
    let mut received = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => received.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(error)) => {
                return Err(format!("reading the body: {}", error.to_debug_string()));
            }
        }
    }
    Ok(format!("{status} {}", String::from_utf8_lossy(&received)))
}

/// Sends one request through wasi:http and answers its response, unread;
/// `header` (`name: value`, or empty) is set on the request first.
fn send(method: &str, url: &str, body: &str, header: &str) -> Result<IncomingResponse, String> {
    let (scheme, rest) = url.split_once("://").ok_or("the url has no scheme")?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let fields = Fields::new();
    if let Some((name, value)) = header.split_once(": ") {
        fields
            .append(name, value.as_bytes())
            .map_err(|error| format!("header {name}: {error:?}"))?;
    }
    let request = OutgoingRequest::new(fields);
    let method = match method {
        "" | "GET" => Method::Get,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        other => Method::Other(other.to_string()),
    };
    request.set_method(&method).map_err(|()| "bad method")?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_string()),
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "bad authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "bad path")?;
    let outgoing_body = request.body().map_err(|()| "no body")?;
    // The request goes out first: the host reads the body while it is
    // written, so a body larger than the host's buffer does not stall.
    let pending = outgoing_handler::handle(request, None).map_err(|error| format!("{error:?}"))?;
    let mut write_error = None;
    {
        let stream = outgoing_body.write().map_err(|()| "no body stream")?;
        for chunk in body.as_bytes().chunks(4096) {
            if let Err(error) = stream.blocking_write_and_flush(chunk) {
                write_error = Some(format!("writing the body: {error:?}"));
                break;
            }
        }
    }
    let finished = wasip2::http::types::OutgoingBody::finish(outgoing_body, None);
    pending.subscribe().block();
    // The host's reason (a size limit, a refusal) is in the response; a
    // failed write only says that the body stopped being read.
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken twice")?
        .map_err(|error| format!("{error:?}"))?;
    if let Some(error) = write_error {
        return Err(error);
    }
    finished.map_err(|error| format!("finishing the body: {error:?}"))?;
    Ok(response)
}

export!(Hostile);
