//! `exec`: runs a shell command in the session's workspace. The agent only
//! asks; the edge decides (allowlist, or the owner's answer), runs the command
//! in a fresh shell of its own, and reports how it ended. While the owner is
//! being asked, the client is told, so the question shows in the chat.

use std::future::Future;

use hardshell_llm::ToolSpec;
use serde::Deserialize;

use crate::tool::{Notice, parse_arguments};
use crate::{Tool, ToolContext, ToolError, ToolOutput};
use hardshell_protocol::{ExecAnswer, ExecReport, ExecRequest, ExecSettings};

pub use hardshell_protocol::MAX_COMMAND_BYTES;

/// Where commands go: the edge, in `hardshell agent`.
pub trait CommandRunner: Send + Sync + 'static {
    /// Asks for `request` to run.
    fn request(
        &self,
        request: &ExecRequest,
    ) -> impl Future<Output = Result<ExecAnswer, ToolError>> + Send;
    /// Waits for the owner's answer about `approval`, and the run if approved.
    fn wait(&self, approval: &str) -> impl Future<Output = Result<ExecAnswer, ToolError>> + Send;
}

/// The `exec` tool.
#[derive(Debug)]
pub struct Exec<R> {
    runner: R,
    settings: ExecSettings,
}

impl<R: CommandRunner> Exec<R> {
    pub fn new(runner: R, settings: ExecSettings) -> Self {
        Self { runner, settings }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Arguments {
    command: String,
}

impl<R: CommandRunner> Tool for Exec<R> {
    fn spec(&self) -> ToolSpec {
        let network = if self.settings.egress.is_empty() {
            "No network.".to_owned()
        } else {
            let mut network = format!(
                "Network only through the HTTP proxy set in HTTP_PROXY and HTTPS_PROXY, \
                 to these hosts: {}.",
                self.settings.egress.join(", ")
            );
            if !self.settings.tls_hosts.is_empty() {
                network.push_str(&format!(
                    " Call {} with http:// URLs (the proxy connects with TLS itself; https:// is refused there).",
                    self.settings.tls_hosts.join(", ")
                ));
            }
            if !self.settings.secrets.is_empty() {
                let secrets: Vec<String> = self
                    .settings
                    .secrets
                    .iter()
                    .map(|secret| {
                        let header = secret
                            .header
                            .as_ref()
                            .map(|h| format!(", in the {h} header only"))
                            .unwrap_or_default();
                        format!("{} ({}{header})", secret.name, secret.hosts.join(", "))
                    })
                    .collect();
                network.push_str(&format!(
                    " Secrets are never in the shell: write hs-secret:NAME where the value goes \
                     and the proxy puts it in, for these only: {}.",
                    secrets.join("; ")
                ));
            }
            network
        };
        let others = if self.settings.asks {
            "Any other command waits until the owner approves or refuses it"
        } else {
            "Any other command is refused"
        };
        ToolSpec {
            name: "exec".into(),
            description: format!(
                "Run a shell command (bash) in this conversation's workspace directory, \
                 which persists between commands. {network} Runs without asking: {}. \
                 {others}. Stopped after {} s. Returns the exit code, stdout and stderr.",
                self.settings.allow.join(", "),
                self.settings.timeout_secs
            ),
            parameters: serde_json::json!({
                "type": "object",
                "properties": {
                    "command": { "type": "string", "description": "The command line, e.g. `ls -la | head`." }
                },
                "required": ["command"],
                "additionalProperties": false
            }),
        }
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        cx: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let Arguments { command } = parse_arguments(arguments)?;
        if command.trim().is_empty() {
            return Err(ToolError::invalid_arguments("the command is empty"));
        }
        if command.len() > MAX_COMMAND_BYTES {
            return Err(ToolError::invalid_arguments(format!(
                "the command is {} bytes, more than {MAX_COMMAND_BYTES}",
                command.len()
            )));
        }
        let request = ExecRequest {
            session: cx.session().to_string(),
            command: command.clone(),
        };
        let answer = match self.runner.request(&request).await? {
            ExecAnswer::Pending { approval } => {
                cx.notify(Notice::ApprovalRequested {
                    id: approval.clone(),
                    command,
                });
                let answer = self.runner.wait(&approval).await;
                cx.notify(Notice::ApprovalResolved {
                    id: approval,
                    approved: matches!(answer, Ok(ExecAnswer::Ran { .. })),
                });
                answer?
            }
            answer => answer,
        };
        match answer {
            ExecAnswer::Ran { report } => Ok(output(&report)),
            ExecAnswer::Refused { reason } => Err(ToolError::failed(format!("not run: {reason}"))),
            ExecAnswer::Pending { .. } => Err(ToolError::failed(
                "not run: the edge asked for approval twice",
            )),
        }
    }
}

fn output(report: &ExecReport) -> ToolOutput {
    ToolOutput::json(&serde_json::json!({
        "exit_code": report.exit_code,
        "ended": report.ended,
        "pids_limit_hit": report.pids_limit_hit,
        "stdout": report.stdout,
        "stderr": report.stderr,
        "truncated": report.truncated,
    }))
}
