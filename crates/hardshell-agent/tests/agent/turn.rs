//! Turns that go well: streaming, tool use, persistence and resumption, history
//! bounds, retries, and turns of one session taking turns.

use hardshell_agent::{AgentConfig, ModelError, TurnEnd, TurnEvent};
use hardshell_llm::{ChatEvent, Content, Message, Role, StopReason, Usage};

use crate::support::{
    AgentScope, Fixture, Script, ScriptedModel, key, session, text_reply, tool_reply,
};

fn roles(messages: &[Message]) -> Vec<Role> {
    messages.iter().map(|m| m.role).collect()
}

#[tokio::test]
async fn a_plain_reply_streams_to_the_client_and_is_stored() {
    let fixture = Fixture::new(vec![text_reply("Hello there")]).await;
    let id = session("web-plain");
    let (outcome, events) = fixture.turn(&id, "hi").await;
    assert_eq!(
        events,
        [
            TurnEvent::Accepted { seq: 0 },
            TurnEvent::TextDelta {
                text: "Hello".into()
            },
            TurnEvent::TextDelta {
                text: " there".into()
            },
            TurnEvent::Done {
                usage: Usage {
                    input_tokens: 10,
                    output_tokens: 5
                }
            },
        ]
    );
    assert_eq!(outcome.end, TurnEnd::Completed);
    assert_eq!((outcome.user_seq, outcome.steps), (Some(0), 1));
    let stored = fixture.sessions.history(&id, 10).await.unwrap();
    let stored: Vec<Message> = stored.into_iter().map(|m| m.message).collect();
    assert_eq!(
        stored,
        [Message::user("hi"), Message::assistant("Hello there")]
    );
    let request = &fixture.model.requests()[0];
    assert_eq!(request.messages, [Message::user("hi")]);
    let names: Vec<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["current_time", "memory_save", "memory_search", "sleep"]
    );
    let system = request.system.as_deref().unwrap();
    assert!(system.contains("2026-06-01T12:00:00+02:00"), "{system}");
}

#[tokio::test]
async fn tool_results_go_back_to_the_model_and_everything_is_stored() {
    let fixture = Fixture::new(vec![
        tool_reply(&[("call-1", "current_time", "{}")]),
        text_reply("It is noon."),
    ])
    .await;
    let id = session("web-tools");
    let (outcome, events) = fixture.turn(&id, "what time is it?").await;
    assert_eq!(outcome.end, TurnEnd::Completed);
    assert_eq!(outcome.steps, 2);
    assert_eq!(outcome.tool_calls.len(), 1);
    assert!(outcome.tool_calls[0].ok);
    assert_eq!(
        outcome.usage,
        Usage {
            input_tokens: 17,
            output_tokens: 8
        }
    );
    assert!(events.contains(&TurnEvent::ToolStarted {
        name: "current_time".into()
    }));
    assert!(events.contains(&TurnEvent::ToolFinished {
        name: "current_time".into(),
        ok: true
    }));
    let second = &fixture.model.requests()[1];
    assert_eq!(
        roles(&second.messages),
        [Role::User, Role::Assistant, Role::Tool]
    );
    let Content::ToolResult {
        call_id,
        content,
        is_error,
    } = &second.messages[2].content[0]
    else {
        panic!("{second:#?}")
    };
    assert_eq!((call_id.as_str(), *is_error), ("call-1", false));
    assert!(content.contains("2026-06-01T12:00:00+02:00"), "{content}");
    let stored = fixture.sessions.history(&id, 10).await.unwrap();
    let stored: Vec<Message> = stored.into_iter().map(|m| m.message).collect();
    assert_eq!(
        roles(&stored),
        [Role::User, Role::Assistant, Role::Tool, Role::Assistant]
    );
}

#[tokio::test]
async fn a_restarted_agent_resumes_the_conversation() {
    let mut fixture = Fixture::new(vec![text_reply("Nice to meet you, Ada.")]).await;
    let id = session("telegram-99");
    fixture.turn(&id, "my name is Ada").await;
    fixture
        .restart(ScriptedModel::new(vec![text_reply("You are Ada.")]))
        .await;
    let (outcome, _) = fixture.turn(&id, "who am I?").await;
    assert_eq!(outcome.user_seq, Some(2));
    let request = &fixture.model.requests()[0];
    assert_eq!(
        request.messages,
        [
            Message::user("my name is Ada"),
            Message::assistant("Nice to meet you, Ada."),
            Message::user("who am I?"),
        ]
    );
}

#[tokio::test]
async fn a_tool_call_interrupted_by_a_crash_is_answered_on_resume() {
    let fixture = Fixture::new(vec![text_reply("Sorry, let me try again.")]).await;
    let id = session("web-crash");
    // What a crash between storing a call and storing its result leaves behind.
    fixture
        .sessions
        .append(&id, &Message::user("save my note"))
        .await
        .unwrap();
    let call = Message {
        role: Role::Assistant,
        content: vec![Content::ToolCall {
            id: "c1".into(),
            name: "memory_save".into(),
            arguments: "{}".into(),
        }],
    };
    fixture.sessions.append(&id, &call).await.unwrap();
    let (outcome, _) = fixture.turn(&id, "did it work?").await;
    assert_eq!(outcome.end, TurnEnd::Completed);
    let request = &fixture.model.requests()[0];
    assert_eq!(
        roles(&request.messages),
        [Role::User, Role::Assistant, Role::Tool, Role::User]
    );
    assert!(matches!(
        &request.messages[2].content[0],
        Content::ToolResult { call_id, is_error: true, .. } if call_id == "c1"
    ));
}

