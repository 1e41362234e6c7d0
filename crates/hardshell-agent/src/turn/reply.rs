//! Reading one model reply: text is passed to the client as it arrives, tool
//! calls and usage are collected, and a stream that fails or stops without
//! `Finished` is reported as such.

use futures::StreamExt;
use hardshell_llm::{ChatEvent, ChatRequest, StopReason, Usage};

use super::{TurnEvent, TurnSink};
use crate::ModelError;
use crate::model::DynModel;

/// A complete reply.
#[derive(Debug)]
pub(super) struct Reply {
    pub text: String,
    pub calls: Vec<Call>,
    pub stop: StopReason,
}

#[derive(Debug, Clone)]
pub(super) struct Call {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A reply that did not complete; `streamed` says whether any of its text
/// already reached the client (then it cannot be retried unnoticed).
#[derive(Debug)]
pub(super) enum ReplyError {
    Model { error: ModelError, streamed: bool },
    Truncated,
}

/// Asks `model` once and reads its reply to the end. Usage events are folded
/// field by field with `max`, which is right both for providers that report
/// running totals and for those that report each count once.
pub(super) async fn read_reply(
    model: &dyn DynModel,
    request: ChatRequest,
    sink: &mut dyn TurnSink,
    usage: &mut Usage,
) -> Result<Reply, ReplyError> {
    let mut stream = model
        .stream_boxed(request)
        .await
        .map_err(|error| ReplyError::Model {
            error,
            streamed: false,
        })?;
    let mut reply_usage = Usage::default();
    let mut text = String::new();
    let mut calls = Vec::new();
    let finished = loop {
        let Some(event) = stream.next().await else {
            break None;
        };
        match event {
            Err(error) => {
                add(usage, reply_usage);
                return Err(ReplyError::Model {
                    error,
                    streamed: !text.is_empty(),
                });
            }
            Ok(ChatEvent::TextDelta { text: delta }) => {
                if !delta.is_empty() {
                    text.push_str(&delta);
                    sink.emit(TurnEvent::TextDelta { text: delta });
                }
            }
            Ok(ChatEvent::ToolCall {
                id,
                name,
                arguments,
            }) => calls.push(Call {
                id,
                name,
                arguments,
            }),
            Ok(ChatEvent::Usage { usage: reported }) => {
                reply_usage.input_tokens = reply_usage.input_tokens.max(reported.input_tokens);
                reply_usage.output_tokens = reply_usage.output_tokens.max(reported.output_tokens);
            }
            Ok(ChatEvent::Finished { reason }) => break Some(reason),
        }
    };
    add(usage, reply_usage);
    match finished {
        Some(stop) => Ok(Reply { text, calls, stop }),
        None => Err(ReplyError::Truncated),
    }
}

fn add(total: &mut Usage, reply: Usage) {
    total.input_tokens = total.input_tokens.saturating_add(reply.input_tokens);
    total.output_tokens = total.output_tokens.saturating_add(reply.output_tokens);
}
