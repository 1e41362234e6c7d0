//! Files through the Web API: a shared file fetched from its `url_private`
//! with the bot token, and a file sent by Slack's external upload
//! (`files.getUploadURLExternal`, the bytes posted to the URL it gives,
//! `files.completeUploadExternal`). The token is sent to the files host
//! alone, never to a URL a message named elsewhere: a file URL is checked
//! against that host before any request, and redirects are not followed.

use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use url::{Origin, Url};

use super::{SlackApi, SlackError, checked};

/// How long one file may take to come or go, whole.
const FILE_TIMEOUT: Duration = Duration::from_secs(120);
/// What a file download or upload is called in errors and logs.
const DOWNLOAD: &str = "file download";
const UPLOAD: &str = "file upload";

/// Where files are for a Web API root: `files.slack.com` for Slack's own
/// (`slack.com`); any other root (a local emulator, the tests' fake)
/// serves its files itself, so the token goes to no host it did not
/// already go to.
pub(super) fn origin_for(root: &Url) -> Origin {
    if root.host_str() == Some("slack.com") {
        Origin::Tuple(
            "https".into(),
            url::Host::Domain("files.slack.com".into()),
            443,
        )
    } else {
        root.origin()
    }
}

impl SlackApi {
    /// `text` as a URL on the files host, without credentials in it;
    /// anything else is refused before a request is made.
    fn file_url(&self, text: &str) -> Result<Url, SlackError> {
        let url = Url::parse(text).map_err(|_| SlackError::NotFilesHost)?;
        let plain = url.username().is_empty() && url.password().is_none();
        if !plain || url.origin() != self.files {
            return Err(SlackError::NotFilesHost);
        }
        Ok(url)
    }

    /// The bytes of a shared file at `url_private`, at most `limit` of
    /// them: a larger one is [`SlackError::TooLarge`], by its declared
    /// length or while it is read.
    pub async fn download(&self, url_private: &str, limit: u64) -> Result<Vec<u8>, SlackError> {
        let url = self.file_url(url_private)?;
        tracing::debug!("slack file download");
        let response = self
            .http
            .get(url)
            .timeout(FILE_TIMEOUT)
            .bearer_auth(self.bot_token.expose_str().unwrap_or_default())
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let response = checked(DOWNLOAD, response)?;
        crate::network::read_bounded(response, limit, &self.secrets())
            .await
            .map_err(|e| match e {
                crate::network::ReadError::TooLarge => SlackError::TooLarge { limit },
                crate::network::ReadError::Transport(text) => SlackError::Transport(text),
            })
    }

    /// Sends `bytes` as the file `name` to `channel` (in the thread of
    /// `thread_ts` when given); the file's id.
    pub async fn upload(
        &self,
        channel: &str,
        name: &str,
        bytes: Bytes,
        thread_ts: Option<&str>,
    ) -> Result<String, SlackError> {
        #[derive(Deserialize)]
        struct Slot {
            upload_url: String,
            file_id: String,
        }
        const SLOT: &str = "files.getUploadURLExternal";
        let length = bytes.len().to_string();
        let slot: Slot = self
            .call_form(SLOT, &[("filename", name), ("length", &length)])
            .await?;
        if !is_file_id(&slot.file_id) {
            return Err(SlackError::Malformed {
                method: SLOT,
                detail: "file_id is not a file id",
            });
        }
        // The upload URL carries its own authority: it is given the bytes,
        // never the token, and only on the files host.
        let upload_url = self.file_url(&slot.upload_url)?;
        let response = self
            .http
            .post(upload_url)
            .timeout(FILE_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        checked(UPLOAD, response)?;
        let mut body = json!({
            "files": [{"id": slot.file_id, "title": name}],
            "channel_id": channel,
        });
        if let Some(thread) = thread_ts {
            body["thread_ts"] = thread.into();
        }
        self.call::<Value>("files.completeUploadExternal", &self.bot_token, Some(&body))
            .await?;
        Ok(slot.file_id)
    }
}

/// A file's id as Slack writes them: `F` then upper-case letters and digits.
fn is_file_id(text: &str) -> bool {
    text.strip_prefix('F').is_some_and(|rest| {
        (1..=31).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slacks_own_root_sends_files_to_its_files_host_and_any_other_to_itself() {
        let official = Url::parse("https://slack.com/api").unwrap();
        assert_eq!(
            origin_for(&official),
            Url::parse("https://files.slack.com/x").unwrap().origin()
        );
        let local = Url::parse("http://127.0.0.1:8080/api").unwrap();
        assert_eq!(
            origin_for(&local),
            Url::parse("http://127.0.0.1:8080/files-pri/x")
                .unwrap()
                .origin()
        );
    }

    #[test]
    fn a_file_id_is_f_and_upper_case_letters_and_digits() {
        assert!(is_file_id("F0123ABCD"));
        for bad in ["", "F", "f0123", "F01/../x", "U0123"] {
            assert!(!is_file_id(bad), "{bad}");
        }
    }
}
