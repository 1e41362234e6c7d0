//! A typed Web API client (api.slack.com/web) on reqwest: the bot token
//! (`xoxb-`) for the bot's calls, the app-level token (`xapp-`) only for
//! opening Socket Mode connections. Tokens go in the `Authorization` header
//! (marked sensitive, so no Debug prints it), never in a URL; errors keep
//! Slack's `error` code, cleaned, and nothing else the platform wrote.

mod error;
mod files;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use hardshell_secrets::SecretValue;
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

pub use error::SlackError;
pub(crate) use error::{clean_code, clean_text};

const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read: these methods answer a few KiB at most.
const MAX_ANSWER_BYTES: u64 = 1 << 20;
/// The longest wait a 429 is trusted with, so a wrong answer cannot stall
/// the channel for days.
const MAX_RETRY_AFTER_SECS: u64 = 3600;
/// The error codes that mean the token itself is refused.
const TOKEN_ERRORS: [&str; 5] = [
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
];

/// The bot as `auth.test` names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BotIdentity {
    /// The bot's user id (`U…`), as mentions (`<@U…>`) and its own messages name it.
    pub user_id: String,
    /// The workspace's id (`T…`).
    pub team_id: String,
    /// The bot's id (`B…`), as its own messages carry in `bot_id`.
    #[serde(default)]
    pub bot_id: Option<String>,
}

/// A client of one Slack app's Web API.
pub struct SlackApi {
    http: reqwest::Client,
    root: Url,
    /// The one origin besides the root the bot token goes to: where
    /// shared files are fetched (and uploads go).
    files: url::Origin,
    bot_token: SecretValue,
    app_token: Option<SecretValue>,
}

impl fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackApi")
            .field("root", &self.root.as_str())
            .field("bot_token", &self.bot_token)
            .field("app_token", &self.app_token)
            .finish()
    }
}

impl SlackApi {
    /// A client of the Web API at `api_root` (`https://slack.com/api`; plain
    /// http only on a loopback host) with the bot token, and the app-level
    /// token when Socket Mode is used.
    pub fn new(
        api_root: Url,
        bot_token: SecretValue,
        app_token: Option<SecretValue>,
    ) -> Result<Self, SlackError> {
        check_root(&api_root)?;
        check_token(&bot_token, "xoxb-").ok_or(SlackError::Token("bot token", "xoxb-…"))?;
        if let Some(app) = &app_token {
            check_token(app, "xapp-").ok_or(SlackError::Token("app-level token", "xapp-…"))?;
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // The Web API does not redirect; following one would carry the
            // Authorization header to wherever it pointed.
            .redirect(reqwest::redirect::Policy::none())
            .connection_verbose(false)
            .build()
            .map_err(|e| SlackError::Transport(clean_text(&e.without_url().to_string(), &[])))?;
        Ok(Self {
            http,
            files: files::origin_for(&api_root),
            root: api_root,
            bot_token,
            app_token,
        })
    }

    /// Whether the client holds the app-level token Socket Mode needs.
    pub fn has_app_token(&self) -> bool {
        self.app_token.is_some()
    }

    /// The bot's own ids (`auth.test`).
    pub async fn auth_test(&self) -> Result<BotIdentity, SlackError> {
        self.call("auth.test", &self.bot_token, None).await
    }

    /// Posts `text` in `channel`, in the thread of `thread_ts` when given;
    /// the new message's `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Result<String, SlackError> {
        #[derive(Deserialize)]
        struct Posted {
            ts: String,
        }
        let mut body = json!({ "channel": channel, "text": text });
        if let Some(thread) = thread_ts {
            body["thread_ts"] = thread.into();
        }
        let posted: Posted = self
            .call("chat.postMessage", &self.bot_token, Some(&body))
            .await?;
        Ok(posted.ts)
    }

    /// Posts Block Kit `blocks` in `channel` (in the thread of `thread_ts`
    /// when given), with `text` as the notification's fallback; the new
    /// message's `ts`.
    pub async fn post_blocks(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
        thread_ts: Option<&str>,
    ) -> Result<String, SlackError> {
        #[derive(Deserialize)]
        struct Posted {
            ts: String,
        }
        let mut body = json!({ "channel": channel, "text": text, "blocks": blocks });
        if let Some(thread) = thread_ts {
            body["thread_ts"] = thread.into();
        }
        let posted: Posted = self
            .call("chat.postMessage", &self.bot_token, Some(&body))
            .await?;
        Ok(posted.ts)
    }

    /// Replaces the text of the bot's message `ts` in `channel` (`chat.update`).
    pub async fn update(&self, channel: &str, ts: &str, text: &str) -> Result<(), SlackError> {
        let body = json!({ "channel": channel, "ts": ts, "text": text });
        self.call::<Value>("chat.update", &self.bot_token, Some(&body))
            .await
            .map(drop)
    }

    /// Replaces the bot's message `ts` in `channel` with `text` and
    /// `blocks` (`chat.update`); an empty `blocks` removes the message's
    /// blocks, buttons included, as the method documents.
    pub async fn update_blocks(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(), SlackError> {
        let body = json!({ "channel": channel, "ts": ts, "text": text, "blocks": blocks });
        self.call::<Value>("chat.update", &self.bot_token, Some(&body))
            .await
            .map(drop)
    }

    /// Shows `text` to `user` alone in `channel` (`chat.postEphemeral`).
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), SlackError> {
        let body = json!({ "channel": channel, "user": user, "text": text });
        self.call::<Value>("chat.postEphemeral", &self.bot_token, Some(&body))
            .await
            .map(drop)
    }

