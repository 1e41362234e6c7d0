//! The part of a conversation sent to the model: stored history made well-formed
//! again after an interruption, then bounded by a message count and a character
//! budget without ever separating a tool call from its result.

use std::collections::BTreeSet;

use hardshell_llm::{Content, Message, Role};

/// The result recorded for a call whose run never finished (the process stopped,
/// the turn timed out); providers refuse a call without a result.
const INTERRUPTED: &str =
    "the tool run was interrupted before it finished; it may or may not have taken effect";

/// Makes stored history well-formed: every assistant tool call is answered by a
/// result in the message right after it (an interrupted call gets an error result),
/// and results that answer no call are dropped.
pub(crate) fn repair(messages: Vec<Message>) -> Vec<Message> {
    let mut repaired: Vec<Message> = Vec::with_capacity(messages.len());
    let mut pending: Vec<String> = Vec::new();
    for message in messages {
        if message.role == Role::Tool {
            let mut answered: Vec<Content> = Vec::new();
            for part in message.content {
                if let Content::ToolResult { call_id, .. } = &part
                    && let Some(at) = pending.iter().position(|id| id == call_id)
                {
                    pending.remove(at);
                    answered.push(part);
                }
            }
            if !answered.is_empty() || !pending.is_empty() {
                answered.extend(pending.drain(..).map(interrupted));
                repaired.push(Message {
                    role: Role::Tool,
                    content: answered,
                });
            }
            continue;
        }
        if !pending.is_empty() {
            repaired.push(Message {
                role: Role::Tool,
                content: pending.drain(..).map(interrupted).collect(),
            });
        }
        if message.role == Role::Assistant {
            pending = call_ids(&message);
        }
        repaired.push(message);
    }
    if !pending.is_empty() {
        repaired.push(Message {
            role: Role::Tool,
            content: pending.drain(..).map(interrupted).collect(),
        });
    }
    repaired
}

fn interrupted(call_id: String) -> Content {
    Content::ToolResult {
        call_id,
        content: INTERRUPTED.to_owned(),
        is_error: true,
    }
}

fn call_ids(message: &Message) -> Vec<String> {
    let mut seen = BTreeSet::new();
    message
        .content
        .iter()
        .filter_map(|part| match part {
            Content::ToolCall { id, .. } if seen.insert(id.clone()) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

/// Characters a message costs against the budget.
pub(crate) fn chars(message: &Message) -> usize {
    message
        .content
        .iter()
        .map(|part| match part {
            Content::Text { text } => text.len(),
            Content::ToolCall {
                name, arguments, ..
            } => name.len() + arguments.len(),
            Content::ToolResult { content, .. } => content.len(),
        })
        .sum()
}

/// The messages to send: all of the current `turn`, preceded by as much of the
/// `earlier` (repaired) history as fits in `max_messages` and `max_chars` in
/// total. An assistant message and the tool results after it go in or stay out
/// together, and the window starts at a user message, as providers expect.
pub(crate) fn window(
    earlier: &[Message],
    turn: &[Message],
    max_messages: usize,
    max_chars: usize,
) -> Vec<Message> {
    let mut messages_left = max_messages.saturating_sub(turn.len());
    let mut chars_left = max_chars.saturating_sub(turn.iter().map(chars).sum());
    // Walk back over units: a message, plus the tool results that answer it.
    let mut start = earlier.len();
    let mut unit_end = earlier.len();
    while unit_end > 0 {
        let mut unit_start = unit_end - 1;
        while unit_start > 0 && earlier[unit_start].role == Role::Tool {
            unit_start -= 1;
        }
        let unit = &earlier[unit_start..unit_end];
        let cost: usize = unit.iter().map(chars).sum();
        if unit.len() > messages_left || cost > chars_left {
            break;
        }
        messages_left -= unit.len();
        chars_left -= cost;
        start = unit_start;
        unit_end = unit_start;
    }
    let kept = &earlier[start..];
    let first_user = kept
        .iter()
        .position(|m| m.role == Role::User)
        .unwrap_or(kept.len());
    kept[first_user..].iter().chain(turn).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> Message {
        Message {
            role: Role::Assistant,
            content: vec![Content::ToolCall {
                id: id.into(),
                name: "t".into(),
                arguments: "{}".into(),
            }],
        }
    }

    fn result(id: &str) -> Message {
        Message {
            role: Role::Tool,
            content: vec![Content::ToolResult {
                call_id: id.into(),
                content: "ok".into(),
                is_error: false,
            }],
        }
    }

    fn result_ids(message: &Message) -> Vec<(&str, bool)> {
        message
            .content
            .iter()
            .filter_map(|p| match p {
                Content::ToolResult {
                    call_id, is_error, ..
                } => Some((call_id.as_str(), *is_error)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn well_formed_history_is_unchanged() {
        let history = vec![
            Message::user("hi"),
            call("a"),
            result("a"),
            Message::assistant("done"),
        ];
        assert_eq!(repair(history.clone()), history);
    }

    #[test]
    fn interrupted_calls_get_error_results() {
        let history = vec![Message::user("hi"), call("a"), Message::user("again")];
        let repaired = repair(history);
        assert_eq!(repaired.len(), 4);
        assert_eq!(result_ids(&repaired[2]), [("a", true)]);
        let at_end = repair(vec![Message::user("hi"), call("b")]);
        assert_eq!(result_ids(&at_end[2]), [("b", true)]);
    }

    #[test]
    fn orphan_results_are_dropped() {
        let history = vec![result("x"), Message::user("hi"), call("a"), result("b")];
        let repaired = repair(history);
        assert_eq!(repaired[0], Message::user("hi"));
        assert_eq!(result_ids(&repaired[2]), [("a", true)]);
        assert_eq!(repaired.len(), 3);
    }

    #[test]
    fn window_keeps_tool_pairs_together_and_starts_at_a_user_message() {
        let earlier = vec![
            Message::user("one"),
            Message::assistant("two"),
            Message::user("three"),
            call("a"),
            result("a"),
            Message::assistant("four"),
        ];
        let turn = [Message::user("now")];
        // Room for 3 earlier messages: "four" and the call/result pair, but the
        // window must start at a user message, so those are dropped too...
        let window3 = window(&earlier, &turn, 4, 10_000);
        assert_eq!(window3, [Message::user("now")]);
        // ...and with room for 4 it starts at "three".
        let window4 = window(&earlier, &turn, 5, 10_000);
        assert_eq!(window4[0], Message::user("three"));
        assert_eq!(window4.len(), 5);
        // Room for 2: the pair does not fit whole, so nothing before "four" is sent.
        let window2 = window(&earlier, &turn, 3, 10_000);
        assert_eq!(window2, [Message::user("now")]);
    }

    #[test]
    fn window_respects_the_character_budget_but_keeps_the_turn() {
        let earlier = vec![Message::user("x".repeat(100)), Message::user("short")];
        let turn = [Message::user("y".repeat(500))];
        assert_eq!(window(&earlier, &turn, 10, 510).len(), 2);
        assert_eq!(window(&earlier, &turn, 10, 10).len(), 1);
        assert_eq!(window(&earlier, &turn, 10, 10_000).len(), 3);
    }
}
