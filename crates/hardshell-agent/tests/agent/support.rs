//! A real local object store in a temporary directory, a scripted model that
//! replays queued replies and records the requests it got, and an agent wired to
//! both.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hardshell_agent::{
    Agent, AgentConfig, AgentParts, ChatStream, Clock, FixedClock, Memory, Model, ModelError,
    OwnerTimeZone, Scope, SessionId, SessionStore, Tool, ToolContext, ToolError, ToolOutput,
    ToolRegistry, TurnEvent, TurnOutcome, Workspace, builtin,
};
use hardshell_llm::{ChatEvent, ChatRequest, StopReason, ToolSpec, Usage};
use hardshell_storage::ObjectKey;
pub use hardshell_testkit::TestStore;

pub fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T10:00:00Z")
        .unwrap()
        .to_utc()
}

pub fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}

pub fn session(text: &str) -> SessionId {
    SessionId::parse(text).unwrap()
}

/// The agent's scope of a test store.
pub trait AgentScope {
    /// `agent/`, in the store opened afresh, as a restarted process would.
    async fn agent_scope(&self) -> Scope;
}

impl AgentScope for TestStore {
    async fn agent_scope(&self) -> Scope {
        self.reopen().await.root().scope(&key("agent")).unwrap()
    }
}

/// What the scripted model does when asked.
pub enum Script {
    /// Streams these events, then ends.
    Events(Vec<Result<ChatEvent, ModelError>>),
    /// Refuses to start a reply.
    Refuse(ModelError),
    /// Starts a reply that never sends anything.
    Hang,
}

/// Replays queued scripts in order; asked with none left, it refuses.
#[derive(Clone, Default)]
pub struct ScriptedModel {
    scripts: Arc<Mutex<VecDeque<Script>>>,
    requests: Arc<Mutex<Vec<ChatRequest>>>,
}

impl ScriptedModel {
    pub fn new(scripts: Vec<Script>) -> Self {
        Self {
            scripts: Arc::new(Mutex::new(scripts.into())),
            requests: Arc::default(),
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Model for ScriptedModel {
    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, ModelError> {
        self.requests.lock().unwrap().push(request);
        let script = self.scripts.lock().unwrap().pop_front();
        match script {
            Some(Script::Events(events)) => Ok(Box::pin(futures::stream::iter(events))),
            Some(Script::Refuse(error)) => Err(error),
            Some(Script::Hang) => Ok(Box::pin(futures::stream::pending())),
            None => Err(ModelError::fatal("the script is exhausted")),
        }
    }
}

/// A complete text reply, sent in two deltas, with usage.
pub fn text_reply(text: &str) -> Script {
    let (first, second) = text.split_at(text.len() / 2);
    Script::Events(vec![
        Ok(ChatEvent::TextDelta {
            text: first.to_owned(),
        }),
        Ok(ChatEvent::TextDelta {
            text: second.to_owned(),
        }),
        Ok(ChatEvent::Usage {
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
            },
        }),
        Ok(ChatEvent::Finished {
            reason: StopReason::EndTurn,
        }),
    ])
}

/// A reply that calls tools: `(id, name, arguments)`.
pub fn tool_reply(calls: &[(&str, &str, &str)]) -> Script {
    let mut events: Vec<Result<ChatEvent, ModelError>> = calls
        .iter()
        .map(|(id, name, arguments)| {
            Ok(ChatEvent::ToolCall {
                id: (*id).to_owned(),
                name: (*name).to_owned(),
                arguments: (*arguments).to_owned(),
            })
        })
        .collect();
    events.push(Ok(ChatEvent::Usage {
        usage: Usage {
            input_tokens: 7,
            output_tokens: 3,
        },
    }));
    events.push(Ok(ChatEvent::Finished {
        reason: StopReason::ToolUse,
    }));
    Script::Events(events)
}

/// A tool that sleeps for its `ms` argument (forever when absent), then answers.
pub struct Sleep;

impl Tool for Sleep {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "sleep".into(),
            description: "sleeps".into(),
            parameters: serde_json::json!({"type": "object"}),
        }
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        _cx: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        match arguments.get("ms").and_then(|ms| ms.as_u64()) {
            Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            None => futures::future::pending::<()>().await,
        }
        Ok(ToolOutput::text("slept"))
    }
}

/// An agent over a test store, with the built-in tools and `sleep`.
pub struct Fixture {
    pub store: TestStore,
    pub model: ScriptedModel,
    pub agent: Agent,
    pub sessions: SessionStore,
    pub memory: Memory,
    pub workspace: tempfile::TempDir,
}

impl Fixture {
    pub async fn new(scripts: Vec<Script>) -> Self {
        Self::with_config(scripts, AgentConfig::default()).await
    }

    pub async fn with_config(scripts: Vec<Script>, config: AgentConfig) -> Self {
        let store = TestStore::new().await;
        let workspace = tempfile::tempdir().unwrap();
        let model = ScriptedModel::new(scripts);
        let (agent, sessions, memory) =
            build_agent(&store, model.clone(), workspace.path().into(), config).await;
        Self {
            store,
            model,
            agent,
            sessions,
            memory,
            workspace,
        }
    }

    /// A new agent over the same storage and workspace, as after a restart.
    pub async fn restart(&mut self, model: ScriptedModel) {
        let (agent, sessions, memory) = build_agent(
            &self.store,
            model.clone(),
            self.workspace.path().into(),
            self.agent.config().clone(),
        )
        .await;
        self.agent = agent;
        self.sessions = sessions;
        self.memory = memory;
        self.model = model;
    }

    pub async fn turn(&self, id: &SessionId, text: &str) -> (TurnOutcome, Vec<TurnEvent>) {
        let mut events = Vec::new();
        let outcome = self.agent.turn(id, text, &mut events).await;
        assert_one_terminal_event_last(&events);
        (outcome, events)
    }
}

async fn build_agent(
    store: &TestStore,
    model: ScriptedModel,
    workspace: PathBuf,
    config: AgentConfig,
) -> (Agent, SessionStore, Memory) {
    let scope = store.agent_scope().await;
    let clock: Arc<dyn Clock> = Arc::new(FixedClock(at()));
    let zone = OwnerTimeZone::new(Some("Europe/Berlin"), Some("+02:00")).unwrap();
    let sessions = SessionStore::new(scope.clone(), clock.clone());
    let memory = Memory::new(scope, sessions.clone(), clock.clone());
    let mut tools = ToolRegistry::new();
    builtin::register_builtin_tools(&mut tools, &memory, clock.clone(), zone.clone()).unwrap();
    tools.register(Sleep).unwrap();
    let agent = Agent::new(AgentParts {
        model,
        tools,
        sessions: sessions.clone(),
        workspace: Workspace::new(workspace),
        clock,
        time_zone: zone,
        config,
    });
    (agent, sessions, memory)
}

/// Every turn ends with exactly one `Done` or `Failed`, and nothing after it.
pub fn assert_one_terminal_event_last(events: &[TurnEvent]) {
    let terminal = |e: &TurnEvent| matches!(e, TurnEvent::Done { .. } | TurnEvent::Failed { .. });
    assert_eq!(
        events.iter().filter(|e| terminal(e)).count(),
        1,
        "{events:#?}"
    );
    assert!(terminal(events.last().unwrap()), "{events:#?}");
}

/// The text of the `Failed` event, if the turn failed.
pub fn failure_message(events: &[TurnEvent]) -> Option<&str> {
    events.iter().find_map(|e| match e {
        TurnEvent::Failed { message } => Some(message.as_str()),
        _ => None,
    })
}