#[tokio::test]
async fn history_sent_to_the_model_is_bounded() {
    let config = AgentConfig {
        history_messages: 3,
        ..AgentConfig::default()
    };
    let scripts = (0..6).map(|n| text_reply(&format!("reply {n}"))).collect();
    let fixture = Fixture::with_config(scripts, config).await;
    let id = session("web-long");
    for n in 0..6 {
        fixture.turn(&id, &format!("message {n}")).await;
    }
    let last = fixture.model.requests().pop().unwrap();
    // Three earlier messages allowed, but the window starts at a user message.
    assert_eq!(
        last.messages,
        [
            Message::user("message 4"),
            Message::assistant("reply 4"),
            Message::user("message 5"),
        ]
    );
}

#[tokio::test]
async fn a_transient_model_failure_is_retried_once() {
    let fixture = Fixture::new(vec![
        Script::Refuse(ModelError::transient("provider overloaded")),
        text_reply("made it"),
    ])
    .await;
    let (outcome, events) = fixture.turn(&session("web-retry"), "hi").await;
    assert_eq!(outcome.end, TurnEnd::Completed);
    assert_eq!(outcome.steps, 1);
    assert_eq!(fixture.model.requests().len(), 2);
    assert!(matches!(events.last(), Some(TurnEvent::Done { .. })));
}

#[tokio::test]
async fn a_reply_stopped_by_max_tokens_is_kept() {
    let fixture = Fixture::new(vec![Script::Events(vec![
        Ok(ChatEvent::TextDelta {
            text: "A long answ".into(),
        }),
        Ok(ChatEvent::Finished {
            reason: StopReason::MaxTokens,
        }),
    ])])
    .await;
    let id = session("web-max");
    let (outcome, _) = fixture.turn(&id, "tell me everything").await;
    assert_eq!(outcome.end, TurnEnd::Completed);
    let stored = fixture.sessions.history(&id, 10).await.unwrap();
    assert_eq!(stored[1].message, Message::assistant("A long answ"));
}

#[tokio::test]
async fn turns_of_one_session_do_not_interleave() {
    let fixture = Fixture::new(vec![
        tool_reply(&[("s", "sleep", r#"{"ms":50}"#)]),
        text_reply("first done"),
        text_reply("second done"),
    ])
    .await;
    let id = session("web-both");
    let mut first_events = Vec::new();
    let mut second_events = Vec::new();
    let (first, second) =
        tokio::join!(fixture.agent.turn(&id, "first", &mut first_events), async {
            // Start while the first turn is inside its tool call.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            fixture.agent.turn(&id, "second", &mut second_events).await
        });
    assert_eq!(
        (first.end, second.end),
        (TurnEnd::Completed, TurnEnd::Completed)
    );
    let stored = fixture.sessions.history(&id, 10).await.unwrap();
    let texts: Vec<(Role, String)> = stored
        .iter()
        .map(|m| (m.message.role, m.message.text()))
        .collect();
    assert_eq!(
        texts,
        [
            (Role::User, "first".into()),
            (Role::Assistant, String::new()),
            (Role::Tool, String::new()),
            (Role::Assistant, "first done".into()),
            (Role::User, "second".into()),
            (Role::Assistant, "second done".into()),
        ]
    );
}

#[tokio::test]
async fn the_model_can_save_and_find_memory_within_a_conversation() {
    let fixture = Fixture::new(vec![
        tool_reply(&[(
            "c1",
            "memory_save",
            r#"{"title":"Allergies","body":"Allergic to peanuts."}"#,
        )]),
        text_reply("Saved."),
        tool_reply(&[("c2", "memory_search", r#"{"query":"peanuts"}"#)]),
        text_reply("You are allergic to peanuts."),
    ])
    .await;
    let id = session("web-mem");
    fixture.turn(&id, "remember I'm allergic to peanuts").await;
    let (outcome, _) = fixture.turn(&id, "what am I allergic to?").await;
    assert_eq!(outcome.end, TurnEnd::Completed);
    let stored = fixture
        .store
        .agent_scope()
        .await
        .get(&key("memory/notes/allergies.md"))
        .await
        .unwrap();
    assert!(stored.is_some());
    let search = &fixture.model.requests()[3];
    let Some(Content::ToolResult { content, .. }) = search.messages.last().unwrap().content.first()
    else {
        panic!("{search:#?}")
    };
    let results: serde_json::Value = serde_json::from_str(content).unwrap();
    assert_eq!(
        results["results"][0]["source"]["slug"], "allergies",
        "{content}"
    );
}

#[tokio::test]
async fn a_channel_guests_prompt_leaves_out_what_is_about_the_owner() {
    let fixture = Fixture::new(vec![text_reply("hi"), text_reply("hi")]).await;
    for (name, text) in [
        ("SOUL.md", "Be kind."),
        ("USER.md", "The owner is Ada, born 1815."),
        ("MEMORY.md", "Ada's door code is 2468."),
    ] {
        std::fs::write(fixture.workspace.path().join(name), text).unwrap();
    }
    let guest = hardshell_protocol::subject_tag("telegram:555");
    fixture
        .turn(&session(&format!("telegram-{guest}-01")), "hello")
        .await;
    let owner = hardshell_protocol::subject_tag("owner");
    fixture
        .turn(&session(&format!("telegram-{owner}-01")), "hello")
        .await;
    let requests = fixture.model.requests();
    let guests = requests[0].system.as_deref().unwrap();
    assert!(guests.contains("Be kind."), "{guests}");
    assert!(!guests.contains("Ada"), "{guests}");
    let owners = requests[1].system.as_deref().unwrap();
    assert!(
        owners.contains("born 1815") && owners.contains("2468"),
        "{owners}"
    );
}
