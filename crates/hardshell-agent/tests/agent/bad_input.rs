//! Bad input from the model and the user: each case ends the turn with a clear
//! message and an outcome to audit, never a panic or a hang, and leaves history
//! the next turn can use.

use std::time::Duration;

use hardshell_agent::{AgentConfig, ModelError, TurnEnd, TurnEvent, TurnFailure, TurnRefusal};
use hardshell_llm::{ChatEvent, Content, Message, Role, StopReason};

use crate::support::{Fixture, Script, failure_message, session, text_reply, tool_reply};

/// The `(is_error, content)` of the results the model was sent last.
fn last_results(fixture: &Fixture) -> Vec<(bool, String)> {
    let request = fixture.model.requests().pop().unwrap();
    let last = request.messages.last().unwrap();
    assert_eq!(last.role, Role::Tool);
    last.content
        .iter()
        .map(|part| match part {
            Content::ToolResult {
                is_error, content, ..
            } => (*is_error, content.clone()),
            other => panic!("{other:?}"),
        })
        .collect()
}

async fn stored_roles(fixture: &Fixture, id: &hardshell_agent::SessionId) -> Vec<Role> {
    let stored = fixture.sessions.history(id, 100).await.unwrap();
    stored.iter().map(|m| m.message.role).collect()
}

#[tokio::test]
async fn an_unknown_tool_is_reported_to_the_model_once() {
    let fixture = Fixture::new(vec![
        tool_reply(&[("c1", "launch_rockets", "{}")]),
        text_reply("I cannot do that."),
    ])
    .await;
    let (outcome, events) = fixture.turn(&session("web-u1"), "launch").await;
    assert_eq!(outcome.end, TurnEnd::Completed);
    assert!(events.contains(&TurnEvent::ToolFinished {
        name: "launch_rockets".into(),
        ok: false
    }));
    let results = last_results(&fixture);
    assert!(results[0].0);
    assert!(results[0].1.contains("no tool named"), "{results:?}");
}

#[tokio::test]
async fn an_unknown_tool_called_again_ends_the_turn() {
    let long_name = "x".repeat(500);
    let fixture = Fixture::new(vec![
        tool_reply(&[("c1", "launch_rockets", "{}")]),
        tool_reply(&[("c2", &long_name, "{}")]),
        text_reply("never asked for"),
    ])
    .await;
    let id = session("web-u2");
    let (outcome, events) = fixture.turn(&id, "launch").await;
    let TurnEnd::Failed(TurnFailure::UnknownTool { name }) = &outcome.end else {
        panic!("{outcome:#?}")
    };
    assert_eq!(name.chars().count(), 64);
    assert!(
        failure_message(&events)
            .unwrap()
            .contains("tool that does not exist")
    );
    assert!(events.iter().all(|e| match e {
        TurnEvent::ToolStarted { name } => name.len() <= 64,
        _ => true,
    }));
    assert_eq!(fixture.model.requests().len(), 2);
    // Every call stored has its result, so the next turn starts clean.
    assert_eq!(
        stored_roles(&fixture, &id).await,
        [
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Assistant,
            Role::Tool
        ]
    );
}

