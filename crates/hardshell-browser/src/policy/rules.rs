//! The rewrite rules: what the policy checks in, or changes about, the
//! parameters of the methods the table names with `rewrite:`. Paths are
//! compared lexically (after refusing `..` and relative paths): they are the
//! browser's paths, inside its shell, not the host's to resolve.

use std::path::{Component, Path, PathBuf};

use hardshell_audit::event::{BrowserHost, CdpRefusal};
use serde_json::Value;
use url::{Host, Url};

use super::{Refused, Rule};
use crate::command::Command;

/// What one session's commands are checked against: its own directories, as
/// the browser sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRules {
    download_dir: String,
    upload_dir: PathBuf,
}

/// Why a session's directories were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionRulesError {
    #[error(
        "the session's {which} directory {path:?} must be an absolute path in normal form (no . or .., no trailing /)"
    )]
    Directory { which: &'static str, path: PathBuf },
    #[error("the session's {which} directory {path:?} must be UTF-8 (CDP paths are JSON strings)")]
    NotUtf8 { which: &'static str, path: PathBuf },
}

impl SessionRules {
    pub fn new(download_dir: &Path, upload_dir: &Path) -> Result<SessionRules, SessionRulesError> {
        for (which, path) in [("download", download_dir), ("upload", upload_dir)] {
            // Written as its own normal form, so the lexical comparison of
            // upload paths compares like with like.
            let normal: PathBuf = path.components().collect();
            if !is_plain_absolute(path) || normal.as_os_str() != path.as_os_str() {
                let path = path.to_owned();
                return Err(SessionRulesError::Directory { which, path });
            }
        }
        let Some(download) = download_dir.to_str() else {
            let path = download_dir.to_owned();
            return Err(SessionRulesError::NotUtf8 {
                which: "download",
                path,
            });
        };
        Ok(SessionRules {
            download_dir: download.to_owned(),
            upload_dir: upload_dir.to_owned(),
        })
    }

    pub fn download_dir(&self) -> &str {
        &self.download_dir
    }

    pub fn upload_dir(&self) -> &Path {
        &self.upload_dir
    }

    /// Whether `path` names a file inside the upload directory.
    fn may_upload(&self, path: &str) -> bool {
        let path = Path::new(path);
        !path
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .any(u8::is_ascii_control)
            && is_plain_absolute(path)
            && path.starts_with(&self.upload_dir)
            && path != self.upload_dir
    }
}

/// Absolute, and no component is `..` or `.` (which `components` would hide
/// in the middle, but a leading `.` or any `..` it keeps).
fn is_plain_absolute(path: &Path) -> bool {
    path.is_absolute()
        && path
            .components()
            .all(|part| matches!(part, Component::RootDir | Component::Normal(_)))
}

/// Applies `rule` to `command`; the host it navigates to, if it does.
pub(super) fn apply(
    rule: Rule,
    command: &mut Command,
    rules: &SessionRules,
) -> Result<Option<BrowserHost>, Refused> {
    match rule {
        Rule::DownloadPath => {
            let dir = Value::String(rules.download_dir.clone());
            command.edit_params(|params| params.insert("downloadPath".to_owned(), dir));
            Ok(None)
        }
        Rule::ContextNetwork => {
            command.edit_params(|params| {
                for key in [
                    "proxyServer",
                    "proxyBypassList",
                    "originsWithUniversalNetworkAccess",
                ] {
                    params.remove(key);
                }
            });
            Ok(None)
        }
        Rule::KeepDiscovery => {
            command.edit_params(|params| {
                params.insert("discover".to_owned(), Value::Bool(true));
                params.remove("filter");
            });
            Ok(None)
        }
        Rule::NewPage | Rule::WebUrl => match command.params().and_then(|p| p.get("url")) {
            Some(Value::String(url)) => web_url(url),
            _ => Err(malformed("a url string is required")),
        },
        Rule::WebUrlIfAny => match command.params().and_then(|p| p.get("url")) {
            None => Ok(None),
            Some(Value::String(url)) => web_url(url),
            Some(_) => Err(malformed("the url must be a string")),
        },
        Rule::UploadFiles => {
            uploads(command.params().and_then(|p| p.get("files")), rules)?;
            Ok(None)
        }
        Rule::DragFiles => {
            let data = command.params().and_then(|p| p.get("data"));
            if let Some(files) = data.and_then(|data| data.get("files")) {
                uploads(Some(files), rules)?;
            }
            Ok(None)
        }
        Rule::ContextCookies => match command.params().and_then(|p| p.get("browserContextId")) {
            Some(Value::String(context)) if !context.is_empty() => Ok(None),
            _ => Err(Refused::new(
                CdpRefusal::NoBrowserContext,
                "name the browserContextId: without it the method spans every context",
            )),
        },
    }
}

/// A URL the browser may be sent to: http(s) with a host, or `about:blank`.
fn web_url(text: &str) -> Result<Option<BrowserHost>, Refused> {
    if text == "about:blank" {
        return Ok(None);
    }
    let refused = Refused::new(
        CdpRefusal::UrlScheme,
        "only http and https URLs (and about:blank) may be opened",
    );
    let url = Url::parse(text).map_err(|_| refused)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused);
    }
    let host = match url.host() {
        Some(Host::Domain(name)) => BrowserHost::new(name),
        Some(Host::Ipv4(address)) => BrowserHost::new(&address.to_string()),
        Some(Host::Ipv6(address)) => BrowserHost::new(&address.to_string()),
        None => return Err(refused),
    };
    host.map(Some)
        .map_err(|_| malformed("the URL's host is not a host name or address"))
}

fn uploads(files: Option<&Value>, rules: &SessionRules) -> Result<(), Refused> {
    let Some(Value::Array(files)) = files else {
        return Err(malformed("files must be a list of paths"));
    };
    for file in files {
        let Value::String(path) = file else {
            return Err(malformed("files must be a list of paths"));
        };
        if !rules.may_upload(path) {
            return Err(Refused::new(
                CdpRefusal::UploadPath,
                "files may be uploaded only from the session's upload directory",
            ));
        }
    }
    Ok(())
}

fn malformed(detail: &'static str) -> Refused {
    Refused::new(CdpRefusal::MalformedParams, detail)
}
