//! What each Discord test needs: a dispatcher whose agent answers a fixed
//! text and counts its turns, the channel started against crabline, and a
//! way to stop it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use hardshell_audit::{AuditLog, AuditOptions, LogId};
use hardshell_channels::conversations::Conversations;
use hardshell_channels::discord::DiscordChannel;
use hardshell_channels::{
    Agent, ChannelRole, ChannelRules, Dispatcher, Pairings, Platform, Sender, Unpaired,
};
use hardshell_config::{ApiRoot, Discord};
use hardshell_protocol::chat::ChatEvent;
use hardshell_secrets::SecretValue;
use hardshell_testkit::TestStore;
use hardshell_testkit::crabline::Crabline;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::relay::Relay;

/// The guild channel crabline's fixture guild has.
pub const GUILD: &str = "135000000000000011";
pub const GUILD_CHANNEL: &str = "135000000000000010";
pub const PERSON: &str = "135000000000000555";
pub const DM: &str = "135000000000000020";

pub struct ScriptedAgent {
    pub turns: AtomicU32,
    pub reply: String,
    /// A turn whose text starts with "slow" waits until this is `true`.
    pub open: watch::Sender<bool>,
}

impl Agent for ScriptedAgent {
    fn new_session(&self, channel: &str, subject: &str) -> String {
        format!("{channel}-{subject}")
    }

    fn send(
        &self,
        _subject: &str,
        _session: &str,
        text: String,
        _request_id: String,
    ) -> BoxFuture<'_, Result<BoxStream<'static, ChatEvent>, String>> {
        self.turns.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.subscribe();
        let held = text.starts_with("slow");
        let events = vec![
            ChatEvent::Accepted { seq: 0 },
            ChatEvent::Delta {
                text: self.reply.clone(),
            },
            ChatEvent::Done {
                usage: Default::default(),
            },
        ];
        async move {
            if held {
                let _ = open.wait_for(|open| *open).await;
            }
            Ok(futures::StreamExt::boxed(futures::stream::iter(events)))
        }
        .boxed()
    }
}

pub fn secret(text: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}

pub fn person() -> Sender {
    Sender::parse(Platform::Discord, PERSON).unwrap()
}

pub struct Bot {
    pub crabline: Crabline,
    pub relay: Relay,
    pub agent: Arc<ScriptedAgent>,
    pub pairings: Pairings,
    _store: TestStore,
    stop: Option<oneshot::Sender<()>>,
    running: Option<JoinHandle<()>>,
}

pub async fn dispatcher(reply: &str) -> (TestStore, Dispatcher, Arc<ScriptedAgent>, Pairings) {
    let agent = Arc::new(ScriptedAgent {
        turns: AtomicU32::new(0),
        reply: reply.to_owned(),
        open: watch::channel(false).0,
    });
    let (store, dispatcher, pairings) = dispatcher_with(agent.clone()).await;
    (store, dispatcher, agent, pairings)
}

/// A dispatcher whose turns `agent` runs.
pub async fn dispatcher_with(agent: Arc<dyn Agent>) -> (TestStore, Dispatcher, Pairings) {
    let store = TestStore::new().await;
    let pairings = Pairings::new(store.scope("channels/pairing"));
    let audit = AuditLog::open(
        &store.scope("audit"),
        &LogId::new("discord-test").unwrap(),
        AuditOptions::default(),
    )
    .await
    .unwrap();
    let rules = ChannelRules {
        platform: Platform::Discord,
        allow: Vec::new(),
        groups: vec![GUILD_CHANNEL.to_owned()],
        unpaired: Unpaired::Code,
    };
    let dispatcher = Dispatcher::new(
        rules,
        pairings.clone(),
        Conversations::new(store.scope("channels/conversations")),
        agent,
        Arc::new(audit),
    );
    (store, dispatcher, pairings)
}

pub fn config(crabline: &Crabline) -> Discord {
    Discord {
        enabled: true,
        api_root: ApiRoot::parse(&format!("{}/api/v10", crabline.base_url())).unwrap(),
        ..Discord::default()
    }
}

impl Bot {
    /// crabline, and the channel connected to its gateway (identified).
    pub async fn start(reply: &str) -> Bot {
        Self::start_logged(reply, &String::new).await
    }

    /// [`Bot::start`], whose failure also shows `logs()` (what a test
    /// captured from `tracing`).
    pub async fn start_logged(reply: &str, logs: &dyn Fn() -> String) -> Bot {
        let crabline = Crabline::start("discord");
        let (store, dispatcher, agent, pairings) = dispatcher(reply).await;
        let token = secret(crabline.bot_token());
        let gateway = crabline.manifest()["endpoints"]["gatewayUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        let relay = Relay::start(&gateway).await;
        let channel = DiscordChannel::new(
            &config(&crabline),
            token,
            dispatcher,
            store.scope("channels/discord"),
        )
        .unwrap()
        .on_local_gateway(&relay.url)
        .unwrap();
        let (stop, stopped) = oneshot::channel();
        let running = tokio::spawn(channel.run(stopped.map(drop)));
        let bot = Bot {
            crabline,
            relay,
            agent,
            pairings,
            _store: store,
            stop: Some(stop),
            running: Some(running),
        };
        if let Err(e) = bot
            .relay
            .wait_dispatched("READY", 1, Duration::from_secs(30))
            .await
        {
            panic!(
                "the channel was not identified: {e}\ncrabline: {}\nlogs: {}",
                bot.crabline.logs(),
                logs()
            );
        }
        bot
    }

    pub async fn pair(&self) {
        self.pairings
            .add(&person(), ChannelRole::Guest, chrono::Utc::now())
            .await
            .unwrap();
    }

    pub fn turns(&self) -> u32 {
        self.agent.turns.load(Ordering::SeqCst)
    }

    /// Stops the channel and waits for it to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            running.await.unwrap();
        }
    }
}
