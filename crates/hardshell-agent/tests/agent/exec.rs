//! The `exec` tool from the agent's side: it only asks, shows the client the
//! owner's question while it waits, and reports the edge's answer to the
//! model. The edge's decisions and the shell are tested where they live.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use hardshell_agent::builtin::{self, CommandRunner, Exec};
use hardshell_agent::protocol::{ExecAnswer, ExecReport, ExecRequest, ExecSettings};
use hardshell_agent::{
    Agent, AgentConfig, AgentParts, Clock, FixedClock, Memory, OwnerTimeZone, SessionStore,
    ToolError, ToolRegistry, TurnEvent, Workspace,
};
use hardshell_llm::{Content, Role};

use crate::support::{AgentScope, ScriptedModel, TestStore, at, session, text_reply, tool_reply};

/// Answers from a queue, and records what it was asked.
#[derive(Debug, Clone, Default)]
struct ScriptedRunner {
    answers: Arc<Mutex<VecDeque<ExecAnswer>>>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl ScriptedRunner {
    fn new(answers: Vec<ExecAnswer>) -> Self {
        Self {
            answers: Arc::new(Mutex::new(answers.into())),
            asked: Arc::default(),
        }
    }

    fn next(&self, what: String) -> Result<ExecAnswer, ToolError> {
        self.asked.lock().unwrap().push(what);
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .ok_or_else(|| ToolError::failed("no answer scripted"))
    }
}

impl CommandRunner for ScriptedRunner {
    async fn request(&self, request: &ExecRequest) -> Result<ExecAnswer, ToolError> {
        self.next(format!("run {} {}", request.session, request.command))
    }