#[tokio::test]
async fn invalid_json_arguments_are_reported_to_the_model_once() {
    let fixture = Fixture::new(vec![
        tool_reply(&[("c1", "memory_search", r#"{"query": "unterminated"#)]),
        text_reply("Sorry."),
    ])
    .await;
    let (outcome, _) = fixture.turn(&session("web-j1"), "search").await;
    assert_eq!(outcome.end, TurnEnd::Completed);
    let results = last_results(&fixture);
    assert!(results[0].0);
    assert!(results[0].1.contains("not a JSON object"), "{results:?}");
}

#[tokio::test]
async fn invalid_arguments_again_end_the_turn() {
    let fixture = Fixture::new(vec![
        tool_reply(&[("c1", "memory_search", "[1, 2]")]),
        // Valid JSON, wrong shape: the tool itself refuses it.
        tool_reply(&[("c2", "memory_search", r#"{"q": "typo"}"#)]),
    ])
    .await;
    let (outcome, events) = fixture.turn(&session("web-j2"), "search").await;
    assert_eq!(
        outcome.end,
        TurnEnd::Failed(TurnFailure::InvalidArguments {
            tool: "memory_search".into()
        })
    );
    assert!(
        failure_message(&events)
            .unwrap()
            .contains("malformed arguments")
    );
}

#[tokio::test]
async fn a_model_looping_on_tool_calls_hits_the_step_limit() {
    let config = AgentConfig {
        max_steps: 3,
        ..AgentConfig::default()
    };
    let scripts = (0..10)
        .map(|n| tool_reply(&[(&format!("c{n}"), "current_time", "{}")]))
        .collect();
    let fixture = Fixture::with_config(scripts, config).await;
    let (outcome, events) = fixture.turn(&session("web-loop"), "time?").await;
    assert_eq!(
        outcome.end,
        TurnEnd::Failed(TurnFailure::StepLimit { steps: 3 })
    );
    assert_eq!(outcome.steps, 3);
    assert_eq!(outcome.tool_calls.len(), 3);
    assert_eq!(fixture.model.requests().len(), 3);
    assert!(
        failure_message(&events)
            .unwrap()
            .contains("more than 3 steps")
    );
}

#[tokio::test]
async fn too_many_calls_in_one_reply_are_not_run() {
    let config = AgentConfig {
        max_calls_per_step: 2,
        ..AgentConfig::default()
    };
    let calls: Vec<(String, &str, &str)> = (0..4)
        .map(|n| (format!("c{n}"), "current_time", "{}"))
        .collect();
    let calls: Vec<(&str, &str, &str)> =
        calls.iter().map(|(a, b, c)| (a.as_str(), *b, *c)).collect();
    let fixture = Fixture::with_config(vec![tool_reply(&calls), text_reply("ok")], config).await;
    let (outcome, _) = fixture.turn(&session("web-many"), "time?").await;
    assert_eq!(outcome.end, TurnEnd::Completed);
    let results = last_results(&fixture);
    let errors: Vec<bool> = results.iter().map(|(e, _)| *e).collect();
    assert_eq!(errors, [false, false, true, true]);
    assert!(results[3].1.contains("at most 2 tool calls"));
}

#[tokio::test]
async fn a_model_stream_error_ends_the_turn_with_the_models_message() {
    let fixture = Fixture::new(vec![Script::Events(vec![
        Ok(ChatEvent::TextDelta {
            text: "Half a sen".into(),
        }),
        // Transient, but text already reached the client: no silent retry.
        Err(ModelError::transient(
            "The model provider dropped the connection.",
        )),
    ])])
    .await;
    let id = session("web-err");
    let (outcome, events) = fixture.turn(&id, "hi").await;
    assert_eq!(
        outcome.end,
        TurnEnd::Failed(TurnFailure::Model {
            message: "The model provider dropped the connection.".into()
        })
    );
    assert_eq!(
        failure_message(&events),
        Some("The model provider dropped the connection.")
    );
    assert_eq!(fixture.model.requests().len(), 1);
    // The half reply is not stored as if it were an answer.
    assert_eq!(stored_roles(&fixture, &id).await, [Role::User]);
}

#[tokio::test]
async fn a_model_that_refuses_to_start_ends_the_turn() {
    let fixture = Fixture::new(vec![Script::Refuse(ModelError::fatal(
        "The monthly model budget is spent.",
    ))])
    .await;
    let (outcome, events) = fixture.turn(&session("web-budget"), "hi").await;
    assert!(matches!(
        outcome.end,
        TurnEnd::Failed(TurnFailure::Model { .. })
    ));
    assert_eq!(
        failure_message(&events),
        Some("The monthly model budget is spent.")
    );
    assert_eq!(fixture.model.requests().len(), 1);
}

#[tokio::test]
async fn a_truncated_model_stream_ends_the_turn() {
    let fixture = Fixture::new(vec![Script::Events(vec![
        Ok(ChatEvent::TextDelta {
            text: "I was about to".into(),
        }),
        Ok(ChatEvent::ToolCall {
            id: "c1".into(),
            name: "current_time".into(),
            arguments: "{}".into(),
        }),
    ])])
    .await;
    let id = session("web-trunc");
    let (outcome, events) = fixture.turn(&id, "hi").await;
    assert_eq!(outcome.end, TurnEnd::Failed(TurnFailure::Truncated));
    assert!(failure_message(&events).unwrap().contains("cut off"));
    // The call of a truncated reply is never run.
    assert!(outcome.tool_calls.is_empty());
    assert_eq!(stored_roles(&fixture, &id).await, [Role::User]);
}

#[tokio::test]
async fn an_oversized_user_message_is_refused_before_anything_is_stored() {
    let fixture = Fixture::new(vec![text_reply("never")]).await;
    let id = session("web-big");
    let (outcome, events) = fixture.turn(&id, &"x".repeat(32 * 1024 + 1)).await;
    assert_eq!(
        outcome.end,
        TurnEnd::Refused(TurnRefusal::MessageTooLarge {
            bytes: 32 * 1024 + 1,
            limit: 32 * 1024
        })
    );
    assert_eq!(outcome.user_seq, None);
    assert_eq!(events.len(), 1);
    assert!(
        failure_message(&events)
            .unwrap()
            .contains("the limit is 32768")
    );
    assert!(fixture.model.requests().is_empty());
    assert!(fixture.sessions.list().await.unwrap().is_empty());
    // Exactly at the limit is accepted.
    let (at_limit, _) = fixture.turn(&id, &"x".repeat(32 * 1024)).await;
    assert_eq!(at_limit.end, TurnEnd::Completed);
}

#[tokio::test]
async fn an_empty_user_message_is_refused() {
    let fixture = Fixture::new(vec![]).await;
    let (outcome, _) = fixture.turn(&session("web-empty"), " \n\t").await;
    assert_eq!(outcome.end, TurnEnd::Refused(TurnRefusal::EmptyMessage));
    assert!(fixture.sessions.list().await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_model_that_never_answers_hits_the_turn_timeout() {
    let fixture = Fixture::new(vec![Script::Hang]).await;
    let id = session("web-hang");
    let started = tokio::time::Instant::now();
    let (outcome, events) = fixture.turn(&id, "hello?").await;
    assert_eq!(
        outcome.end,
        TurnEnd::Failed(TurnFailure::TimedOut { limit_secs: 120 })
    );
    assert_eq!(started.elapsed(), Duration::from_secs(120));
    // The message was acknowledged before the wait, and stays stored.
    assert_eq!(events[0], TurnEvent::Accepted { seq: 0 });
    assert_eq!(outcome.user_seq, Some(0));
    assert!(failure_message(&events).unwrap().contains("120 seconds"));
    assert_eq!(stored_roles(&fixture, &id).await, [Role::User]);
}

#[tokio::test(start_paused = true)]
async fn a_tool_that_never_returns_hits_the_timeout_and_the_next_turn_recovers() {
    let fixture = Fixture::new(vec![
        tool_reply(&[("c1", "sleep", "{}")]),
        text_reply("Back again."),
    ])
    .await;
    let id = session("web-stuck");
    let (outcome, events) = fixture.turn(&id, "nap").await;
    assert!(matches!(
        outcome.end,
        TurnEnd::Failed(TurnFailure::TimedOut { .. })
    ));
    assert!(events.contains(&TurnEvent::ToolStarted {
        name: "sleep".into()
    }));
    let (next, _) = fixture.turn(&id, "are you there?").await;
    assert_eq!(next.end, TurnEnd::Completed);
    let request = fixture.model.requests().pop().unwrap();
    assert_eq!(
        request.messages.iter().map(|m| m.role).collect::<Vec<_>>(),
        [Role::User, Role::Assistant, Role::Tool, Role::User]
    );
    assert!(matches!(
        &request.messages[2].content[0],
        Content::ToolResult { call_id, is_error: true, .. } if call_id == "c1"
    ));
}

#[tokio::test]
async fn a_reply_with_nothing_in_it_completes_without_storing_anything() {
    let fixture = Fixture::new(vec![Script::Events(vec![Ok(ChatEvent::Finished {
        reason: StopReason::EndTurn,
    })])])
    .await;
    let id = session("web-silent");
    let (outcome, _) = fixture.turn(&id, "hi").await;
    assert_eq!(outcome.end, TurnEnd::Completed);
    let stored = fixture.sessions.history(&id, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].message, Message::user("hi"));
}

#[tokio::test]
async fn a_user_message_that_cannot_be_stored_ends_the_turn_and_nothing_of_the_reply_is_sent() {
    // The model answers at once, while the message is being stored; the
    // store fails (a directory where the session's log goes).
    let fixture = Fixture::new(vec![text_reply("You should not see this")]).await;
    let id = session("web-unstored");
    let log = fixture
        .store
        .objects()
        .join(".logs/agent/sessions/web-unstored/log");
    std::fs::create_dir_all(&log).unwrap();
    let (outcome, events) = fixture.turn(&id, "hello").await;
    assert!(
        matches!(
            outcome.end,
            TurnEnd::Failed(TurnFailure::StoreMessage { .. })
        ),
        "{:?}",
        outcome.end
    );
    assert_eq!(outcome.user_seq, None);
    // No `Accepted`, no text: only the failure.
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(failure_message(&events).is_some(), "{events:?}");
    std::fs::remove_dir_all(&log).unwrap();
    assert!(stored_roles(&fixture, &id).await.is_empty());
}
