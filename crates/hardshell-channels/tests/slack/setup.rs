//! A Slack dispatcher over a test store, with a scripted agent that counts
//! its turns (as `dispatch/tests.rs` has it).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use hardshell_audit::{AuditLog, AuditOptions, LogId};
use hardshell_channels::conversations::Conversations;
use hardshell_channels::dispatch::{ChannelRules, Dispatcher, Unpaired};
use hardshell_channels::pairing::Pairings;
use hardshell_channels::{Agent, ChannelRole, Platform, Sender};
use hardshell_protocol::chat::ChatEvent;
use hardshell_secrets::SecretValue;
use hardshell_testkit::TestStore;
use zeroize::Zeroizing;

pub const AGENT_REPLY: &str = "hello from the agent";

#[derive(Default)]
pub struct ScriptedAgent {
    pub turns: AtomicU32,
    /// The texts of the turns, in order.
    pub texts: Mutex<Vec<String>>,
}

impl Agent for ScriptedAgent {
    fn new_session(&self, channel: &str, subject: &str) -> String {
        format!("{channel}-{subject}-{}", self.turns.load(Ordering::SeqCst))
    }

    fn send(
        &self,
        _subject: &str,
        _session: &str,
        text: String,
        _request_id: String,
    ) -> BoxFuture<'_, Result<BoxStream<'static, ChatEvent>, String>> {
        self.turns.fetch_add(1, Ordering::SeqCst);
        self.texts.lock().unwrap().push(text);
        let events = vec![
            ChatEvent::Accepted { seq: 0 },
            ChatEvent::Delta {
                text: AGENT_REPLY.into(),
            },
            ChatEvent::Done {
                usage: Default::default(),
            },
        ];
        async move { Ok(futures::StreamExt::boxed(futures::stream::iter(events))) }.boxed()
    }
}

pub struct Setup {
    _store: TestStore,
    pub pairings: Pairings,
    pub agent: Arc<ScriptedAgent>,
    pub dispatcher: Option<Dispatcher>,
}

impl Setup {
    pub async fn new(groups: &[&str]) -> Setup {
        let store = TestStore::new().await;
        let pairings = Pairings::new(store.scope("channels/pairing"));
        let conversations = Conversations::new(store.scope("channels/conversations"));
        let agent = Arc::new(ScriptedAgent::default());
        let audit = Arc::new(
            AuditLog::open(
                &store.scope("audit"),
                &LogId::new("slack-test").unwrap(),
                AuditOptions::default(),
            )
            .await
            .unwrap(),
        );
        let rules = ChannelRules {
            platform: Platform::Slack,
            allow: Vec::new(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            unpaired: Unpaired::Code,
        };
        let dispatcher =
            Dispatcher::new(rules, pairings.clone(), conversations, agent.clone(), audit);
        Setup {
            _store: store,
            pairings,
            agent,
            dispatcher: Some(dispatcher),
        }
    }

    pub fn dispatcher(&mut self) -> Dispatcher {
        self.dispatcher.take().unwrap()
    }

    pub async fn pair(&self, id: &str) {
        let sender = Sender::parse(Platform::Slack, id).unwrap();
        self.pairings
            .add(&sender, ChannelRole::Guest, chrono::Utc::now())
            .await
            .unwrap();
    }

    pub fn texts(&self) -> Vec<String> {
        self.agent.texts.lock().unwrap().clone()
    }

    pub fn turns(&self) -> u32 {
        self.agent.turns.load(Ordering::SeqCst)
    }
}

pub fn secret(text: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}
