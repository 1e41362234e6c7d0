//! Steps 5b and 8b: the chat channels. Their tokens are read with every
//! other credential, before the leak scan is made ([`channel_secrets`]);
//! their dispatchers and webhook routes exist before the edge is built
//! ([`prepare_channels`]), since the routes are part of its table; they
//! reach the agent through the edge's `ChatTurns` once it is built, and
//! their outbound transports (Telegram's polling) start then
//! ([`PreparedChannels::start`]).

use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use hardshell_channels::webhook::WebhookEndpoint;
use hardshell_channels::{
    Agent, ChannelRules, Dispatcher, Pairings, Platform, Unpaired,
    conversations::Conversations,
    discord::DiscordChannel,
    slack::{SlackChannel, SlackSecrets},
    telegram::TelegramChannel,
    telegram::api::TelegramApi,
    telegram::webhook::{self as telegram_webhook, TakenUpdates, TelegramWebhook},
    whatsapp::{self, WhatsappSecrets, WhatsappWorker},
};
use hardshell_config::LoadedConfig;
use hardshell_edge::ChatTurns;
use hardshell_egress::Credentials;
use hardshell_protocol::chat::ChatEvent;
use hardshell_secrets::SecretValue;
use hardshell_storage::{ObjectKey, Scope, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use super::Storage;

/// The channels' credentials, read from the secret store.
pub struct ChannelSecrets {
    telegram: Option<SecretValue>,
    /// With `mode = "webhook"`: what Telegram must present.
    telegram_webhook: Option<SecretValue>,
    whatsapp: Option<WhatsappSecrets>,
    slack: Option<SlackSecrets>,
    discord: Option<SecretValue>,
}

/// Reads the token of each channel that runs.
pub async fn channel_secrets(
    loaded: &LoadedConfig,
    credentials: &mut Credentials<'_>,
) -> anyhow::Result<ChannelSecrets> {
    let config = &loaded.config;
    let telegram = match (
        &config.channels.telegram.token,
        config.channel_runs(Platform::Telegram),
    ) {
        (Some(token), true) => Some(secret(
            credentials
                .resolve("channels.telegram.token", token)
                .await?,
        )?),
        _ => None,
    };
    let telegram_webhook = match (&config.channels.telegram.webhook_secret, &telegram) {
        (Some(reference), Some(_)) => Some(secret(
            credentials
                .resolve("channels.telegram.webhook_secret", reference)
                .await?,
        )?),
        _ => None,
    };
    let section = &config.channels.whatsapp;
    let whatsapp = match (
        &section.access_token,
        &section.app_secret,
        &section.verify_token,
        config.channel_runs(Platform::Whatsapp),
    ) {
        (Some(access_token), Some(app_secret), Some(verify_token), true) => Some(WhatsappSecrets {
            access_token: secret(
                credentials
                    .resolve("channels.whatsapp.access_token", access_token)
                    .await?,
            )?,
            app_secret: secret(
                credentials
                    .resolve("channels.whatsapp.app_secret", app_secret)
                    .await?,
            )?,
            verify_token: secret(
                credentials
                    .resolve("channels.whatsapp.verify_token", verify_token)
                    .await?,
            )?,
        }),
        _ => None,
    };
    let section = &config.channels.slack;
    let slack = match (&section.bot_token, config.channel_runs(Platform::Slack)) {
        (Some(bot_token), true) => {
            let mut optional =
                async |key: &str, reference: &Option<hardshell_config::SecretRef>| {
                    anyhow::Ok(match reference {
                        Some(reference) => {
                            Some(secret(credentials.resolve(key, reference).await?)?)
                        }
                        None => None,
                    })
                };
            let app_token = optional("channels.slack.app_token", &section.app_token).await?;
            let signing_secret =
                optional("channels.slack.signing_secret", &section.signing_secret).await?;
            Some(SlackSecrets {
                bot_token: secret(
                    credentials
                        .resolve("channels.slack.bot_token", bot_token)
                        .await?,
                )?,
                app_token,
                signing_secret,
            })
        }
        _ => None,
    };
    let discord = match (
        &config.channels.discord.token,
        config.channel_runs(Platform::Discord),
    ) {
        (Some(token), true) => Some(secret(
            credentials.resolve("channels.discord.token", token).await?,
        )?),
        _ => None,
    };
    Ok(ChannelSecrets {
        telegram,
        telegram_webhook,
        whatsapp,
        slack,
        discord,
    })
}

fn secret(text: Zeroizing<String>) -> anyhow::Result<SecretValue> {
    Ok(SecretValue::new(Zeroizing::new(text.as_bytes().to_vec()))?)
}

/// The agent as the channels reach it: the edge's turns, joined once the
/// edge is built. Until then (no message can arrive: nothing polls and the
/// edge does not serve yet) a turn is refused.
#[derive(Debug, Default)]
struct EdgeAgent {
    turns: OnceLock<ChatTurns>,
}

impl Agent for EdgeAgent {
    fn new_session(&self, channel: &str, subject: &str) -> String {
        ChatTurns::new_session(channel, subject)
    }

    fn send(
        &self,
        subject: &str,
        session: &str,
        text: String,
        request_id: String,
    ) -> BoxFuture<'_, Result<BoxStream<'static, ChatEvent>, String>> {
        let (subject, session) = (subject.to_owned(), session.to_owned());
        async move {
            let turns = self.turns.get().ok_or("the edge is not serving yet")?;
            turns
                .send(&subject, &session, text, request_id)
                .await
                .map_err(|e| e.to_string())
        }
        .boxed()
    }

    fn answer(
        &self,
        subject: &str,
        session: &str,
        approval: &str,
        approve: bool,
    ) -> Result<(), String> {
        let turns = self.turns.get().ok_or("the edge is not serving yet")?;
        turns
            .answer(subject, session, approval, approve)
            .map_err(|e| e.to_string())
    }

    fn deposit(
        &self,
        subject: &str,
        session: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> BoxFuture<'_, Result<String, String>> {
        let (subject, session, name) = (subject.to_owned(), session.to_owned(), name.to_owned());
        async move {
            let turns = self.turns.get().ok_or("the edge is not serving yet")?;
            turns
                .deposit(&subject, &session, &name, bytes)
                .await
                .map_err(|e| e.to_string())
        }
        .boxed()
    }

    fn file(
        &self,
        subject: &str,
        session: &str,
        id: &str,
    ) -> Result<(String, bytes::Bytes), String> {
        let turns = self.turns.get().ok_or("the edge is not serving yet")?;
        let file = turns
            .file(subject, session, id)
            .map_err(|e| e.to_string())?;
        Ok((file.name, file.bytes))
    }

    fn answer_as_owner(&self, session: &str, approval: &str, approve: bool) -> Result<(), String> {
        let turns = self.turns.get().ok_or("the edge is not serving yet")?;
        turns
            .answer_as_owner(session, approval, approve)
            .map_err(|e| e.to_string())
    }
}

/// The channels, ready to be joined to the edge.
pub struct PreparedChannels {
    agent: Arc<EdgeAgent>,
    telegram: Option<TelegramRun>,
    whatsapp: Option<WhatsappWorker>,
    slack: Option<SlackChannel>,
    discord: Option<DiscordChannel>,
    webhooks: Vec<Arc<dyn WebhookEndpoint>>,
}

/// How the Telegram channel takes its updates.
enum TelegramRun {
    Polling(TelegramChannel),
    Webhook {
        channel: TelegramChannel,
        url: url::Url,
        secret: SecretValue,
        taken: TakenUpdates,
    },
}

/// Builds each running channel's dispatcher and client.
pub fn prepare_channels(
    loaded: &LoadedConfig,
    storage: &Storage,
    secrets: ChannelSecrets,
) -> anyhow::Result<PreparedChannels> {
    let config = &loaded.config;
    let agent = Arc::new(EdgeAgent::default());
    let store = &storage.store;
    let unpaired = match config.channels.unpaired {
        hardshell_config::Unpaired::Code => Unpaired::Code,
        hardshell_config::Unpaired::Silent => Unpaired::Silent,
    };
    let dispatcher = |platform: Platform, groups: Vec<String>| -> anyhow::Result<Dispatcher> {
        Ok(Dispatcher::new(
            ChannelRules {
                platform,
                allow: config.channels.allow(platform).to_vec(),
                groups,
                unpaired,
            },
            Pairings::new(scope(store, "channels/pairing")?),
            Conversations::new(scope(store, "channels/conversations")?),
            agent.clone(),
            storage.audit.clone(),
        )
        .with_max_file_bytes(config.channels.max_file_bytes()))
    };
    let mut webhooks: Vec<Arc<dyn WebhookEndpoint>> = Vec::new();
    let telegram = match secrets.telegram {
        Some(token) => {
            let section = &config.channels.telegram;
            let root =
                url::Url::parse(section.api_root.as_str()).context("channels.telegram.api_root")?;
            let api = TelegramApi::new(root, token).context("channels.telegram")?;
            let groups = section.groups.iter().map(i64::to_string).collect();
            let channel = TelegramChannel::new(
                api,
                dispatcher(Platform::Telegram, groups)?,
                scope(store, "channels/telegram")?,
            );
            Some(match secrets.telegram_webhook {
                None => TelegramRun::Polling(channel),
                Some(secret) => {
                    let url = telegram_webhook_url(loaded)?;
                    let (webhook, taken) = TelegramWebhook::new(secret.clone());
                    webhooks.push(Arc::new(webhook));
                    TelegramRun::Webhook {
                        channel,
                        url,
                        secret,
                        taken,
                    }
                }
            })
        }
        None => None,
    };
    let whatsapp = match secrets.whatsapp {
        Some(secrets) => {
            let (webhook, worker) = whatsapp::channel(
                &config.channels.whatsapp,
                secrets,
                dispatcher(Platform::Whatsapp, Vec::new())?,
                scope(store, "channels/whatsapp")?,
            )
            .context("channels.whatsapp")?;
            webhooks.push(webhook);
            Some(worker)
        }
        None => None,
    };
    let slack = match secrets.slack {
        Some(secrets) => {
            let section = &config.channels.slack;
            let channels = section.channels.iter().map(|c| c.to_string()).collect();
            let slack = SlackChannel::new(
                section,
                secrets,
                dispatcher(Platform::Slack, channels)?,
                scope(store, "channels/slack")?,
            )
            .context("channels.slack")?;
            webhooks.extend(slack.webhook());
            Some(slack)
        }
        None => None,
    };
    let discord = match secrets.discord {
        Some(token) => {
            let section = &config.channels.discord;
            let channels = section.channels.iter().map(u64::to_string).collect();
            let discord = DiscordChannel::new(
                section,
                token,
                dispatcher(Platform::Discord, channels)?,
                scope(store, "channels/discord")?,
            )
            .context("channels.discord")?;
            webhooks.extend(discord.webhook());
            Some(discord)
        }
        None => None,
    };
    Ok(PreparedChannels {
        agent,
        telegram,
        whatsapp,
        slack,
        discord,
        webhooks,
    })
}

/// Where Telegram posts: the public URL's `/hooks/telegram`, which must be
/// https (Telegram delivers nowhere else).
fn telegram_webhook_url(loaded: &LoadedConfig) -> anyhow::Result<url::Url> {
    let url = loaded
        .public_url
        .join(telegram_webhook::PATH)
        .context("the Telegram webhook's URL")?;
    if url.scheme() != "https" {
        anyhow::bail!(
            "channels.telegram: mode = \"webhook\" needs an https [edge] public_url (Telegram delivers only to https); use mode = \"polling\" otherwise"
        );
    }
    Ok(url)
}

fn scope(store: &Store, path: &str) -> anyhow::Result<Scope> {
    Ok(store.root().scope(&ObjectKey::parse(path)?)?)
}

impl PreparedChannels {
    /// The webhook routes the edge serves for the channels.
    pub fn webhooks(&self) -> Vec<Arc<dyn WebhookEndpoint>> {
        self.webhooks.clone()
    }

    /// Joins the channels to the agent's turns and starts their outbound
    /// transports. Without turns (no agent runs: the config refuses
    /// channels then) nothing starts.
    pub fn start(self, turns: Option<ChatTurns>) -> RunningChannels {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        if let Some(turns) = turns {
            // Set once, here, before anything runs.
            let _ = self.agent.turns.set(turns);
            match self.telegram {
                Some(TelegramRun::Polling(channel)) => {
                    tasks.push(tokio::spawn(channel.run(until(stopped.clone()))));
                }
                Some(TelegramRun::Webhook {
                    channel,
                    url,
                    secret,
                    taken,
                }) => {
                    tasks.push(tokio::spawn(channel.run_webhook(
                        url,
                        secret,
                        taken,
                        until(stopped.clone()),
                    )));
                }
                None => {}
            }
            if let Some(discord) = self.discord {
                tasks.push(tokio::spawn(discord.run(until(stopped.clone()))));
            }
            if let Some(slack) = self.slack {
                tasks.push(tokio::spawn(slack.run(until(stopped.clone()))));
            }
            if let Some(whatsapp) = self.whatsapp {
                tasks.push(tokio::spawn(whatsapp.run(until(stopped.clone()))));
            }
        }
        RunningChannels { stop, tasks }
    }
}

/// Completes when `stopped` turns true (or its sender is gone).
async fn until(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// The channels' running tasks.
pub struct RunningChannels {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// How long a channel may take to finish the message it is handling.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

impl RunningChannels {
    /// Tells every channel to stop after the message it is handling, and
    /// waits for them (at most [`STOP_GRACE`]).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
                tracing::warn!("a channel did not finish its message in time; stopped");
                abort.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(public_url: &str) -> LoadedConfig {
        let text = format!("[edge]\npublic_url = \"{public_url}\"\n");
        LoadedConfig::parse(&text, std::path::Path::new("/nonexistent/hardshell.toml"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn telegrams_webhook_is_registered_only_at_an_https_public_url() {
        let url = telegram_webhook_url(&loaded("https://agent.example.com"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url.as_str(), "https://agent.example.com/hooks/telegram");
        let refused = telegram_webhook_url(&loaded("http://localhost:8787"));
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("https")),
            "{refused:?}"
        );
    }
}
