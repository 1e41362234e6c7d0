//! `send_file`: shares a file of the session's workspace with the person the
//! agent talks to. The agent only names it; the edge reads it from the
//! workspace (never following a link a command planted), keeps its own
//! copy, and offers it to the session's owner as a download.

use std::future::Future;

use hardshell_llm::ToolSpec;
use serde::Deserialize;

use crate::tool::parse_arguments;
use crate::{Tool, ToolContext, ToolError, ToolOutput};
use hardshell_protocol::{MAX_FILE_PATH_BYTES, SendFileAnswer, SendFileRequest};

/// Where a file's path starts, as the agent's commands see the workspace.
const WORKSPACE: &str = "/workspace/";

/// Where files go: the edge, in `hardshell agent`.
pub trait FileSender: Send + Sync + 'static {
    /// Asks the edge to share `request`'s file.
    fn send(
        &self,
        request: &SendFileRequest,
    ) -> impl Future<Output = Result<SendFileAnswer, ToolError>> + Send;
}

/// The `send_file` tool.
#[derive(Debug)]
pub struct SendFile<S> {
    sender: S,
}

impl<S: FileSender> SendFile<S> {
    pub fn new(sender: S) -> Self {
        Self { sender }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Arguments {
    path: String,
}

impl<S: FileSender> Tool for SendFile<S> {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "send_file".into(),
            description: "Share a file from this conversation's workspace with the person you \
                          are talking to: they get it as a download. Give its path as your \
                          commands see it, under /workspace/ (e.g. /workspace/report.pdf). \
                          Regular files only: directories, links and files over the size limit \
                          are refused."
                .into(),
            parameters: serde_json::json!({
                "type": "object",
                "properties": {
                    "path": { "type": "string", "description": "The file's path, under /workspace/." }
                },
                "required": ["path"],
                "additionalProperties": false
            }),
        }
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        cx: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let Arguments { path } = parse_arguments(arguments)?;
        // Said here so the model learns it at once; the edge checks it all
        // again, and what it resolves is its own business.
        if !path.starts_with(WORKSPACE) || path.len() == WORKSPACE.len() {
            return Err(ToolError::invalid_arguments(
                "give the file's path under /workspace/, as your commands see it",
            ));
        }
        if path.len() > MAX_FILE_PATH_BYTES {
            return Err(ToolError::invalid_arguments(format!(
                "the path is {} bytes, more than {MAX_FILE_PATH_BYTES}",
                path.len()
            )));
        }
        let request = SendFileRequest {
            session: cx.session().to_string(),
            path,
        };
        match self.sender.send(&request).await? {
            SendFileAnswer::Shared { name, size } => Ok(ToolOutput::json(&serde_json::json!({
                "shared": name,
                "size": size,
            }))),
            SendFileAnswer::Refused { reason } => {
                Err(ToolError::failed(format!("not shared: {reason}")))
            }
        }
    }
}
