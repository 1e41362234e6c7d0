//! Running the tool calls of one reply, and deciding when a model's malformed
//! calls have gone on long enough to end the turn.

use hardshell_llm::Content;

use super::reply::Call;
use super::{Agent, Progress, ToolCallRecord, TurnEvent, TurnFailure, TurnSink};
use crate::tool::DispatchError;
use crate::{ToolContext, ToolError};

/// Longest tool name repeated in events and records; a model may invent any text.
const MAX_NAME_CHARS: usize = 64;

/// Malformed calls of the turn: the first step with one is answered with an error
/// result so the model can correct itself; a second step with the same kind of
/// mistake ends the turn.
#[derive(Debug, Default)]
pub(super) struct Strikes {
    unknown_tool: Strike,
    invalid_arguments: Strike,
}

#[derive(Debug, Default)]
struct Strike {
    steps: u32,
    /// Set during the current step: the tool name of its first such mistake.
    this_step: Option<String>,
}

impl Strike {
    fn record(&mut self, name: &str) {
        self.this_step.get_or_insert_with(|| name.to_owned());
    }

    /// Ends the step; returns the offending name once the mistake has persisted.
    fn close_step(&mut self) -> Option<String> {
        let name = self.this_step.take()?;
        self.steps += 1;
        (self.steps >= 2).then_some(name)
    }
}

impl Strikes {
    /// Closes the current step: `Err` once a mistake has been repeated.
    pub fn check(&mut self) -> Result<(), TurnFailure> {
        let unknown = self.unknown_tool.close_step();
        let invalid = self.invalid_arguments.close_step();
        if let Some(name) = unknown {
            return Err(TurnFailure::UnknownTool { name });
        }
        if let Some(tool) = invalid {
            return Err(TurnFailure::InvalidArguments { tool });
        }
        Ok(())
    }
}

/// Gives every call an id: providers need one to pair the result with the call,
/// and a model may leave it empty or repeat one.
pub(super) fn with_ids(calls: Vec<Call>, step: u32) -> Vec<Call> {
    let mut seen = std::collections::BTreeSet::new();
    calls
        .into_iter()
        .enumerate()
        .map(|(index, mut call)| {
            if call.id.is_empty() || !seen.insert(call.id.clone()) {
                call.id = format!("hs-call-{step}-{index}");
                seen.insert(call.id.clone());
            }
            call
        })
        .collect()
}

/// Runs `calls` one after another and returns their results, in order.
pub(super) async fn run_calls(
    agent: &Agent,
    calls: &[Call],
    cx: &ToolContext,
    strikes: &mut Strikes,
    progress: &mut Progress,
    sink: &mut dyn TurnSink,
) -> Vec<Content> {
    let mut results = Vec::with_capacity(calls.len());
    for (index, call) in calls.iter().enumerate() {
        let name: String = call.name.chars().take(MAX_NAME_CHARS).collect();
        sink.emit(TurnEvent::ToolStarted { name: name.clone() });
        let outcome = if index >= agent.config.max_calls_per_step {
            Err(format!(
                "not run: at most {} tool calls are run per reply",
                agent.config.max_calls_per_step
            ))
        } else {
            match dispatch_relaying_notices(agent, call, cx, sink).await {
                Ok(output) => Ok(cap(output.content, agent.config.max_tool_output_bytes)),
                Err(e) => {
                    match &e {
                        DispatchError::UnknownTool { .. } => strikes.unknown_tool.record(&name),
                        DispatchError::InvalidJson { .. }
                        | DispatchError::Tool(ToolError::InvalidArguments { .. }) => {
                            strikes.invalid_arguments.record(&name);
                        }
                        DispatchError::Tool(_) => {}
                    }
                    let logged = match &e {
                        DispatchError::Tool(error) => error.logged(),
                        other => other.to_string(),
                    };
                    tracing::info!(tool = %name, error = %logged, "tool call failed");
                    Err(cap(e.to_string(), agent.config.max_tool_output_bytes))
                }
            }
        };
        let ok = outcome.is_ok();
        sink.emit(TurnEvent::ToolFinished {
            name: name.clone(),
            ok,
        });
        progress.tool_calls.push(ToolCallRecord { name, ok });
        let (content, is_error) = match outcome {
            Ok(content) => (content, false),
            Err(content) => (content, true),
        };
        results.push(Content::ToolResult {
            call_id: call.id.clone(),
            content,
            is_error,
        });
    }
    results
}

/// Runs one call, passing what the tool tells the client on as it happens.
async fn dispatch_relaying_notices(
    agent: &Agent,
    call: &Call,
    cx: &ToolContext,
    sink: &mut dyn TurnSink,
) -> Result<crate::ToolOutput, DispatchError> {
    let (notices, mut received) = tokio::sync::mpsc::unbounded_channel();
    let cx = cx.with_notices(notices);
    let dispatch = agent.tools.dispatch(&call.name, &call.arguments, &cx);
    tokio::pin!(dispatch);
    loop {
        tokio::select! {
            result = &mut dispatch => {
                while let Ok(notice) = received.try_recv() {
                    sink.emit(notice.into());
                }
                return result;
            }
            Some(notice) = received.recv() => sink.emit(notice.into()),
        }
    }
}

impl From<crate::tool::Notice> for TurnEvent {
    fn from(notice: crate::tool::Notice) -> Self {
        match notice {
            crate::tool::Notice::ApprovalRequested { id, command } => {
                TurnEvent::ApprovalRequested { id, command }
            }
            crate::tool::Notice::ApprovalResolved { id, approved } => {
                TurnEvent::ApprovalResolved { id, approved }
            }
        }
    }
}

/// `text` cut to at most `limit` bytes at a character boundary, saying so.
fn cap(mut text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(&format!(
        "\n[…cut: the output was longer than {limit} bytes]"
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> Call {
        Call {
            id: id.into(),
            name: "t".into(),
            arguments: "{}".into(),
        }
    }

    #[test]
    fn missing_and_repeated_call_ids_are_replaced() {
        let ids: Vec<String> = with_ids(vec![call("a"), call(""), call("a")], 3)
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["a", "hs-call-3-1", "hs-call-3-2"]);
    }

    #[test]
    fn a_mistake_is_forgiven_once_per_kind() {
        let mut strikes = Strikes::default();
        strikes.unknown_tool.record("nope");
        strikes.unknown_tool.record("other");
        assert_eq!(strikes.check(), Ok(()));
        strikes.invalid_arguments.record("echo");
        assert_eq!(strikes.check(), Ok(()));
        assert_eq!(strikes.check(), Ok(()));
        strikes.unknown_tool.record("again");
        assert_eq!(
            strikes.check(),
            Err(TurnFailure::UnknownTool {
                name: "again".into()
            })
        );
    }

    #[test]
    fn long_output_is_cut_at_a_character_boundary() {
        let cut = cap("ééé".into(), 3);
        assert!(cut.starts_with("é\n[…cut"), "{cut}");
        assert_eq!(cap("short".into(), 10), "short");
    }
}
