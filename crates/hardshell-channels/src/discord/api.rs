//! A typed client of the few Discord REST v10 calls the channel makes
//! (discord.com/developers/docs/resources/message). The bot token travels in
//! the `Authorization: Bot <token>` header, marked sensitive, and nowhere
//! else: URLs never hold it, transport errors lose their URL anyway, and
//! every text Discord sends back is cleaned and cut before an error keeps it.
//! Interaction calls carry the interaction's token in their path instead
//! (and never the bot's); attachment downloads carry no token at all.

mod error;

use std::fmt;
use std::time::Duration;

use hardshell_secrets::SecretValue;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::{Host, Url};

pub use error::DiscordError;

use super::interaction::InteractionToken;

const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read: a message object is a few kilobytes.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Why an attachment was not downloaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// Its URL is not on one of the configured CDN hosts: nothing was
    /// fetched.
    #[error(
        "discord attachment refused: its URL is not on a configured CDN host (channels.discord.cdn_hosts)"
    )]
    NotCdn,
    /// Larger than the bound, by its declared length or while reading.
    #[error("discord attachment is larger than allowed")]
    TooLarge,
    #[error("discord attachment download failed: {0}")]
    Failed(DiscordError),
}

/// The bot's own user, as `GET /users/@me` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BotUser {
    pub id: String,
}

#[derive(Deserialize)]
struct GatewayBot {
    url: String,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

/// A client of one bot's REST API.
pub struct DiscordApi {
    http: reqwest::Client,
    root: Url,
    authorization: HeaderValue,
}

impl fmt::Debug for DiscordApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordApi")
            .field("root", &self.root.as_str())
            .finish_non_exhaustive()
    }
}

impl DiscordApi {
    /// A client of the REST API at `api_root` (`https://discord.com/api/v10`;
    /// plain http only on a loopback host, for a local emulator).
    pub fn new(api_root: Url, token: &SecretValue) -> Result<Self, DiscordError> {
        if !(api_root.scheme() == "https"
            || (api_root.scheme() == "http" && is_loopback(&api_root)))
            || api_root.cannot_be_a_base()
            || api_root.query().is_some()
            || !api_root.username().is_empty()
        {
            return Err(DiscordError::Root);
        }
        let token = token
            .expose_str()
            .filter(|t| is_token(t))
            .ok_or(DiscordError::Token)?;
        let mut authorization =
            HeaderValue::from_str(&format!("Bot {token}")).map_err(|_| DiscordError::Token)?;
        // Kept out of reqwest's and hyper's debug output.
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // A redirect would carry the Authorization header elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connection_verbose(false)
            .build()
            .map_err(|e| DiscordError::Transport(error::transport_text(e, &[])))?;
        Ok(Self {
            http,
            root: api_root,
            authorization,
        })
    }

    /// Whether the API root is a loopback emulator's, whose gateway URL is
    /// then taken from it too.
    pub fn is_local(&self) -> bool {
        is_loopback(&self.root)
    }

    /// The bot itself: its id, to spot mentions and its own messages.
    pub async fn me(&self) -> Result<BotUser, DiscordError> {
        self.call(Method::GET, &["users", "@me"], None).await
    }

    /// The gateway's URL, as `GET /gateway/bot` gives it.
    pub async fn gateway_url(&self) -> Result<Url, DiscordError> {
        let answer: GatewayBot = self.call(Method::GET, &["gateway", "bot"], None).await?;
        Url::parse(&answer.url).map_err(|_| DiscordError::Malformed("gateway url".into()))
    }

