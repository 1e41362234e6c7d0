//! The WhatsApp channel against crabline (the platforms' local emulator) for
//! the Graph API it emulates, with deliveries in the exact shape crabline's
//! admin inbound gives (the Business webhook payload), signed here with the
//! app secret as Meta signs them (crabline does not sign WhatsApp
//! deliveries); a fake answering as Meta documents for a rate limit, and one
//! for the media crabline does not serve (`whatsapp/graph.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "whatsapp/api.rs"]
mod api;
#[path = "whatsapp/files.rs"]
mod files;
#[path = "whatsapp/graph.rs"]
mod graph;
#[path = "whatsapp/lanes.rs"]
mod lanes;
#[path = "whatsapp/media.rs"]
mod media;
#[path = "whatsapp/webhook.rs"]
mod webhook;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use chrono::Utc;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use hardshell_audit::{AuditLog, AuditOptions, LogId};
use hardshell_channels::conversations::Conversations;
use hardshell_channels::whatsapp::api::WhatsappApi;
use hardshell_channels::whatsapp::{self, WhatsappSecrets, WhatsappWebhook};
use hardshell_channels::{
    Agent, ChannelRole, ChannelRules, Dispatcher, Pairings, Platform, Sender, Unpaired,
};
use hardshell_config::{ApiRoot, PhoneNumberId};
use hardshell_protocol::chat::ChatEvent;
use hardshell_secrets::SecretValue;
use hardshell_testkit::TestStore;
use hardshell_testkit::crabline::Crabline;
use serde_json::{Value, json};
use zeroize::Zeroizing;

pub const APP_SECRET: &str = "test-app-secret-0123456789";
pub const VERIFY_TOKEN: &str = "test-verify-token";
/// The user writing to the bot, a `wa_id`.
pub const USER: &str = "15551234567";

pub fn secret(text: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}

pub fn access_token(crabline: &Crabline) -> &str {
    crabline.manifest()["accessToken"].as_str().unwrap()
}

pub fn phone_number_id(crabline: &Crabline) -> PhoneNumberId {
    PhoneNumberId::parse(crabline.manifest()["phoneNumberId"].as_str().unwrap()).unwrap()
}

