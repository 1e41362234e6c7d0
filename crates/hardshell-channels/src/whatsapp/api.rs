//! A typed client of the WhatsApp Business Cloud API (the Graph API's
//! `/{phone_number_id}/messages`, developers.facebook.com/docs/whatsapp/
//! cloud-api/reference/messages, and its media, see [`media`]) on reqwest. The access token goes only in
//! the `Authorization` header, marked sensitive; the URL is built here, once;
//! transport errors lose their URL and every text the platform sends back is
//! cleaned (see [`WhatsappError`]) before an error keeps it.

mod answer;
mod error;
pub mod media;

use std::fmt;
use std::time::Duration;

use hardshell_config::{ApiRoot, PhoneNumberId};
use hardshell_secrets::SecretValue;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

pub use error::WhatsappError;
pub(crate) use error::clean;

/// How long a call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a file's upload or download may take.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read: a send's answer is a few hundred bytes.
const MAX_ANSWER_BYTES: u64 = 64 << 10;
/// Longest access token sent. Meta's are a few hundred characters.
pub const MAX_TOKEN_BYTES: usize = 2048;
/// Longest message id sent or taken back (Meta's `wamid.` ids are under 100).
pub const MAX_MESSAGE_ID_BYTES: usize = 128;

/// A client of one business number's Cloud API.
pub struct WhatsappApi {
    http: reqwest::Client,
    /// The API root, whose origin a media download may also go to.
    root: Url,
    messages: Url,
    /// `{root}/{phone_number_id}/media`, where documents are uploaded.
    media: Url,
    phone_number_id: String,
    bearer: HeaderValue,
    token: SecretValue,
}

impl fmt::Debug for WhatsappApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsappApi")
            .field("messages", &self.messages.as_str())
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Sent {
    messages: Vec<SentMessage>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
}

impl WhatsappApi {
    /// A client sending as `phone_number_id` through the Graph API at
    /// `api_root` (`https://graph.facebook.com/v25.0` in production; the
    /// type admits plain http on loopback only, for a local emulator).
    pub fn new(
        api_root: &ApiRoot,
        phone_number_id: &PhoneNumberId,
        access_token: SecretValue,
    ) -> Result<Self, WhatsappError> {
        let root = Url::parse(api_root.as_str())
            .map_err(|_| WhatsappError::Argument("the API root is not a URL"))?;
        let number_url = |last: &str| {
            let mut url = root.clone();
            url.path_segments_mut()
                .map_err(|()| WhatsappError::Argument("the API root cannot have a path"))?
                .pop_if_empty()
                .push(phone_number_id.as_str())
                .push(last);
            Ok::<_, WhatsappError>(url)
        };
        let messages = number_url("messages")?;
        let media = number_url("media")?;
        let mut bearer = access_token
            .expose_str()
            .filter(|text| is_bearer_token(text))
            .and_then(|text| HeaderValue::from_str(&format!("Bearer {text}")).ok())
            .ok_or(WhatsappError::Token)?;
        // Kept out of reqwest's and hyper's Debug output and logs.
        bearer.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // The Graph API never redirects; following one would send the
            // agent's words wherever it pointed.
            .redirect(reqwest::redirect::Policy::none())
            .connection_verbose(false)
            .build()
            .map_err(|e| WhatsappError::Transport(answer::transport_text(e, "")))?;
        Ok(Self {
            http,
            root,
            messages,
            media,
            phone_number_id: phone_number_id.as_str().to_owned(),
            bearer,
            token: access_token,
        })
    }

    /// Sends `body` as a text message to user `to` (a `wa_id`), as a reply
    /// to message `reply_to` when given; the sent message's id.
    pub async fn send_text(
        &self,
        to: &str,
        body: &str,
        reply_to: Option<&str>,
    ) -> Result<String, WhatsappError> {
        if !is_wa_id(to) {
            return Err(WhatsappError::Argument(
                "a recipient is a wa_id: 5 to 20 digits",
            ));
        }
        if body.trim().is_empty() {
            return Err(WhatsappError::Argument("a text message needs a body"));
        }
        let mut request = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            // A link in the agent's answer is not fetched by Meta to show
            // a preview, so the agent cannot make Meta visit a URL.
            "text": { "body": body, "preview_url": false },
        });
        if let Some(reply_to) = reply_to {
            if !is_message_id(reply_to) {
                return Err(WhatsappError::Argument("not a whatsapp message id"));
            }
            request["context"] = json!({ "message_id": reply_to });
        }
        let sent = self.call(&request).await?;
        self.sent_id(sent)
    }

    /// The id of the message a send answered with.
    fn sent_id(&self, sent: Sent) -> Result<String, WhatsappError> {
        let id = sent
            .messages
            .into_iter()
            .next()
            .map(|m| m.id)
            .ok_or_else(|| {
                WhatsappError::Malformed("a send answered without a message id".into())
            })?;
        if !is_message_id(&id) {
            return Err(WhatsappError::Malformed(format!(
                "a send answered with an unusable message id {:?}",
                clean(&id, self.token_str())
            )));
        }
        Ok(id)
    }

    /// Marks the user's message `message_id` as read and shows them that the
    /// bot is typing (for up to 25 s, or until the bot's next message): the
    /// Cloud API's typing indicator is tied to a received message.
    pub async fn mark_read_typing(&self, message_id: &str) -> Result<(), WhatsappError> {
        if !is_message_id(message_id) {
            return Err(WhatsappError::Argument("not a whatsapp message id"));
        }
        let request = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
            "typing_indicator": { "type": "text" },
        });
        self.call::<Value>(&request).await.map(drop)
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: &Value,
    ) -> Result<T, WhatsappError> {
        tracing::debug!("whatsapp call");
        let response = self
            .http
            .post(self.messages.clone())
            .header(reqwest::header::AUTHORIZATION, self.bearer.clone())
            .timeout(CALL_TIMEOUT)
            .json(request)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        answer::result(response, MAX_ANSWER_BYTES, self.token_str()).await
    }

    fn transport(&self, error: reqwest::Error) -> WhatsappError {
        WhatsappError::Transport(answer::transport_text(error, self.token_str()))
    }

    /// The token as text; `new` checked that it is.
    fn token_str(&self) -> &str {
        self.token.expose_str().unwrap_or_default()
    }
}

/// RFC 6750's `b64token`: what may follow `Bearer ` in a header.
fn is_bearer_token(text: &str) -> bool {
    let body = text.trim_end_matches('=');
    (1..=MAX_TOKEN_BYTES).contains(&text.len())
        && !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// A user's `wa_id`: the number's digits, as the vocabulary's `Sender` takes it.
pub(crate) fn is_wa_id(text: &str) -> bool {
    (5..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// A message id as Meta writes them (`wamid.` and base64): printable ASCII,
/// no space, bounded, so it is safe in a log line and a record.
pub(crate) fn is_message_id(text: &str) -> bool {
    (1..=MAX_MESSAGE_ID_BYTES).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bearer_tokens_are_taken() {
        assert!(is_bearer_token("EAAGm0PX4ZCpsBA-_.~+/=="));
        for bad in [
            "",
            "==",
            "EAA token",
            "EAA\ntoken",
            "EAA\"",
            &"E".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert!(!is_bearer_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn message_ids_are_bounded_printable_ascii() {
        assert!(is_message_id(
            "wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
        ));
        for bad in [
            "",
            "wamid. x",
            "wamid.\u{202E}",
            &"x".repeat(MAX_MESSAGE_ID_BYTES + 1),
        ] {
            assert!(!is_message_id(bad), "{bad:?}");
        }
    }
}