    /// Sends `text` to channel `chat`, as a reply to `reply_to` when given;
    /// the new message's id. No mention in it pings anyone: the agent's text
    /// may say `@everyone`.
    pub async fn create_message(
        &self,
        chat: &str,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<String, DiscordError> {
        let body = message_body(text, reply_to)?;
        self.post_message(chat, &body).await
    }

    /// Sends the owner's question `text` to channel `chat` with two buttons
    /// under it, "Run it" and "Don't run", whose `custom_id`s answer
    /// command `approval` (`dispatch::press_data`); the new message's id.
    pub async fn ask(
        &self,
        chat: &str,
        text: &str,
        approval: &str,
        reply_to: Option<&str>,
    ) -> Result<String, DiscordError> {
        let mut body = message_body(text, reply_to)?;
        body["components"] = question_buttons(approval);
        self.post_message(chat, &body).await
    }

    async fn post_message(&self, chat: &str, body: &Value) -> Result<String, DiscordError> {
        check_snowflake(chat)?;
        let created: Created = self
            .call(Method::POST, &["channels", chat, "messages"], Some(body))
            .await?;
        Ok(created.id)
    }

    /// Sends the file `name` with `bytes` to channel `chat`, as a reply to
    /// `reply_to` when given, pinging no one (a multipart upload: the
    /// message as `payload_json`, the file as `files[0]`); the new
    /// message's id.
    pub async fn upload(
        &self,
        chat: &str,
        name: &str,
        bytes: bytes::Bytes,
        reply_to: Option<&str>,
    ) -> Result<String, DiscordError> {
        check_snowflake(chat)?;
        let mut payload = message_body("", reply_to)?;
        payload["attachments"] = json!([{ "id": 0, "filename": name }]);
        let file = reqwest::multipart::Part::stream(bytes)
            .file_name(name.to_owned())
            .mime_str("application/octet-stream")
            .map_err(|_| DiscordError::Argument("a file's media type"))?;
        let form = reqwest::multipart::Form::new()
            .text("payload_json", payload.to_string())
            .part("files[0]", file);
        let mut url = self.root.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["channels", chat, "messages"]);
        }
        let response = self
            .http
            .post(url)
            .header(AUTHORIZATION, self.authorization.clone())
            .timeout(CALL_TIMEOUT)
            .multipart(form)
            .send()
            .await
            .map_err(|e| DiscordError::Transport(error::transport_text(e, &[])))?;
        let created: Created = self.answer(response, &[]).await?;
        Ok(created.id)
    }

    /// The bytes at `url`, an attachment on one of `hosts` (https, or plain
    /// http on a loopback host for an emulator), at most `limit` of them,
    /// whatever size was announced. The CDN's URL carries its own signature:
    /// no token is sent, and no redirect followed.
    pub async fn download(
        &self,
        url: &str,
        hosts: &[String],
        limit: u64,
    ) -> Result<Vec<u8>, DownloadError> {
        let url = Url::parse(url).map_err(|_| DownloadError::NotCdn)?;
        let host_allowed = url
            .host_str()
            .is_some_and(|host| hosts.iter().any(|allowed| allowed == host));
        let scheme_allowed =
            url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&url));
        if !host_allowed || !scheme_allowed || !url.username().is_empty() {
            return Err(DownloadError::NotCdn);
        }
        let response = self
            .http
            .get(url)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                DownloadError::Failed(DiscordError::Transport(error::transport_text(e, &[])))
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(DownloadError::Failed(DiscordError::Server {
                status: status.as_u16(),
            }));
        }
        crate::network::read_bounded(response, limit, &[])
            .await
            .map_err(|e| match e {
                crate::network::ReadError::TooLarge => DownloadError::TooLarge,
                crate::network::ReadError::Transport(text) => {
                    DownloadError::Failed(DiscordError::Transport(text))
                }
            })
    }

    /// Replaces the text of message `message` in channel `chat`.
    pub async fn edit_message(
        &self,
        chat: &str,
        message: &str,
        text: &str,
    ) -> Result<(), DiscordError> {
        check_snowflake(chat)?;
        check_snowflake(message)?;
        let body = json!({ "content": text, "allowed_mentions": { "parse": [] } });
        self.call::<Value>(
            Method::PATCH,
            &["channels", chat, "messages", message],
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// Shows that the bot is typing in channel `chat`.
    pub async fn typing(&self, chat: &str) -> Result<(), DiscordError> {
        check_snowflake(chat)?;
        self.call::<Option<Value>>(Method::POST, &["channels", chat, "typing"], None)
            .await
            .map(drop)
    }

    /// The application's id (`GET /oauth2/applications/@me`), which
    /// registering the slash command names.
    pub async fn application_id(&self) -> Result<String, DiscordError> {
        let application: Created = self
            .call(Method::GET, &["oauth2", "applications", "@me"], None)
            .await?;
        check_snowflake(&application.id)?;
        Ok(application.id)
    }

    /// Registers the application's one global slash command, `name`, with
    /// its optional `text` option, in guilds and in the bot's direct chats
    /// (`PUT /applications/{id}/commands`: replaces what was registered,
    /// so running it at every start changes nothing).
    pub async fn register_command(
        &self,
        application: &str,
        name: &str,
    ) -> Result<(), DiscordError> {
        check_snowflake(application)?;
        let commands = json!([{
            "name": name,
            "type": 1,
            "description": "Write to the assistant",
            "contexts": [0, 1],
            "integration_types": [0],
            "options": [{
                "type": 3,
                "name": super::interaction::TEXT_OPTION,
                "description": "Your message; leave it empty or write new to start a new conversation",
                "required": false,
                "max_length": super::event::MAX_TEXT_CHARS,
            }],
        }]);
        self.call::<Value>(
            Method::PUT,
            &["applications", application, "commands"],
            Some(&commands),
        )
        .await
        .map(drop)
    }

    /// Answers interaction `id` with `response` (an interaction response:
    /// `type` and `data`), within the 3 seconds Discord waits
    /// (`POST /interactions/{id}/{token}/callback`).
    pub async fn interaction_callback(
        &self,
        id: &str,
        token: &InteractionToken,
        response: &Value,
    ) -> Result<(), DiscordError> {
        check_snowflake(id)?;
        let path = ["interactions", id, token.expose(), "callback"];
        self.call_interaction::<Option<Value>>(Method::POST, &path, response, token)
            .await
            .map(drop)
    }

    /// Replaces the interaction's original response: the deferred answer to
    /// a command, or the message a pressed button sits on
    /// (`PATCH /webhooks/{application}/{token}/messages/@original`).
    pub async fn edit_original(
        &self,
        application: &str,
        token: &InteractionToken,
        message: &Value,
    ) -> Result<(), DiscordError> {
        check_snowflake(application)?;
        let path = [
            "webhooks",
            application,
            token.expose(),
            "messages",
            "@original",
        ];
        self.call_interaction::<Value>(Method::PATCH, &path, message, token)
            .await
            .map(drop)
    }

    /// Sends a follow-up message to an interaction already acknowledged
    /// (`POST /webhooks/{application}/{token}`).
    pub async fn follow_up(
        &self,
        application: &str,
        token: &InteractionToken,
        message: &Value,
    ) -> Result<(), DiscordError> {
        check_snowflake(application)?;
        let path = ["webhooks", application, token.expose()];
        self.call_interaction::<Value>(Method::POST, &path, message, token)
            .await
            .map(drop)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        body: Option<&Value>,
    ) -> Result<T, DiscordError> {
        self.send(method, path, body, Some(&self.authorization), None)
            .await
    }

    /// An interaction's call: its token is in the path and authenticates
    /// it, so the bot's token is not sent, and the interaction's is taken
    /// out of any text Discord sends back.
    async fn call_interaction<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        body: &Value,
        token: &InteractionToken,
    ) -> Result<T, DiscordError> {
        self.send(method, path, Some(body), None, Some(token.expose()))
            .await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        body: Option<&Value>,
        authorization: Option<&HeaderValue>,
        secret: Option<&str>,
    ) -> Result<T, DiscordError> {
        let secrets: Vec<&str> = secret.into_iter().collect();
        let mut url = self.root.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path);
        }
        let mut request = self.http.request(method, url).timeout(CALL_TIMEOUT);
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| DiscordError::Transport(error::transport_text(e, &secrets)))?;
        self.answer(response, &secrets).await
    }

    /// The answer's body as `T`, or what Discord's error says.
    async fn answer<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
        secrets: &[&str],
    ) -> Result<T, DiscordError> {
        let status = response.status();
        let retry_header = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let bytes = read_bounded(response, secrets).await?;
        if !status.is_success() {
            return Err(error::failed(status, &bytes, retry_header, secrets));
        }
        if status == StatusCode::NO_CONTENT || bytes.is_empty() {
            return serde_json::from_value(Value::Null)
                .map_err(|_| DiscordError::Malformed("an empty answer".into()));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| DiscordError::Malformed(error::clean(&e.to_string(), secrets)))
    }
}

