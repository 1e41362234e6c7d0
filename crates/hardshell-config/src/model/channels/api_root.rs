//! A platform API's root: where an adapter sends its token with every call,
//! so `https://`, or `http://` to a loopback address for a local emulator,
//! and nothing in it that could be (or carry) a credential.

use std::fmt;
use std::net::IpAddr;

use hardshell_vocabulary::Platform;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The root URL of a platform's API: `https://`, or `http://` to a loopback
/// address only (a local emulator), without credentials, query or fragment.
/// Tokens are sent to it, so nothing else is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoot {
    root: String,
    host: String,
}

impl ApiRoot {
    /// `text` if it is an acceptable API root. Errors never quote it: a
    /// token pasted into the URL (Telegram's sit in its path) stays unsaid.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
        let loopback = url
            .host_str()
            .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|host| host.parse::<IpAddr>().ok())
            .is_some_and(|ip| ip.is_loopback());
        if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
            return Err(
                "must be https:// (http:// only to a loopback address such as \
                        127.0.0.1, for a local emulator): the channel's token is sent there"
                    .into(),
            );
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("an API root carries no credentials; tokens are references".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("an API root has no query or fragment".into());
        }
        // Roots are short paths (`/api`, `/api/v10`, `/v25.0`); a `:` or a
        // `%` there is more likely a pasted token than a version.
        if !url
            .path()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
        {
            return Err("an API root's path is letters, digits, / . _ and - only \
                        (tokens are references, never part of the URL)"
                .into());
        }
        Ok(Self {
            root: url.as_str().trim_end_matches('/').to_owned(),
            host: url.host_str().unwrap_or_default().to_owned(),
        })
    }

    /// A platform's own root, as its documentation gives it.
    pub fn official(platform: Platform) -> Self {
        let (host, path) = match platform {
            Platform::Telegram => ("api.telegram.org", ""),
            Platform::Slack => ("slack.com", "/api"),
            Platform::Discord => ("discord.com", "/api/v10"),
            Platform::Whatsapp => ("graph.facebook.com", "/v25.0"),
        };
        Self {
            root: format!("https://{host}{path}"),
            host: host.to_owned(),
        }
    }

    /// The root (normalized by the URL parser) without a trailing `/`, to
    /// append `/method` paths to.
    pub fn as_str(&self) -> &str {
        &self.root
    }

    /// The host tokens are sent to (an IPv6 address in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl fmt::Display for ApiRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ApiRoot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ApiRoot::parse(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl Serialize for ApiRoot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
