//! A typed Bot API client (core.telegram.org/bots/api) on reqwest. The bot
//! token is part of every request's path, so the client is the one place that
//! holds it: URLs are built here and never formatted, transport errors lose
//! their URL, and every text the platform sends back is cleaned (see
//! [`TelegramError`]) before an error keeps it.

mod answer;
mod error;
mod grammar;

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use hardshell_secrets::SecretValue;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

pub use error::{ConflictCause, TelegramError};

use grammar::{check_root, check_token, is_file_path, is_filename, is_secret_token};

use crate::telegram::types::{ChatAction, File, Message, OutgoingMessage, Update, User};

/// How long an ordinary call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How much longer than its poll timeout a `getUpdates` may take before the
/// client gives up on it (the server answers at the poll timeout).
const POLL_GRACE: Duration = Duration::from_secs(10);
/// How long an upload or a download may take.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read: 100 updates of 4096-character texts with their
/// replied-to messages and entities fit several times over.
const MAX_ANSWER_BYTES: u64 = 8 << 20;
/// The Bot API's limit on a file a bot uploads.
const MAX_UPLOAD_BYTES: usize = 50 << 20;
/// The updates the channel reads; the platform holds back every other kind.
const ALLOWED_UPDATES: [&str; 3] = ["message", "edited_message", "callback_query"];

/// A client of one bot's Bot API.
pub struct TelegramApi {
    http: reqwest::Client,
    root: Url,
    token: SecretValue,
}

impl fmt::Debug for TelegramApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramApi")
            .field("root", &self.root.as_str())
            .field("token", &self.token)
            .finish()
    }
}

impl TelegramApi {
    /// A client of the Bot API at `api_root` (`https://api.telegram.org` in
    /// production; plain http only on a loopback host, for a local emulator).
    pub fn new(api_root: Url, token: SecretValue) -> Result<Self, TelegramError> {
        check_root(&api_root)?;
        check_token(&token)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // The Bot API never redirects; following one would carry a
            // request whose path holds the token to wherever it pointed.
            .redirect(reqwest::redirect::Policy::none())
            // Stays off: it logs every byte sent, the request line and its
            // token included.
            .connection_verbose(false)
            .build()
            .map_err(|e| TelegramError::Transport(answer::transport_text(e, "")))?;
        Ok(Self {
            http,
            root: api_root,
            token,
        })
    }

    /// The bot itself: its id and username (to spot mentions).
    pub async fn get_me(&self) -> Result<User, TelegramError> {
        self.call("getMe", &json!({}), CALL_TIMEOUT).await
    }

    /// Removes the webhook, so that `getUpdates` may poll.
    pub async fn delete_webhook(&self, drop_pending_updates: bool) -> Result<(), TelegramError> {
        let body = json!({ "drop_pending_updates": drop_pending_updates });
        self.call::<bool>("deleteWebhook", &body, CALL_TIMEOUT)
            .await
            .map(drop)
    }

    /// Has the platform deliver updates to `url`, each with `secret_token` in
    /// its `X-Telegram-Bot-Api-Secret-Token` header.
    pub async fn set_webhook(
        &self,
        url: &Url,
        secret_token: &SecretValue,
    ) -> Result<(), TelegramError> {
        let secret = secret_token
            .expose_str()
            .filter(|s| is_secret_token(s))
            .ok_or(TelegramError::Argument(
                "webhook secret token must be 1 to 256 of A-Z a-z 0-9 _ -",
            ))?;
        let body = json!({
            "url": url.as_str(),
            "secret_token": secret,
            "allowed_updates": ALLOWED_UPDATES,
        });
        self.call::<bool>("setWebhook", &body, CALL_TIMEOUT)
            .await
            .map(drop)
    }

    /// Long-polls for updates from `offset` on (which acknowledges every
    /// update before it), waiting up to `timeout_secs` for one. An update
    /// that does not parse is returned with only its id, so that it can still
    /// be acknowledged instead of blocking every update after it.
    pub async fn get_updates(
        &self,
        offset: Option<i64>,
        timeout_secs: u32,
    ) -> Result<Vec<Update>, TelegramError> {
        let mut body = json!({
            "timeout": timeout_secs,
            "limit": 100,
            "allowed_updates": ALLOWED_UPDATES,
        });
        if let (Some(offset), Some(fields)) = (offset, body.as_object_mut()) {
            fields.insert("offset".into(), offset.into());
        }
        let timeout = Duration::from_secs(u64::from(timeout_secs)) + POLL_GRACE;
        let raw: Vec<Value> = self.call("getUpdates", &body, timeout).await?;
        Ok(raw.into_iter().filter_map(answer::update).collect())
    }

    /// Sends a text message; link previews are off, so the platform never
    /// fetches a URL the agent wrote (a way to leak data to its host).
    pub async fn send_message(&self, message: &OutgoingMessage) -> Result<Message, TelegramError> {
        let mut body = json!({
            "chat_id": message.chat_id,
            "text": message.text,
            "link_preview_options": { "is_disabled": true },
        });
        if let Some(fields) = body.as_object_mut() {
            if let Some(reply_to) = message.reply_to {
                fields.insert("reply_parameters".into(), reply_parameters(reply_to));
            }
            if let Some(rows) = &message.buttons {
                let valid = rows
                    .iter()
                    .flatten()
                    .all(|b| (1..=64).contains(&b.callback_data.len()) && !b.text.is_empty());
                if !valid {
                    return Err(TelegramError::Argument(
                        "a button needs a text and 1 to 64 bytes of callback data",
                    ));
                }
                fields.insert("reply_markup".into(), json!({ "inline_keyboard": rows }));
            }
        }
        self.call("sendMessage", &body, CALL_TIMEOUT).await
    }

