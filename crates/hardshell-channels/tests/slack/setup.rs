//! A Slack dispatcher over a test store, with a scripted agent that counts
//! its turns (as `dispatch/tests.rs` has it).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
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
/// The id of the question [`ScriptedAgent`] asks.
pub const APPROVAL: &str = "00112233445566778899aabbccddeeff";
/// What a turn asking the question says once it is answered.
pub const RAN: &str = "the command ran";

/// Answers every turn with [`AGENT_REPLY`], but a turn whose text asks
/// to clean up, which asks the owner first and waits for the answer, as
/// the edge's agent does.
#[derive(Default)]
pub struct ScriptedAgent {
    pub turns: AtomicU32,
    /// The texts of the turns, in order.
    pub texts: Mutex<Vec<String>>,
    /// (subject, session, approval, approve) of every answer taken.
    pub answers: Mutex<Vec<(String, String, String, bool)>>,
    answered: Arc<tokio::sync::Notify>,
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
        let asks = text.contains("clean up");
        self.texts.lock().unwrap().push(text);
        if asks {
            let answered = self.answered.clone();
            let question = ChatEvent::Approval {
                command: "make clean <!channel>".into(),
                id: APPROVAL.into(),
                reason: None,
            };
            // The turn goes on only once the question is answered; a
            // press queued behind it would never come.
            let after = async move {
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(30), answered.notified())
                        .await;
                futures::stream::iter([
                    ChatEvent::Delta { text: RAN.into() },
                    ChatEvent::Done {
                        usage: Default::default(),
                    },
                ])
            };
            let events =
                futures::stream::iter([question]).chain(futures::stream::once(after).flatten());
            return async move { Ok(events.boxed()) }.boxed();
        }
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

    fn answer(
        &self,
        subject: &str,
        session: &str,
        approval: &str,
        approve: bool,
    ) -> Result<(), String> {
        let mut answers = self.answers.lock().unwrap();
        // A question is answered once, as the edge's are.
        if approval != APPROVAL || !answers.is_empty() {
            return Err("no such question".into());
        }
        answers.push((subject.into(), session.into(), approval.into(), approve));
        self.answered.notify_one();
        Ok(())
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
        let agent = Arc::new(ScriptedAgent::default());
        let mut setup = Setup {
            _store: store,
            pairings,
            agent,
            dispatcher: None,
        };
        setup.dispatcher = Some(setup.another_dispatcher(groups).await);
        setup
    }

    /// A dispatcher on the same store, pairings and agent: a restarted
    /// channel's, allowing `groups`.
    pub async fn another_dispatcher(&self, groups: &[&str]) -> Dispatcher {
        let store = &self._store;
        let conversations = Conversations::new(store.scope("channels/conversations"));
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
        Dispatcher::new(
            rules,
            self.pairings.clone(),
            conversations,
            self.agent.clone(),
            audit,
        )
    }

    pub fn dispatcher(&mut self) -> Dispatcher {
        self.dispatcher.take().unwrap()
    }

    /// How many messages the channel holds spooled.
    pub async fn spooled(&self) -> usize {
        let spool = self._store.scope("channels/slack/spool");
        spool.list().await.unwrap().len()
    }

    /// The channel's own scope of the store, where it spools.
    pub fn state(&self) -> hardshell_storage::Scope {
        self._store.scope("channels/slack")
    }

    pub async fn pair(&self, id: &str) {
        self.pair_as(id, ChannelRole::Guest).await;
    }

    pub async fn pair_as(&self, id: &str, role: ChannelRole) {
        let sender = Sender::parse(Platform::Slack, id).unwrap();
        self.pairings
            .add(&sender, role, chrono::Utc::now())
            .await
            .unwrap();
    }

    pub fn answers(&self) -> Vec<(String, String, String, bool)> {
        self.agent.answers.lock().unwrap().clone()
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
