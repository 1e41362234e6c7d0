//! The storage service behind remote stores: `hardshell-storage`'s remote
//! protocol (see its `backend/remote.rs`), served over the workload's scope.
//! Keys are parsed as `ObjectKey`s relative to that scope, so `..` and absolute
//! keys are refused before any storage call.

use axum::body::Body;
use hardshell_storage::remote_protocol::{EXPECT_HEADER, VERSION_HEADER, WRITE_HEADER};
use hardshell_storage::{
    ObjectKey, RemoteLog, RemoteObject, RemoteWrite, Scope, StorageError, Version, join_frames,
};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, StatusCode};

use crate::control::MAX_CONTROL_BODY;
use crate::response::{self, HttpResponse};

pub(super) async fn handle(scope: &Scope, rest: &str, request: Request<Body>) -> HttpResponse {
    if let Some(key) = rest.strip_prefix("object/") {
        let Ok(key) = ObjectKey::parse(key) else {
            return response::bad_request("invalid object key\n");
        };
        return match *request.method() {
            Method::GET => get(scope, &key).await,
            Method::PUT => put(scope, &key, request).await,
            Method::DELETE => delete(scope, &key).await,
            _ => response::method_not_allowed(),
        };
    }
    if let Some(key) = rest.strip_prefix("log/") {
        let Ok(key) = ObjectKey::parse(key) else {
            return response::bad_request("invalid log key\n");
        };
        let query = request.uri().query().unwrap_or("").to_owned();
        return match *request.method() {
            Method::GET => read_log(scope, &key, &query).await,
            Method::POST => append(scope, &key, &query, request).await,
            Method::DELETE => match scope.delete_log(&key).await {
                Ok(()) => response::text(StatusCode::NO_CONTENT, ""),
                Err(e) => failed("delete log", &key, &e),
            },
            _ => response::method_not_allowed(),
        };
    }
    if rest == "list" && request.method() == Method::GET {
        return list(scope, request.uri().query().unwrap_or("")).await;
    }
    if rest == "logs" && request.method() == Method::GET {
        return logs(scope, request.uri().query().unwrap_or("")).await;
    }
    response::not_found()
}

fn failed(operation: &str, key: &ObjectKey, e: &StorageError) -> HttpResponse {
    tracing::error!(operation, key = %key, error = %e, "workload storage request failed");
    if e.is_full() {
        // The agent's stores learn it as such (`StorageError::is_full`).
        response::text(StatusCode::INSUFFICIENT_STORAGE, "storage full\n")
    } else if e.is_transient() {
        response::text(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n")
    } else {
        response::internal_error()
    }
}

fn with_version(mut response: HttpResponse, version: &Version) -> HttpResponse {
    if let Ok(value) = HeaderValue::from_str(&version.to_token()) {
        response.headers_mut().insert(VERSION_HEADER, value);
    }
    response
}

async fn get(scope: &Scope, key: &ObjectKey) -> HttpResponse {
    match scope.get(key).await {
        Ok(Some(object)) => {
            let mut response = http::Response::new(Body::from(object.value.to_vec()));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            with_version(response, &object.version)
        }
        Ok(None) => response::not_found(),
        Err(e) => failed("get", key, &e),
    }
}

async fn put(scope: &Scope, key: &ObjectKey, request: Request<Body>) -> HttpResponse {
    let (mode, expected) = {
        let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
        (
            header(WRITE_HEADER).and_then(RemoteWrite::parse),
            header(EXPECT_HEADER).and_then(Version::from_token),
        )
    };
    let Some(mode) = mode else {
        return response::bad_request("missing or unknown x-hardshell-write\n");
    };
    let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_CONTROL_BODY).await else {
        return response::payload_too_large();
    };
    let written = match (mode, expected) {
        (RemoteWrite::Overwrite, _) => scope.put(key, &body).await,
        (RemoteWrite::Create, _) => scope.create(key, &body).await,
        (RemoteWrite::Update, Some(expected)) => scope.update(key, &body, &expected).await,
        (RemoteWrite::Update, None) => {
            return response::bad_request("update needs x-hardshell-expect\n");
        }
    };
    match written {
        Ok(version) => with_version(response::text(StatusCode::OK, ""), &version),
        Err(StorageError::Conflict { .. }) => response::text(StatusCode::CONFLICT, "conflict\n"),
        Err(e) => failed("put", key, &e),
    }
}

