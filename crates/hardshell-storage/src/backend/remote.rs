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
//! POST   /log/<key>?at=<n>        body: one record; 204 | 409 conflict
//! GET    /log/<key>?from=<n>&max=<m>
//!                                 200 records, each a u32 big-endian length
//!                                 and its bytes (none past the last)
//! DELETE /log/<key>               204
//! GET    /logs?prefix=<key>       200 JSON [{"key", "records"}]
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

/// One log of a remote listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteLog {
    pub key: String,
    pub records: u64,
}

/// Most bytes of records a log read answers with past its first record,
/// on either side of the socket.
pub const LOG_READ_BUDGET: u64 = 4 * 1024 * 1024;

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

impl Remote {
    pub(crate) async fn append_log(
        &self,
        log: &str,
        at: u64,
        record: Bytes,
    ) -> Result<(), StorageError> {
        let response = self
            .http
            .post(format!("{BASE}{PATH_PREFIX}/log/{log}"))
            .query(&[("at", at)])
            .body(record)
            .send()
            .await
            .map_err(|e| self.fail("append", log, &e))?;
        match response.status() {
            reqwest::StatusCode::NO_CONTENT => Ok(()),
            reqwest::StatusCode::CONFLICT => Err(StorageError::Conflict {
                key: log.to_owned(),
            }),
            status => Err(self.refused("append", log, status)),
        }
    }

    pub(crate) async fn read_log(
        &self,
        log: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<Bytes>, StorageError> {
        let response = self
            .http
            .get(format!("{BASE}{PATH_PREFIX}/log/{log}"))
            .query(&[("from", from), ("max", max as u64)])
            .send()
            .await
            .map_err(|e| self.fail("read", log, &e))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(self.refused("read", log, response.status()));
        }
        // One record may be as large as an object; the rest fit the budget.
        let limit = MAX_OBJECT_BYTES + LOG_READ_BUDGET + 4096;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(self.malformed(log, "over the size limit"));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| self.fail("read", log, &e))?;
        if body.len() as u64 > limit {
            return Err(self.malformed(log, "over the size limit"));
        }
        let records: Vec<Bytes> = split_frames(&body)
            .ok_or_else(|| self.malformed(log, "cut short"))?
            .into_iter()
            .map(|record| body.slice_ref(record))
            .collect();
        if records.len() > max {
            return Err(self.malformed(log, "more records than asked for"));
        }
        Ok(records)
    }

    pub(crate) async fn logs(
        &self,
        prefix: Option<&str>,
    ) -> Result<Vec<(String, u64)>, StorageError> {
        let prefix = prefix.unwrap_or("");
        let response = self
            .http
            .get(format!("{BASE}{PATH_PREFIX}/logs"))
            .query(&[("prefix", prefix)])
            .send()
            .await
            .map_err(|e| self.fail("list logs", prefix, &e))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(self.refused("list logs", prefix, response.status()));
        }
        let logs: Vec<RemoteLog> = response
            .json()
            .await
            .map_err(|e| self.fail("list logs", prefix, &e))?;
        Ok(logs.into_iter().map(|log| (log.key, log.records)).collect())
    }

    pub(crate) async fn delete_log(&self, log: &str) -> Result<(), StorageError> {
        let response = self
            .http
            .delete(format!("{BASE}{PATH_PREFIX}/log/{log}"))
            .send()
            .await
            .map_err(|e| self.fail("delete", log, &e))?;
        match response.status() {
            reqwest::StatusCode::NO_CONTENT | reqwest::StatusCode::OK => Ok(()),
            status => Err(self.refused("delete", log, status)),
        }
    }

    fn malformed(&self, log: &str, what: &str) -> StorageError {
        StorageError::LogDamaged {
            log: log.to_owned(),
            detail: format!("the edge's storage service answered a read {what}"),
        }
    }
}

/// Records framed as a log read carries them: each a `u32` big-endian length
/// and its bytes. `None` when the last is cut short.
pub fn split_frames(body: &[u8]) -> Option<Vec<&[u8]>> {
    let mut records = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (header, after) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*header)).ok()?;
        let (record, after) = after.split_at_checked(len)?;
        records.push(record);
        rest = after;
    }
    Some(records)
}

/// `records` framed for [`split_frames`].
pub fn join_frames<'a>(records: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for record in records {
        // Each record is at most an object's size, far below u32::MAX.
        body.extend_from_slice(&(record.len() as u32).to_be_bytes());
        body.extend_from_slice(record);
    }
    body
}

fn version_of(response: &reqwest::Response) -> Option<Version> {
    response
        .headers()
        .get(VERSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(Version::from_token)
}

#[cfg(test)]
mod tests {
    use super::{join_frames, split_frames};

    #[test]
    fn frames_split_back_and_a_cut_anywhere_is_refused() {
        let body = join_frames([&b"one"[..], b"", b"three"]);
        let split = split_frames(&body).unwrap();
        assert_eq!(split, [&b"one"[..], b"", b"three"]);
        assert_eq!(split_frames(&[]).unwrap(), Vec::<&[u8]>::new());
        // Every prefix that ends inside a header or a body is not frames.
        let ends = [0, 7, 11, 20];
        for cut in 1..body.len() {
            let frames = split_frames(&body[..cut]);
            assert_eq!(frames.is_some(), ends.contains(&cut), "cut at {cut}");
        }
        assert!(split_frames(&[0xff, 0xff, 0xff, 0xff, 1]).is_none());
    }
}