    /// A Socket Mode WebSocket URL (`apps.connections.open`, with the
    /// app-level token). The URL holds a one-time ticket: it is only
    /// connected to, never logged.
    pub async fn open_connection(&self) -> Result<Url, SlackError> {
        #[derive(Deserialize)]
        struct Opened {
            url: String,
        }
        const METHOD: &str = "apps.connections.open";
        let token = self
            .app_token
            .as_ref()
            .ok_or(SlackError::NoAppToken(METHOD))?;
        let opened: Opened = self.call(METHOD, token, None).await?;
        let malformed = SlackError::Malformed {
            method: METHOD,
            detail: "url is not a wss:// URL (ws:// only to loopback)",
        };
        let url = Url::parse(&opened.url).map_err(|_| malformed.clone())?;
        let fits = url.scheme() == "wss" || (url.scheme() == "ws" && is_loopback(&url));
        if !fits || url.host_str().is_none() {
            return Err(malformed);
        }
        Ok(url)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        token: &SecretValue,
        body: Option<&Value>,
    ) -> Result<T, SlackError> {
        let mut request = self.request(method, token);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.answered(method, request).await
    }

    /// A call of a method that takes its arguments as a form
    /// (`files.getUploadURLExternal`), with the bot token.
    async fn call_form<T: DeserializeOwned>(
        &self,
        method: &'static str,
        fields: &[(&str, &str)],
    ) -> Result<T, SlackError> {
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in fields {
                form.append_pair(name, value);
            }
            form.finish()
        };
        let request = self
            .request(method, &self.bot_token)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form);
        self.answered(method, request).await
    }

    fn request(&self, method: &'static str, token: &SecretValue) -> reqwest::RequestBuilder {
        tracing::debug!(method, "slack call");
        self.http
            .post(self.method_url(method))
            .timeout(CALL_TIMEOUT)
            .bearer_auth(token.expose_str().unwrap_or_default())
    }

    /// Sends `request` and reads the method's answer.
    async fn answered<T: DeserializeOwned>(
        &self,
        method: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, SlackError> {
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let response = checked(method, response)?;
        let bytes = self.read_bounded(response).await?;
        answer(method, &bytes)
    }

    async fn read_bounded(&self, response: reqwest::Response) -> Result<Vec<u8>, SlackError> {
        let limit = MAX_ANSWER_BYTES;
        crate::network::read_bounded(response, limit, &self.secrets())
            .await
            .map_err(|e| match e {
                crate::network::ReadError::TooLarge => SlackError::TooLarge { limit },
                crate::network::ReadError::Transport(text) => SlackError::Transport(text),
            })
    }

    fn transport(&self, error: reqwest::Error) -> SlackError {
        SlackError::Transport(crate::network::transport_text(error, &self.secrets()))
    }

    /// The tokens, for scrubbing them from anything the network sends back.
    fn secrets(&self) -> [&str; 2] {
        let bot = self.bot_token.expose_str().unwrap_or_default();
        let app = self
            .app_token
            .as_ref()
            .and_then(SecretValue::expose_str)
            .unwrap_or_default();
        [bot, app]
    }

    /// `<root>/<method>`.
    fn method_url(&self, method: &str) -> Url {
        let mut url = self.root.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(method);
        }
        url
    }
}

/// The response, unless Slack asked to wait (429 and its `Retry-After`) or
/// answered with another status than success.
fn checked(
    method: &'static str,
    response: reqwest::Response,
) -> Result<reqwest::Response, SlackError> {
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let secs = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(1)
            .clamp(1, MAX_RETRY_AFTER_SECS);
        return Err(SlackError::RetryAfter { method, secs });
    }
    if !status.is_success() {
        return Err(SlackError::Server {
            method,
            status: status.as_u16(),
        });
    }
    Ok(response)
}

/// The documented envelope: `{"ok": true, ...}` or `{"ok": false, "error": code}`.
fn answer<T: DeserializeOwned>(method: &'static str, bytes: &[u8]) -> Result<T, SlackError> {
    #[derive(Deserialize)]
    struct Envelope {
        ok: bool,
        #[serde(default)]
        error: Option<String>,
    }
    let malformed = |detail| SlackError::Malformed { method, detail };
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|_| malformed("not the {ok, ...} envelope"))?;
    if !envelope.ok {
        let error = clean_code(envelope.error.as_deref().unwrap_or_default());
        return Err(if TOKEN_ERRORS.contains(&error.as_str()) {
            SlackError::Unauthorized { method, error }
        } else {
            SlackError::Refused { method, error }
        });
    }
    serde_json::from_slice(bytes).map_err(|_| malformed("ok without the documented fields"))
}

fn is_loopback(url: &Url) -> bool {
    url.host_str()
        .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|host| host.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback())
}

fn check_root(root: &Url) -> Result<(), SlackError> {
    if !(root.scheme() == "https" || (root.scheme() == "http" && is_loopback(root))) {
        return Err(SlackError::Root(
            "must be https:// (http:// only to a loopback address)",
        ));
    }
    if root.cannot_be_a_base() || !root.username().is_empty() || root.password().is_some() {
        return Err(SlackError::Root("must be a plain URL without credentials"));
    }
    Ok(())
}

/// `prefix` then 1 to 250 of letters, digits and `-`: Slack's token forms,
/// and nothing that could break out of a header.
fn check_token(token: &SecretValue, prefix: &str) -> Option<()> {
    let text = token.expose_str()?;
    let rest = text.strip_prefix(prefix)?;
    let fits = (1..=250).contains(&rest.len())
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    fits.then_some(())
}
