//! `memory_save` and `memory_search`: the model's hands on [`Memory`].

use hardshell_llm::ToolSpec;
use serde::Deserialize;
use serde_json::json;

use crate::memory::{MAX_NOTE_BODY_BYTES, MAX_SEARCH_RESULTS};
use crate::tool::parse_arguments;
use crate::{Circle, Memory, MemoryError, NoteDraft, Tool, ToolContext, ToolError, ToolOutput};

/// Results a search returns when the model does not say.
const DEFAULT_RESULTS: usize = 5;

/// Saves a markdown note under `memory/notes/<slug>.md`.
#[derive(Debug)]
pub struct MemorySave {
    memory: Memory,
}

/// Searches notes and past conversations.
#[derive(Debug)]
pub struct MemorySearch {
    memory: Memory,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveArguments {
    title: String,
    body: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArguments {
    query: String,
    #[serde(default)]
    limit: Option<usize>,
}

impl MemorySave {
    pub fn new(memory: Memory) -> Self {
        Self { memory }
    }
}

impl MemorySearch {
    pub fn new(memory: Memory) -> Self {
        Self { memory }
    }
}

fn tool_error(error: MemoryError) -> ToolError {
    match error {
        MemoryError::InvalidNote { .. } => ToolError::invalid_arguments(error.to_string()),
        MemoryError::Changed { .. } => ToolError::failed(error.to_string()),
        MemoryError::Storage(e) => ToolError::Storage(e),
        MemoryError::Session(e) => ToolError::failed(e.to_string()),
    }
}

impl Tool for MemorySave {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_save".to_owned(),
            description: format!(
                "Save a markdown note to long-term memory, readable by the owner. A note with \
                 the same title is replaced, so to add to a note, save its full new text. \
                 Body at most {MAX_NOTE_BODY_BYTES} bytes."
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "title": {"type": "string", "description": "Short title; names the note."},
                    "body": {"type": "string", "description": "The note, in markdown."},
                    "tags": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["title", "body"],
                "additionalProperties": false
            }),
        }
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        cx: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let arguments: SaveArguments = parse_arguments(arguments)?;
        let circle = Circle::of(cx.session());
        let saved = self
            .memory
            .save(
                &circle,
                &NoteDraft {
                    title: arguments.title,
                    body: arguments.body,
                    tags: arguments.tags,
                },
            )
            .await
            .map_err(tool_error)?;
        Ok(ToolOutput::json(&json!({
            "saved": format!("{}/{}.md", circle.notes(), saved.slug),
            "replaced": saved.replaced,
        })))
    }
}

impl Tool for MemorySearch {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_search".to_owned(),
            description: "Search long-term memory: saved notes and past conversations. \
                          Matches whole words exactly (no stemming), ranked by relevance."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Words to look for."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH_RESULTS}
                },
                "required": ["query"],
                "additionalProperties": false
            }),
        }
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        cx: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let arguments: SearchArguments = parse_arguments(arguments)?;
        if arguments.query.trim().is_empty() {
            return Err(ToolError::invalid_arguments("the query is empty"));
        }
        let limit = arguments
            .limit
            .unwrap_or(DEFAULT_RESULTS)
            .clamp(1, MAX_SEARCH_RESULTS);
        let hits = self
            .memory
            .search(
                &Circle::of(cx.session()),
                &arguments.query,
                limit,
                Some((cx.session(), cx.turn_seq())),
            )
            .await
            .map_err(tool_error)?;
        Ok(ToolOutput::json(&json!({ "results": hits })))
    }
}
