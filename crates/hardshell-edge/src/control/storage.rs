//! The storage service behind remote stores: `hardshell-storage`'s remote
//! protocol (see its `backend/remote.rs`), served over the workload's scope.
//! Keys are parsed as `ObjectKey`s relative to that scope, so `..` and absolute
//! keys are refused before any storage call.

use axum::body::Body;
use hardshell_storage::remote_protocol::{EXPECT_HEADER, VERSION_HEADER, WRITE_HEADER};
use hardshell_storage::{ObjectKey, RemoteObject, RemoteWrite, Scope, StorageError, Version};
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
    if rest == "list" && request.method() == Method::GET {
        return list(scope, request.uri().query().unwrap_or("")).await;
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

async fn list(scope: &Scope, query: &str) -> HttpResponse {
    let prefix = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "prefix")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
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
        .filter(|entry| {
            prefix.is_empty()
                || entry.key.as_str() == prefix
                || entry.key.as_str().starts_with(&format!("{prefix}/"))
        })
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
