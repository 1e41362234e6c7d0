//! What the browser's CDP proxy did: sessions started and ended, commands it
//! refused, hosts it let a client send the browser to. Method names and hosts
//! only: CDP parameters carry typed text, cookies and evaluated code, and
//! none of them reaches a record (the proxy hands over no parameter).

use serde::{Deserialize, Serialize};

use super::fields::{BrowserHost, CdpMethod};
use super::outcomes::{BrowserEnding, CdpClient, CdpRefusal};

/// A CDP client was given a fresh browser of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserSessionStarted {
    /// The session id (an identifier hardshell made).
    pub session: String,
    pub client: CdpClient,
}

/// A browser session ended, and its browser with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserSessionEnded {
    pub session: String,
    pub ended: BrowserEnding,
    /// Pages the session's browser opened, its first blank page included.
    pub pages: u32,
    /// Commands refused, all of them: past the first few a session's
    /// refusals are counted here only, so one client cannot fill the log.
    pub refused: u64,
    /// Navigations let through, all of them (recorded one by one up to a
    /// bound, like refusals).
    pub navigated: u64,
    pub seconds: u64,
}

/// The proxy refused one of a client's CDP commands; the session went on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdpRefused {
    pub session: String,
    pub method: CdpMethod,
    pub reason: CdpRefusal,
}

/// The proxy let a client send the browser to a host (`Page.navigate`,
/// `Target.createTarget`); the broker still decides every connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserNavigated {
    pub session: String,
    pub host: BrowserHost,
}
