//! `hardshell module-host`: one module's host process, started by the edge
//! in the module's own shell (so a module that escaped wasmtime is still in
//! a sandbox). It compiles the module's component once, then answers
//! [`ModuleCall`] lines on stdin with [`ModuleAnswer`] lines on stdout, one
//! at a time, each call in a fresh instance under the accepted
//! capabilities. Its one way out is its shell's broker, on the shell's
//! loopback; the broker holds the module's routes and secrets.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use hardshell_module_host::{
    BodyLimits, CallError, Grants, HostGrant, ModuleHost, Prepared, ProxyAddress, ProxyEgress,
    Workspace,
};
use hardshell_modules::{Capabilities, Scheme, WorkspaceAccess};
use hardshell_protocol::socket::SHELL_PROXY_PORT;
use hardshell_protocol::{
    MAX_MODULE_ANSWER_BYTES, MAX_MODULE_CALL_LINE_BYTES, MODULE_HOST_READY as READY, ModuleAnswer,
    ModuleCall, ModuleFailure,
};
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};

use crate::cli::ModuleHostArgs;

/// Where the module's shell has the conversation's workspace, when granted.
pub const WORKSPACE: &str = "/workspace";

pub async fn run(args: &ModuleHostArgs) -> anyhow::Result<()> {
    // Nothing it logs is read as fact; the edge keeps a bounded tail.
    let _log = crate::logging::init(
        hardshell_config::LogFormat::Text,
        hardshell_config::LogLevel::Warn,
    );
    let capabilities: Capabilities =
        serde_json::from_str(&args.capabilities).context("reading the module's capabilities")?;
    let grants = grants(&capabilities, Path::new(WORKSPACE));
    let component = std::fs::read(&args.component)
        .with_context(|| format!("reading {}", args.component.display()))?;
    let proxy = SocketAddr::from((Ipv4Addr::LOCALHOST, SHELL_PROXY_PORT));
    let host = ModuleHost::new(
        Arc::new(ProxyEgress::new(ProxyAddress::Tcp(proxy))),
        BodyLimits::default(),
    )?;
    let prepared = host.prepare(&component)?;
    // The edge gives pipes: read and written from the runtime's own event
    // loop. tokio's stdin and stdout hand every read and write to a
    // blocking thread, which cost a call more than the call itself.
    match (pipe_in(), pipe_out()) {
        (Ok(input), Ok(output)) => serve(&host, &prepared, &grants, input, output).await,
        _ => {
            serve(
                &host,
                &prepared,
                &grants,
                tokio::io::stdin(),
                tokio::io::stdout(),
            )
            .await
        }
    }
}

/// Standard input, when it is a pipe, as the event loop reads it.
fn pipe_in() -> std::io::Result<tokio::net::unix::pipe::Receiver> {
    use std::os::fd::AsFd as _;
    let fd = std::io::stdin().as_fd().try_clone_to_owned()?;
    tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
}

/// Standard output, when it is a pipe, as the event loop writes it.
fn pipe_out() -> std::io::Result<tokio::net::unix::pipe::Sender> {
    use std::os::fd::AsFd as _;
    let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
    tokio::net::unix::pipe::Sender::from_owned_fd(fd)
}

/// Answers each call line of `input` on `output` until `input` ends.
async fn serve(
    host: &ModuleHost,
    prepared: &Prepared,
    grants: &Grants,
    input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> anyhow::Result<()> {
    // Compiled and ready: the edge times the calls from here.
    output.write_all(READY).await?;
    output.flush().await?;
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        // One byte over the limit tells a line too long from one that fits.
        let limit = MAX_MODULE_CALL_LINE_BYTES as u64 + 1;
        let read = (&mut input)
            .take(limit)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') {
            // Over the limit, or cut off: what follows is not a line start.
            anyhow::bail!("a call line over {MAX_MODULE_CALL_LINE_BYTES} bytes, or cut off");
        }
        let answer = match serde_json::from_slice::<ModuleCall>(&line) {
            Ok(call) => answer(
                host.call(prepared, grants, &call.tool, &call.arguments)
                    .await,
            ),
            Err(_) => ModuleAnswer::Failed {
                failure: ModuleFailure::Refused,
                message: "the call could not be read".into(),
            },
        };
        let mut text = serde_json::to_vec(&answer)?;
        text.push(b'\n');
        output.write_all(&text).await?;
        output.flush().await?;
    }
}

/// The host's outcome as the edge reads it.
fn answer(outcome: Result<String, CallError>) -> ModuleAnswer {
    let failure = match &outcome {
        Ok(text) if text.len() <= MAX_MODULE_ANSWER_BYTES => {
            return ModuleAnswer::Answered { text: text.clone() };
        }
        Ok(_) => {
            return ModuleAnswer::Failed {
                failure: ModuleFailure::TooLarge,
                message: format!(
                    "the module's answer is larger than {MAX_MODULE_ANSWER_BYTES} bytes"
                ),
            };
        }
        Err(CallError::Timeout { .. }) => ModuleFailure::Timeout,
        Err(CallError::MemoryExceeded { .. }) => ModuleFailure::Memory,
        Err(CallError::RequestDenied(_)) => ModuleFailure::Denied,
        Err(CallError::Trap { .. }) => ModuleFailure::Trap,
        Err(CallError::Tool { .. }) => ModuleFailure::Tool,
        Err(CallError::AnswerTooLarge { .. }) => ModuleFailure::TooLarge,
        Err(CallError::Grants(_) | CallError::Workspace(_) | CallError::Failed { .. }) => {
            ModuleFailure::Refused
        }
    };
    let message = outcome.err().map(|e| e.to_string()).unwrap_or_default();
    ModuleAnswer::Failed { failure, message }
}

/// The accepted capabilities as the host applies them, the workspace (if
/// granted) at `workspace` in the module's shell.
pub fn grants(capabilities: &Capabilities, workspace: &Path) -> Grants {
    let hosts = capabilities
        .hosts
        .iter()
        .map(|access| HostGrant {
            scheme: match access.scheme {
                Scheme::Https => "https".into(),
                Scheme::Http => "http".into(),
            },
            host: access.host.clone(),
            port: access.port,
            methods: access
                .methods
                .as_ref()
                .map(|methods| methods.iter().map(ToString::to_string).collect()),
            path_prefix: access.path_prefix.clone(),
        })
        .collect();
    let workspace = match capabilities.workspace {
        WorkspaceAccess::None => Workspace::None,
        WorkspaceAccess::Read => Workspace::Read(PathBuf::from(workspace)),
        WorkspaceAccess::Write => Workspace::Write(PathBuf::from(workspace)),
    };
    Grants {
        hosts,
        workspace,
        memory_mb: capabilities.memory_mb,
        timeout_ms: u64::from(capabilities.timeout_ms),
    }
}
