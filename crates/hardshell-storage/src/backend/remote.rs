//! A store served by the edge over a unix socket: how the agent process reads and
//! writes its state without holding the master key or any storage credential.
//!
//! The edge seals, scopes and stores; this side sees plaintext on a local socket
//! and keeps the same compare-and-swap semantics by carrying versions as opaque
//! tokens. The wire protocol (all under `/storage/v1`):
//!
//! ```text
//! GET    /object/<key>            200 body + x-hardshell-version | 404
//! PUT    /object/<key>            x-hardshell-write: overwrite | create | update
//!                                 x-hardshell-expect: <version> (update)
//!                                 200 + x-hardshell-version | 409 conflict
//! DELETE /object/<key>            204
//! GET    /list?prefix=<key>       200 JSON [{"key", "size", "last_modified"}]
//! ```
//!
//! Keys are `ObjectKey`s (`[A-Za-z0-9._-/]`), so they need no escaping in a path.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::{Listed, MAX_OBJECT_BYTES, RawObject, Version, WriteMode};
use crate::StorageError;

/// The header carrying a version token.
pub const VERSION_HEADER: &str = "x-hardshell-version";
/// The header saying how to write.
pub const WRITE_HEADER: &str = "x-hardshell-write";
/// The header carrying the version an update expects.
pub const EXPECT_HEADER: &str = "x-hardshell-expect";

/// Where the edge's storage service listens.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    pub socket: PathBuf,
}

/// How a remote write should behave; the service's side of [`WriteMode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteWrite {
    Overwrite,
    Create,
    Update,
}

impl RemoteWrite {
    pub fn as_str(self) -> &'static str {
        match self {
            RemoteWrite::Overwrite => "overwrite",
            RemoteWrite::Create => "create",
            RemoteWrite::Update => "update",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "overwrite" => Some(RemoteWrite::Overwrite),
            "create" => Some(RemoteWrite::Create),
            "update" => Some(RemoteWrite::Update),
            _ => None,
        }
    }
}

/// One entry of a remote listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteObject {
    pub key: String,
    pub size: u64,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

pub(crate) struct Remote {
    http: reqwest::Client,
    endpoint: String,
}

/// Where the edge serves a remote store on its control socket.
pub const PATH_PREFIX: &str = "/storage/v1";
/// reqwest needs a URL even on a unix socket; the host is never resolved.
const BASE: &str = "http://hardshell-edge";

impl Remote {
    pub(crate) fn new(options: &RemoteOptions) -> Result<Self, StorageError> {
        let http = reqwest::Client::builder()
            .unix_socket(options.socket.clone())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()
            .map_err(|e| StorageError::Config(format!("remote store client: {e}")))?;
        Ok(Self {
            http,
            endpoint: format!("unix:{}", options.socket.display()),
        })
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn fail(&self, operation: &'static str, key: &str, e: &reqwest::Error) -> StorageError {
        if e.is_connect() || e.is_timeout() {
            StorageError::Unreachable {
                endpoint: self.endpoint.clone(),
                detail: e.to_string(),
            }
        } else {
            StorageError::Remote {
                operation,
                key: key.to_owned(),
                status: e.status().map_or(0, |s| s.as_u16()),
            }
        }
    }

    fn refused(
        &self,
        operation: &'static str,
        key: &str,
        status: reqwest::StatusCode,
    ) -> StorageError {
        StorageError::Remote {
            operation,
            key: key.to_owned(),
            status: status.as_u16(),
        }
    }

    pub(crate) async fn probe(&self) -> Result<(), StorageError> {
        self.list(None).await.map(|_| ())
    }

    pub(crate) async fn get(&self, path: &Path) -> Result<Option<RawObject>, StorageError> {
        let key = path.as_ref();
        let response = self
            .http
            .get(format!("{BASE}{PATH_PREFIX}/object/{key}"))
            .send()
            .await
            .map_err(|e| self.fail("get", key, &e))?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => return Ok(None),
            reqwest::StatusCode::OK => {}
            status => return Err(self.refused("get", key, status)),
        }
        let version =
            version_of(&response).ok_or_else(|| self.refused("get", key, response.status()))?;
        if response
            .content_length()
            .is_some_and(|len| len > MAX_OBJECT_BYTES)
        {
            return Err(StorageError::Config(format!(
                "object {key} is over the size limit"
            )));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.fail("get", key, &e))?;
        Ok(Some(RawObject { bytes, version }))
    }

    pub(crate) async fn put(
        &self,
        path: &Path,
        bytes: Bytes,
        mode: WriteMode<'_>,
    ) -> Result<Version, StorageError> {
        let key = path.as_ref();
        let mut request = self
            .http
            .put(format!("{BASE}{PATH_PREFIX}/object/{key}"))
            .body(bytes);
        request = match mode {
            WriteMode::Overwrite => request.header(WRITE_HEADER, RemoteWrite::Overwrite.as_str()),
            WriteMode::Create => request.header(WRITE_HEADER, RemoteWrite::Create.as_str()),
            WriteMode::Update(expected) => request
                .header(WRITE_HEADER, RemoteWrite::Update.as_str())
                .header(EXPECT_HEADER, expected.to_token()),
        };
        let response = request
            .send()
            .await
            .map_err(|e| self.fail("put", key, &e))?;
        match response.status() {
            reqwest::StatusCode::OK => {
                version_of(&response).ok_or_else(|| self.refused("put", key, response.status()))
            }
            reqwest::StatusCode::CONFLICT => Err(StorageError::Conflict {
                key: key.to_owned(),
            }),
            status => Err(self.refused("put", key, status)),
        }
    }

    pub(crate) async fn delete(&self, path: &Path) -> Result<(), StorageError> {
        let key = path.as_ref();
        let response = self
            .http
            .delete(format!("{BASE}{PATH_PREFIX}/object/{key}"))
            .send()
            .await
            .map_err(|e| self.fail("delete", key, &e))?;
        match response.status() {
            reqwest::StatusCode::NO_CONTENT | reqwest::StatusCode::OK => Ok(()),
            status => Err(self.refused("delete", key, status)),
        }
    }

    pub(crate) async fn list(&self, prefix: Option<&Path>) -> Result<Vec<Listed>, StorageError> {
        let prefix = prefix.map_or("", |p| p.as_ref());
        let response = self
            .http
            .get(format!("{BASE}{PATH_PREFIX}/list"))
            .query(&[("prefix", prefix)])
            .send()
            .await
            .map_err(|e| self.fail("list", prefix, &e))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(self.refused("list", prefix, response.status()));
        }
        let objects: Vec<RemoteObject> = response
            .json()
            .await
            .map_err(|e| self.fail("list", prefix, &e))?;
        Ok(objects
            .into_iter()
            .map(|object| Listed {
                path: Path::from(object.key.as_str()),
                size: object.size,
                last_modified: object.last_modified,
                // The storage service's listing carries none.
                tag: None,
            })
            .collect())
    }
}

fn version_of(response: &reqwest::Response) -> Option<Version> {
    response
        .headers()
        .get(VERSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(Version::from_token)
}
