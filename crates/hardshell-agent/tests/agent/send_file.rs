//! The `send_file` tool from the agent's side: it names a file of the
//! workspace, the edge decides and reads it, and the model is told what came
//! of it. What the edge refuses on disk is tested where the reading lives
//! (`hardshell-shells`, `hardshell-edge`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use hardshell_agent::builtin::{self, FileSender, SendFile};
use hardshell_agent::protocol::{SendFileAnswer, SendFileRequest};
use hardshell_agent::{
    Agent, AgentConfig, AgentParts, Clock, FixedClock, Memory, OwnerTimeZone, SessionStore,
    ToolError, ToolRegistry, TurnEvent, Workspace,
};
use hardshell_llm::{Content, Role};

use crate::support::{AgentScope, ScriptedModel, TestStore, at, session, text_reply, tool_reply};

/// Answers from a queue, and records what it was asked.
#[derive(Debug, Clone, Default)]
struct ScriptedSender {
    answers: Arc<Mutex<VecDeque<SendFileAnswer>>>,
    asked: Arc<Mutex<Vec<SendFileRequest>>>,
}

impl FileSender for ScriptedSender {
    async fn send(&self, request: &SendFileRequest) -> Result<SendFileAnswer, ToolError> {
        self.asked.lock().unwrap().push(request.clone());
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .ok_or_else(|| ToolError::failed("no answer scripted"))
    }
}

async fn agent(store: &TestStore, model: ScriptedModel, sender: ScriptedSender) -> Agent {
    let scope = store.agent_scope().await;
    let clock: Arc<dyn Clock> = Arc::new(FixedClock(at()));
    let sessions = SessionStore::new(scope.clone(), clock.clone());
    let memory = Memory::new(scope, sessions.clone(), clock.clone());
    let mut tools = ToolRegistry::new();
    builtin::register_builtin_tools(&mut tools, &memory, clock.clone(), OwnerTimeZone::utc())
        .unwrap();
    tools.register(SendFile::new(sender)).unwrap();
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

/// The tool result the model got back in its second request.
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

async fn one_call(arguments: &str, answers: Vec<SendFileAnswer>) -> (ScriptedSender, String, bool) {
    let store = TestStore::new().await;
    let model = ScriptedModel::new(vec![
        tool_reply(&[("c1", "send_file", arguments)]),
        text_reply("Done."),
    ]);
    let sender = ScriptedSender {
        answers: Arc::new(Mutex::new(answers.into())),
        ..ScriptedSender::default()
    };
    let agent = agent(&store, model.clone(), sender.clone()).await;
    let mut events = Vec::new();
    agent
        .turn(&session("web-files"), "send me the report", &mut events)
        .await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TurnEvent::ToolStarted { name } if name == "send_file")),
        "{events:#?}"
    );
    let (content, is_error) = tool_result(&model);
    (sender, content, is_error)
}

#[tokio::test]
async fn a_shared_file_is_asked_for_in_the_turns_session_and_the_model_told_its_name() {
    let shared = SendFileAnswer::Shared {
        name: "report.pdf".into(),
        size: 1234,
    };
    let (sender, content, is_error) =
        one_call(r#"{"path":"/workspace/out/report.pdf"}"#, vec![shared]).await;
    assert_eq!(
        *sender.asked.lock().unwrap(),
        [SendFileRequest {
            session: "web-files".into(),
            path: "/workspace/out/report.pdf".into(),
        }]
    );
    assert!(!is_error, "{content}");
    let result: serde_json::Value = serde_json::from_str(&content).unwrap();
    assert_eq!(result["shared"], "report.pdf");
    assert_eq!(result["size"], 1234);
}

#[tokio::test]
async fn a_refusal_goes_back_to_the_model_as_a_failed_call() {
    let refused = SendFileAnswer::Refused {
        reason: "\"/workspace/pw\" is or goes through a symbolic link".into(),
    };
    let (_, content, is_error) = one_call(r#"{"path":"/workspace/pw"}"#, vec![refused]).await;
    assert!(is_error);
    assert!(content.contains("not shared"), "{content}");
    assert!(content.contains("symbolic link"), "{content}");
}

#[tokio::test]
async fn a_path_outside_the_workspace_is_refused_before_the_edge_is_asked() {
    let long = format!(r#"{{"path":"/workspace/{}"}}"#, "a".repeat(5000));
    for arguments in [
        r#"{"path":"/etc/passwd"}"#,
        r#"{"path":"report.pdf"}"#,
        r#"{"path":"/workspace/"}"#,
        r#"{"path":"/workspaces/x"}"#,
        long.as_str(),
    ] {
        let (sender, content, is_error) = one_call(arguments, Vec::new()).await;
        assert!(is_error, "{arguments}: {content}");
        assert!(sender.asked.lock().unwrap().is_empty(), "{arguments}");
    }
}
