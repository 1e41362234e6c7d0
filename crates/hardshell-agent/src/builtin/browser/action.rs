//! The tool's one argument, checked before any browser is touched.

use serde::Deserialize;

use super::page::Direction;
use crate::ToolError;

/// The longest URL the model may open.
const MAX_URL_BYTES: usize = 4096;
/// The most text typed at once.
const MAX_TYPED_CHARS: usize = 10_000;

/// The tool's one argument.
#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    Open {
        url: String,
    },
    Read,
    Click {
        element: usize,
    },
    Type {
        element: usize,
        text: String,
        #[serde(default)]
        submit: bool,
    },
    Select {
        element: usize,
        value: String,
    },
    Scroll {
        direction: Direction,
    },
    Back,
    Screenshot,
    Close,
}

impl Action {
    /// Refuses what no browser should be asked: a URL off the web, text
    /// past its bound.
    pub fn check(&self) -> Result<(), ToolError> {
        match self {
            Action::Open { url } => check_url(url),
            Action::Type { text, .. } if text.chars().count() > MAX_TYPED_CHARS => {
                Err(ToolError::invalid_arguments(format!(
                    "the text is longer than {MAX_TYPED_CHARS} characters"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Refuses anything but an http(s) URL with a host: `file:`, `javascript:`,
/// `data:`, `chrome:` and the like never reach the browser.
fn check_url(url: &str) -> Result<(), ToolError> {
    if url.len() > MAX_URL_BYTES {
        return Err(ToolError::invalid_arguments(format!(
            "the URL is longer than {MAX_URL_BYTES} bytes"
        )));
    }
    let parsed = url::Url::parse(url).map_err(|e| {
        ToolError::invalid_arguments(format!(
            "not a URL ({e}): give a full http:// or https:// URL"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ToolError::invalid_arguments(
            "only http:// and https:// web pages can be opened",
        ));
    }
    Ok(())
}