async fn delete(scope: &Scope, key: &ObjectKey) -> HttpResponse {
    match scope.delete(key).await {
        Ok(()) => response::text(StatusCode::NO_CONTENT, ""),
        Err(e) => failed("delete", key, &e),
    }
}

/// The value of `name` in a query string.
fn query_value(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(found, _)| found == name)
        .map(|(_, value)| value.into_owned())
}

/// Most records one read answers with (the store also stops at a byte budget).
const MAX_LOG_READ: usize = 4096;

async fn append(
    scope: &Scope,
    key: &ObjectKey,
    query: &str,
    request: Request<Body>,
) -> HttpResponse {
    let Some(at) = query_value(query, "at").and_then(|at| at.parse::<u64>().ok()) else {
        return response::bad_request("an append needs ?at=<record number>\n");
    };
    let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_CONTROL_BODY).await else {
        return response::payload_too_large();
    };
    match scope.append(key, at, &body).await {
        Ok(()) => response::text(StatusCode::NO_CONTENT, ""),
        Err(StorageError::Conflict { .. }) => response::text(StatusCode::CONFLICT, "conflict\n"),
        Err(e) => failed("append", key, &e),
    }
}

async fn read_log(scope: &Scope, key: &ObjectKey, query: &str) -> HttpResponse {
    let number = |name| query_value(query, name).and_then(|n| n.parse::<u64>().ok());
    let Some(from) = number("from") else {
        return response::bad_request("a read needs ?from=<record number>\n");
    };
    let max = number("max").map_or(MAX_LOG_READ, |max| {
        usize::try_from(max)
            .unwrap_or(usize::MAX)
            .clamp(1, MAX_LOG_READ)
    });
    match scope.read_log(key, from, max).await {
        Ok(records) => {
            let body = join_frames(records.iter().map(|record| record.as_slice()));
            let mut response = http::Response::new(Body::from(body));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            response
        }
        Err(e) => failed("read log", key, &e),
    }
}

async fn logs(scope: &Scope, query: &str) -> HttpResponse {
    let prefix = query_value(query, "prefix").unwrap_or_default();
    let logs = match scope.logs().await {
        Ok(logs) => logs,
        Err(e) => {
            tracing::error!(error = %e, "workload storage list of logs failed");
            return response::internal_error();
        }
    };
    let logs: Vec<RemoteLog> = logs
        .into_iter()
        .filter(|log| under(log.key.as_str(), &prefix))
        .map(|log| RemoteLog {
            key: log.key.to_string(),
            records: log.records,
        })
        .collect();
    response::json(
        StatusCode::OK,
        &serde_json::to_value(logs).unwrap_or_default(),
    )
}

/// Whether `key` is `prefix` or under it, by whole segments; everything is
/// under the empty prefix.
fn under(key: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || key == prefix
        || key
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

async fn list(scope: &Scope, query: &str) -> HttpResponse {
    let prefix = query_value(query, "prefix").unwrap_or_default();
    let entries = match scope.list().await {
        Ok(entries) => entries,
        Err(e) => {
            tracing::error!(error = %e, "workload storage list failed");
            return response::internal_error();
        }
    };
    // The remote client asks for keys under a prefix of its own store; a scope
    // lists everything under it and the filter is by whole segments.
    let objects: Vec<RemoteObject> = entries
        .into_iter()
        .filter(|entry| under(entry.key.as_str(), &prefix))
        .map(|entry| RemoteObject {
            key: entry.key.to_string(),
            size: entry.size,
            last_modified: entry.last_modified,
        })
        .collect();
    response::json(
        StatusCode::OK,
        &serde_json::to_value(objects).unwrap_or_default(),
    )
}