pub fn api_root(crabline: &Crabline) -> ApiRoot {
    ApiRoot::parse(
        crabline.manifest()["endpoints"]["apiRoot"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

pub fn client_with(crabline: &Crabline, token: &str) -> WhatsappApi {
    WhatsappApi::new(
        &api_root(crabline),
        &phone_number_id(crabline),
        secret(token),
    )
    .unwrap()
}

/// A user's message through crabline's admin inbound; the Business webhook
/// payload it answers with.
pub fn user_writes(crabline: &Crabline, text: &str) -> Value {
    let jid = format!("{USER}@s.whatsapp.net");
    let answer = crabline.inject(json!({"chatId": jid, "from": jid, "text": text}));
    answer["webhook"].clone()
}

/// `sha256=<hex>` of `body` under `key`, as Meta's `X-Hub-Signature-256`.
pub fn sign(body: &[u8], key: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
    format!("sha256={}", hex::encode(hmac::sign(&key, body)))
}

/// The texts the bot sent (not its read receipts), in order.
pub fn texts_sent(crabline: &Crabline) -> Vec<Value> {
    crabline
        .sent("messages")
        .into_iter()
        .filter(|body| body["type"] == "text")
        .collect()
}

pub async fn wait_texts(crabline: &Crabline, count: usize) -> Vec<Value> {
    // A bound on waiting for the worker, not an assertion about its speed.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let texts = texts_sent(crabline);
        if texts.len() >= count {
            return texts;
        }
        assert!(
            std::time::Instant::now() < until,
            "crabline recorded {} of {count} texts: {:?}",
            texts.len(),
            crabline.recorded()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// An agent that answers every turn with "echo: <text>", counts them, and
/// records the texts it was sent and the files deposited for it. With a
/// `hold`, a turn whose text starts with "slow" waits until it opens.
#[derive(Debug, Default)]
pub struct EchoAgent {
    pub hold: Option<tokio::sync::watch::Receiver<bool>>,
    pub turns: AtomicU32,
    pub texts: Mutex<Vec<String>>,
    /// `(session, name, bytes)` of each file saved.
    pub deposited: Mutex<Vec<(String, String, Vec<u8>)>>,
}

impl Agent for EchoAgent {
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
        self.texts.lock().unwrap().push(text.clone());
        let hold = self.hold.clone().filter(|_| text.starts_with("slow"));
        let events = vec![
            ChatEvent::Accepted { seq: 0 },
            ChatEvent::Delta {
                text: format!("echo: {text}"),
            },
            ChatEvent::Done {
                usage: Default::default(),
            },
        ];
        async move {
            if let Some(mut hold) = hold {
                let _ = hold.wait_for(|open| *open).await;
            }
            Ok(futures::StreamExt::boxed(futures::stream::iter(events)))
        }
        .boxed()
    }

    fn deposit(
        &self,
        _subject: &str,
        session: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> BoxFuture<'_, Result<String, String>> {
        let path = format!("/workspace/inbox/{name}");
        self.deposited
            .lock()
            .unwrap()
            .push((session.to_owned(), name.to_owned(), bytes));
        async move { Ok(path) }.boxed()
    }
}

/// The channel on crabline, its worker running, `USER` paired as the owner
/// when `paired`.
#[allow(missing_debug_implementations)]
pub struct Channel {
    pub crabline: Crabline,
    pub webhook: Arc<WhatsappWebhook>,
    pub agent: Arc<EchoAgent>,
    pub pairings: Pairings,
    _store: TestStore,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Channel {
    pub async fn start(paired: bool) -> Channel {
        Channel::on(Crabline::start("whatsapp"), paired, None).await
    }

    /// The channel for `crabline`'s number, calling the Graph API at
    /// `api_root` (crabline's own when `None`).
    pub async fn on(crabline: Crabline, paired: bool, api_root: Option<ApiRoot>) -> Channel {
        let store = TestStore::new().await;
        let pairings = Pairings::new(store.scope("channels/pairing"));
        if paired {
            let user = Sender::parse(Platform::Whatsapp, USER).unwrap();
            pairings
                .add(&user, ChannelRole::Owner, Utc::now())
                .await
                .unwrap();
        }
        let agent = Arc::new(EchoAgent::default());
        let dispatcher = dispatcher(&store, Platform::Whatsapp, agent.clone(), &pairings).await;
        let config = hardshell_config::Whatsapp {
            enabled: true,
            phone_number_id: Some(phone_number_id(&crabline)),
            api_root: api_root.unwrap_or_else(|| self::api_root(&crabline)),
            ..Default::default()
        };
        let secrets = WhatsappSecrets {
            access_token: secret(access_token(&crabline)),
            app_secret: secret(APP_SECRET),
            verify_token: secret(VERIFY_TOKEN),
        };
        let (webhook, worker) = whatsapp::channel(
            &config,
            secrets,
            dispatcher,
            store.scope("channels/whatsapp"),
        )
        .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(worker.run(async move {
            let _ = stopped.await;
        }));
        Channel {
            crabline,
            webhook,
            agent,
            pairings,
            _store: store,
            stop: Mutex::new(Some(stop)),
        }
    }

    pub fn turns(&self) -> u32 {
        self.agent.turns.load(Ordering::SeqCst)
    }
}

/// The dispatch of `platform`, on `store`, answering with `agent`.
pub async fn dispatcher(
    store: &TestStore,
    platform: Platform,
    agent: Arc<EchoAgent>,
    pairings: &Pairings,
) -> Dispatcher {
    let audit = AuditLog::open(
        &store.scope("audit"),
        &LogId::new("whatsapp-test").unwrap(),
        AuditOptions::default(),
    )
    .await
    .unwrap();
    let rules = ChannelRules {
        platform,
        allow: Vec::new(),
        groups: Vec::new(),
        unpaired: Unpaired::Code,
    };
    Dispatcher::new(
        rules,
        pairings.clone(),
        Conversations::new(store.scope("channels/conversations")),
        agent,
        Arc::new(audit),
    )
}

impl Drop for Channel {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
    }
}