    /// Replaces the text of a message the bot sent (to stream a reply).
    pub async fn edit_message_text(
        &self,
        chat_id: i64,
        message_id: i64,
        text: &str,
    ) -> Result<Message, TelegramError> {
        let body = json!({
            "chat_id": chat_id,
            "message_id": message_id,
            "text": text,
            "link_preview_options": { "is_disabled": true },
        });
        self.call("editMessageText", &body, CALL_TIMEOUT).await
    }

    /// Shows `action` in the chat for a few seconds.
    pub async fn send_chat_action(
        &self,
        chat_id: i64,
        action: ChatAction,
    ) -> Result<(), TelegramError> {
        let body = json!({ "chat_id": chat_id, "action": action });
        self.call::<bool>("sendChatAction", &body, CALL_TIMEOUT)
            .await
            .map(drop)
    }

    /// Acknowledges a button press, with a short notice to its presser.
    pub async fn answer_callback_query(
        &self,
        id: &str,
        text: Option<&str>,
    ) -> Result<(), TelegramError> {
        let mut body = json!({ "callback_query_id": id });
        if let (Some(text), Some(fields)) = (text, body.as_object_mut()) {
            fields.insert("text".into(), text.into());
        }
        self.call::<bool>("answerCallbackQuery", &body, CALL_TIMEOUT)
            .await
            .map(drop)
    }

    /// A file's download path (valid for an hour).
    pub async fn get_file(&self, file_id: &str) -> Result<File, TelegramError> {
        self.call("getFile", &json!({ "file_id": file_id }), CALL_TIMEOUT)
            .await
    }

    /// Downloads `file`, refusing it as soon as it is known to be (or, while
    /// streaming, has grown) larger than `max_bytes`.
    pub async fn download_file(&self, file: &File, max_bytes: u64) -> Result<Bytes, TelegramError> {
        if file.file_size.is_some_and(|size| size > max_bytes) {
            return Err(TelegramError::TooLarge { limit: max_bytes });
        }
        let path = file
            .file_path
            .as_deref()
            .ok_or_else(|| TelegramError::Malformed("getFile gave no file_path".into()))?;
        let url = self.file_url(path)?;
        tracing::debug!("telegram file download");
        let response = self
            .http
            .get(url)
            .timeout(TRANSFER_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        answer::file(response, max_bytes, self.token_str()).await
    }

    /// Sends `bytes` as a document named `filename`.
    pub async fn send_document(
        &self,
        chat_id: i64,
        filename: &str,
        bytes: Bytes,
        reply_to: Option<i64>,
    ) -> Result<Message, TelegramError> {
        if !is_filename(filename) {
            return Err(TelegramError::Argument(
                "a document's name must be 1 to 255 bytes without control characters, quotes, slashes or backslashes",
            ));
        }
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(TelegramError::Argument("a bot may upload at most 50 MiB"));
        }
        let document = reqwest::multipart::Part::stream(bytes).file_name(filename.to_owned());
        let mut form = reqwest::multipart::Form::new()
            .text("chat_id", chat_id.to_string())
            .part("document", document);
        if let Some(reply_to) = reply_to {
            form = form.text("reply_parameters", reply_parameters(reply_to).to_string());
        }
        tracing::debug!(method = "sendDocument", "telegram call");
        let response = self
            .http
            .post(self.method_url("sendDocument"))
            .timeout(TRANSFER_TIMEOUT)
            .multipart(form)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        answer::result(response, MAX_ANSWER_BYTES, self.token_str()).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        body: &Value,
        timeout: Duration,
    ) -> Result<T, TelegramError> {
        tracing::debug!(method, "telegram call");
        let response = self
            .http
            .post(self.method_url(method))
            .timeout(timeout)
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        answer::result(response, MAX_ANSWER_BYTES, self.token_str()).await
    }

    fn transport(&self, error: reqwest::Error) -> TelegramError {
        TelegramError::Transport(answer::transport_text(error, self.token_str()))
    }

    /// The token as text; `new` checked that it is.
    fn token_str(&self) -> &str {
        self.token.expose_str().unwrap_or_default()
    }

    /// `<root>/bot<token>/<method>`. Holds the token: only ever sent.
    fn method_url(&self, method: &str) -> Url {
        let mut url = self.root.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .push(&format!("bot{}", self.token_str()))
                .push(method);
        }
        url
    }

    /// `<root>/file/bot<token>/<file_path>`, from a path the platform gave,
    /// refused unless it is plain relative segments.
    fn file_url(&self, file_path: &str) -> Result<Url, TelegramError> {
        if !is_file_path(file_path) {
            return Err(TelegramError::Malformed(format!(
                "getFile gave an unusable file_path {:?}",
                error::clean(file_path, self.token_str())
            )));
        }
        let mut url = self.root.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .push("file")
                .push(&format!("bot{}", self.token_str()))
                .extend(file_path.split('/'));
        }
        Ok(url)
    }
}

fn reply_parameters(message_id: i64) -> Value {
    // Sent even if the message was deleted meanwhile, rather than lost.
    json!({ "message_id": message_id, "allow_sending_without_reply": true })
}

#[cfg(test)]
#[path = "api/tests.rs"]
mod tests;

/// An update as Telegram posts it to a webhook, read as `getUpdates`' are.
pub(crate) fn read_update(raw: Value) -> Option<Update> {
    answer::update(raw)
}