    async fn wait(&self, approval: &str) -> Result<ExecAnswer, ToolError> {
        self.next(format!("wait {approval}"))
    }
}

fn ran(stdout: &str) -> ExecAnswer {
    ExecAnswer::Ran {
        report: ExecReport {
            exit_code: Some(0),
            ended: hardshell_agent::protocol::ExecEnd::Exited,
            pids_limit_hit: false,
            stdout: stdout.into(),
            stderr: String::new(),
            truncated: false,
            duration_ms: 4,
        },
    }
}

async fn agent(store: &TestStore, model: ScriptedModel, runner: ScriptedRunner) -> Agent {
    let scope = store.agent_scope().await;
    let clock: Arc<dyn Clock> = Arc::new(FixedClock(at()));
    let sessions = SessionStore::new(scope.clone(), clock.clone());
    let memory = Memory::new(scope, sessions.clone(), clock.clone());
    let mut tools = ToolRegistry::new();
    builtin::register_builtin_tools(&mut tools, &memory, clock.clone(), OwnerTimeZone::utc())
        .unwrap();
    let settings = ExecSettings {
        asks: true,
        allow: vec!["ls".into()],
        timeout_secs: 60,
        egress: Vec::new(),
        tls_hosts: Vec::new(),
        secrets: Vec::new(),
    };
    tools.register(Exec::new(runner, settings)).unwrap();
    Agent::new(AgentParts {
        model,
        tools,
        sessions,
        workspace: Workspace::new(store.dir().join("workspace")),
        clock,
        time_zone: OwnerTimeZone::utc(),
        config: AgentConfig::default(),
    })
}

/// The text of the tool result the model got back in its second request.
fn tool_result(model: &ScriptedModel) -> (String, bool) {
    let second = &model.requests()[1];
    let message = second
        .messages
        .iter()
        .find(|m| m.role == Role::Tool)
        .unwrap();
    match &message.content[0] {
        Content::ToolResult {
            content, is_error, ..
        } => (content.clone(), *is_error),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_owners_question_reaches_the_client_while_the_command_waits() {
    let store = TestStore::new().await;
    let model = ScriptedModel::new(vec![
        tool_reply(&[("c1", "exec", r#"{"command":"make test"}"#)]),
        text_reply("Tests pass."),
    ]);
    let runner = ScriptedRunner::new(vec![
        ExecAnswer::Pending {
            approval: "a1".into(),
        },
        ran("ok 12 tests\n"),
    ]);
    let agent = agent(&store, model.clone(), runner.clone()).await;
    let id = session("web-exec");
    let mut events = Vec::new();
    agent.turn(&id, "run the tests", &mut events).await;

    assert_eq!(
        *runner.asked.lock().unwrap(),
        ["run web-exec make test", "wait a1"]
    );
    let started = events
        .iter()
        .position(|e| matches!(e, TurnEvent::ToolStarted { name } if name == "exec"))
        .unwrap();
    let asked = events
        .iter()
        .position(|e| {
            *e == TurnEvent::ApprovalRequested {
                id: "a1".into(),
                command: "make test".into(),
            }
        })
        .unwrap();
    let resolved = events
        .iter()
        .position(|e| {
            *e == TurnEvent::ApprovalResolved {
                id: "a1".into(),
                approved: true,
            }
        })
        .unwrap();
    let finished = events
        .iter()
        .position(|e| matches!(e, TurnEvent::ToolFinished { ok: true, .. }))
        .unwrap();
    assert!(
        started < asked && asked < resolved && resolved < finished,
        "{events:#?}"
    );
    let (content, is_error) = tool_result(&model);
    assert!(!is_error);
    let result: serde_json::Value = serde_json::from_str(&content).unwrap();
    assert_eq!(result["exit_code"], 0);
    assert_eq!(result["stdout"], "ok 12 tests\n");
}

#[tokio::test]
async fn a_refusal_goes_back_to_the_model_as_a_failed_call() {
    let store = TestStore::new().await;
    let model = ScriptedModel::new(vec![
        tool_reply(&[("c1", "exec", r#"{"command":"curl x"}"#)]),
        text_reply("I may not."),
    ]);
    let runner = ScriptedRunner::new(vec![
        ExecAnswer::Pending {
            approval: "a2".into(),
        },
        ExecAnswer::Refused {
            reason: "the owner refused to run it".into(),
        },
    ]);
    let agent = agent(&store, model.clone(), runner).await;
    let mut events = Vec::new();
    agent
        .turn(&session("web-exec"), "fetch x", &mut events)
        .await;
    assert!(events.contains(&TurnEvent::ApprovalResolved {
        id: "a2".into(),
        approved: false
    }));
    assert!(events.contains(&TurnEvent::ToolFinished {
        name: "exec".into(),
        ok: false
    }));
    let (content, is_error) = tool_result(&model);
    assert!(is_error);
    assert!(content.contains("the owner refused to run it"), "{content}");
}

#[tokio::test]
async fn empty_and_oversized_commands_never_reach_the_edge() {
    let store = TestStore::new().await;
    let long = "x".repeat(builtin::MAX_COMMAND_BYTES + 1);
    for command in [String::from("   "), long] {
        let arguments = serde_json::json!({ "command": command }).to_string();
        let model = ScriptedModel::new(vec![
            tool_reply(&[("c1", "exec", &arguments)]),
            text_reply("ok"),
        ]);
        let runner = ScriptedRunner::default();
        let agent = agent(&store, model.clone(), runner.clone()).await;
        let mut events = Vec::new();
        agent.turn(&session("web-exec"), "go", &mut events).await;
        assert!(runner.asked.lock().unwrap().is_empty());
        let (_, is_error) = tool_result(&model);
        assert!(is_error);
    }
}

#[test]
fn the_model_is_told_how_to_reach_tls_routes_and_which_placeholders_it_may_use() {
    use hardshell_agent::Tool as _;
    let mut settings = ExecSettings {
        asks: false,
        allow: vec!["curl".into()],
        timeout_secs: 60,
        egress: Vec::new(),
        tls_hosts: Vec::new(),
        secrets: Vec::new(),
    };
    let closed = Exec::new(ScriptedRunner::new(Vec::new()), settings.clone()).spec();
    assert!(
        closed.description.contains("No network."),
        "{}",
        closed.description
    );

    settings.egress = vec!["api.github.com".into(), "pypi.org".into()];
    settings.tls_hosts = vec!["api.github.com".into()];
    settings.secrets = vec![hardshell_agent::protocol::SecretHint {
        name: "GITHUB_TOKEN".into(),
        hosts: vec!["api.github.com".into()],
        header: Some("authorization".into()),
    }];
    let open = Exec::new(ScriptedRunner::new(Vec::new()), settings).spec();
    let text = &open.description;
    assert!(
        text.contains("to these hosts: api.github.com, pypi.org."),
        "{text}"
    );
    assert!(
        text.contains("Call api.github.com with http:// URLs"),
        "{text}"
    );
    assert!(
        text.contains("hs-secret:NAME")
            && text.contains("GITHUB_TOKEN (api.github.com, in the authorization header only)"),
        "{text}"
    );
}
