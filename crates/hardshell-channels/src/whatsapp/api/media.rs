//! Files through the Cloud API (developers.facebook.com/docs/whatsapp/
//! cloud-api/reference/media). Received: `GET /{media-id}` gives a short-
//! lived URL, the size and the SHA-256; the size is checked against the
//! bound before anything is downloaded, the URL against where the token may
//! go (see `origin.rs`), the bytes against the bound as they stream and against
//! the SHA-256 once read. Sent: an upload to `/{phone-number-id}/media`,
//! then a message of type `document` naming the upload, always a document,
//! whatever the file is, so no client shows or plays it by itself.

mod kinds;
mod origin;

use bytes::Bytes;
use reqwest::header::AUTHORIZATION;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use serde_json::json;

use super::{WhatsappApi, WhatsappError, answer, is_message_id, is_wa_id};
pub use kinds::MAX_MEDIA_ID_DIGITS;
use kinds::{Sha256Sum, document_type, is_document_name};
pub(crate) use kinds::{extension, is_media_id};
use origin::DownloadUrl;

/// The Cloud API's bound on a document, 100 MB.
pub const MAX_DOCUMENT_BYTES: usize = 100_000_000;

/// `GET /{media-id}`'s answer.
#[derive(Deserialize)]
struct MediaUrl {
    url: String,
    sha256: String,
    #[serde(default)]
    file_size: Option<FileSize>,
    id: String,
}

/// Meta documents `file_size` as a number and shows it as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum FileSize {
    Number(u64),
    Text(String),
}

impl FileSize {
    fn bytes(&self) -> Option<u64> {
        match self {
            FileSize::Number(bytes) => Some(*bytes),
            FileSize::Text(text) => text.parse().ok(),
        }
    }
}

/// An upload's answer.
#[derive(Deserialize)]
struct Uploaded {
    id: String,
}

impl WhatsappApi {
    /// The bytes of the file the user sent as media `media_id`, at most
    /// `limit` of them: [`WhatsappError::FileTooLarge`] for a larger one,
    /// by Meta's word before the download or by what arrives during it.
    pub async fn fetch_media(&self, media_id: &str, limit: u64) -> Result<Vec<u8>, WhatsappError> {
        if !is_media_id(media_id) {
            return Err(WhatsappError::Argument(
                "a whatsapp media id is 1 to 32 digits",
            ));
        }
        let found: MediaUrl = self.get(self.media_url(media_id)).await?;
        if found.id != media_id {
            return Err(WhatsappError::Malformed(
                "the media answer is for another media id".into(),
            ));
        }
        let claimed = match &found.file_size {
            Some(size) => Some(size.bytes().ok_or_else(|| {
                WhatsappError::Malformed("the media answer's file_size is not a number".into())
            })?),
            None => None,
        };
        if claimed.is_some_and(|size| size > limit) {
            return Err(WhatsappError::FileTooLarge { limit });
        }
        let sum = Sha256Sum::parse(&found.sha256).ok_or_else(|| {
            WhatsappError::Malformed("the media answer's sha256 is not a SHA-256".into())
        })?;
        let url = DownloadUrl::admit(&found.url, &self.root, self.token_str())?;
        let bytes = self.download(&url, limit).await?;
        sum.check(&bytes)?;
        Ok(bytes)
    }

    /// Sends `bytes` as a document named `name` to user `to`, as a reply to
    /// message `reply_to` when given: an upload, then the message. The sent
    /// message's id.
    pub async fn send_document(
        &self,
        to: &str,
        name: &str,
        bytes: Bytes,
        reply_to: Option<&str>,
    ) -> Result<String, WhatsappError> {
        if !is_wa_id(to) {
            return Err(WhatsappError::Argument(
                "a recipient is a wa_id: 5 to 20 digits",
            ));
        }
        if !is_document_name(name) {
            return Err(WhatsappError::Argument(
                "a document's name is 1 to 200 printable characters without quotes, slashes or backslashes",
            ));
        }
        if reply_to.is_some_and(|id| !is_message_id(id)) {
            return Err(WhatsappError::Argument("not a whatsapp message id"));
        }
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(WhatsappError::Argument(
                "whatsapp takes documents of at most 100 MB",
            ));
        }
        let mime_type = document_type(name, &bytes)?;
        let media = self.upload(name, mime_type, bytes).await?;
        let mut request = json!({
            "messaging_product": "whatsapp",
            "to": to,
            "type": "document",
            "document": { "id": media, "filename": name },
        });
        if let Some(reply_to) = reply_to {
            request["context"] = json!({ "message_id": reply_to });
        }
        let sent = self.call(&request).await?;
        self.sent_id(sent)
    }

    async fn upload(
        &self,
        name: &str,
        mime_type: &'static str,
        bytes: Bytes,
    ) -> Result<String, WhatsappError> {
        let file = Part::stream(bytes)
            .file_name(name.to_owned())
            .mime_str(mime_type)
            .map_err(|_| WhatsappError::Argument("not a media type"))?;
        let form = Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime_type)
            .part("file", file);
        tracing::debug!("whatsapp media upload");
        let response = self
            .http
            .post(self.media.clone())
            .header(AUTHORIZATION, self.bearer.clone())
            .timeout(super::TRANSFER_TIMEOUT)
            .multipart(form)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let uploaded: Uploaded =
            answer::result(response, super::MAX_ANSWER_BYTES, self.token_str()).await?;
        if !is_media_id(&uploaded.id) {
            return Err(WhatsappError::Malformed(
                "an upload answered with an unusable media id".into(),
            ));
        }
        Ok(uploaded.id)
    }

    /// `{root}/{media-id}?phone_number_id=...`: Meta then answers only for
    /// media sent to this business number.
    fn media_url(&self, media_id: &str) -> url::Url {
        let mut url = self.root.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(media_id);
        }
        url.query_pairs_mut()
            .append_pair("phone_number_id", &self.phone_number_id);
        url
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: url::Url) -> Result<T, WhatsappError> {
        tracing::debug!("whatsapp media lookup");
        let response = self
            .http
            .get(url)
            .header(AUTHORIZATION, self.bearer.clone())
            .timeout(super::CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        answer::result(response, super::MAX_ANSWER_BYTES, self.token_str()).await
    }

    /// Downloads from an admitted URL, with the token, as Meta requires.
    async fn download(&self, url: &DownloadUrl, limit: u64) -> Result<Vec<u8>, WhatsappError> {
        tracing::debug!("whatsapp media download");
        let response = self
            .http
            .get(url.url().clone())
            .header(AUTHORIZATION, self.bearer.clone())
            .timeout(super::TRANSFER_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        answer::file(response, limit, self.token_str()).await
    }
}
