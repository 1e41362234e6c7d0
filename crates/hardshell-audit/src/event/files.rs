//! Files that crossed a session's workspace boundary: put in from a chat
//! (an attachment) or shared out by the agent (`send_file`). Each by its
//! cleaned name, size and SHA-256 only: a file's content is the person's or
//! the agent's, and may be anything, a secret included.

use serde::{Deserialize, Serialize};

/// A file from outside (a chat's attachment) was written into a session's
/// workspace, at `inbox/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDeposited {
    /// The session id (an identifier the edge made).
    pub session: String,
    /// The name it was written under: the platform's name cleaned to
    /// letters, digits, `.`, `_` and `-`, numbered when taken.
    pub name: String,
    pub size: u64,
    /// Hex SHA-256 of the bytes written.
    pub sha256: String,
}

/// The agent shared a file of its session's workspace; the edge holds a
/// copy for the session's owner to download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileShared {
    pub session: String,
    /// The file's name, cleaned as a deposited one's is.
    pub name: String,
    pub size: u64,
    /// Hex SHA-256 of the bytes shared.
    pub sha256: String,
}