/// A message's body: `text`, pinging no one, a reply to `reply_to` when
/// given (sent even if that message was deleted meanwhile, rather than
/// lost).
fn message_body(text: &str, reply_to: Option<&str>) -> Result<Value, DiscordError> {
    let mut body = json!({ "content": text, "allowed_mentions": { "parse": [] } });
    if let Some(message) = reply_to {
        check_snowflake(message)?;
        body["message_reference"] = json!({ "message_id": message, "fail_if_not_exists": false });
    }
    Ok(body)
}

/// One action row with the question's two buttons (discord.com/developers/
/// docs/components/reference: type 1 action row, type 2 buttons, style 3
/// success and 4 danger).
fn question_buttons(approval: &str) -> Value {
    let button = |label: &str, style: u8, approve: bool| {
        json!({
            "type": 2,
            "style": style,
            "label": label,
            "custom_id": crate::dispatch::press_data(approval, approve),
        })
    };
    json!([{
        "type": 1,
        "components": [button("Run it", 3, true), button("Don't run", 4, false)],
    }])
}

async fn read_bounded(
    response: reqwest::Response,
    secrets: &[&str],
) -> Result<Vec<u8>, DiscordError> {
    crate::network::read_bounded(response, MAX_ANSWER_BYTES as u64, secrets)
        .await
        .map_err(|e| match e {
            crate::network::ReadError::TooLarge => DiscordError::TooLarge,
            crate::network::ReadError::Transport(text) => DiscordError::Transport(text),
        })
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A bot token as the developer portal issues them (three base64url parts
/// joined by dots); also what makes `Bot <token>` a safe header value.
fn is_token(token: &str) -> bool {
    (20..=200).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// A snowflake: 1 to 20 decimal digits. Checked before it goes in a path.
pub(crate) fn is_snowflake(id: &str) -> bool {
    (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

fn check_snowflake(id: &str) -> Result<(), DiscordError> {
    if is_snowflake(id) {
        Ok(())
    } else {
        Err(DiscordError::Argument("an id is not a snowflake"))
    }
}

#[cfg(test)]
#[path = "api/tests.rs"]
mod tests;
