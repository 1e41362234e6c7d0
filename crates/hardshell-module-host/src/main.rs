//! `hardshell-module-host`: one module's host process, started by the edge
//! in the module's own shell (so a module that escaped wasmtime is still in
//! a sandbox). It compiles the module's component once, then answers
//! [`ModuleCall`] lines on stdin with [`ModuleAnswer`] lines on stdout, one
//! at a time, each call in a fresh instance under the accepted grants. Its
//! one way out is its shell's broker, on the shell's loopback; the broker
//! holds the module's routes and secrets.
//!
//! A program of its own, not a subcommand of `hardshell`: it is the one
//! process that needs wasmtime and Cranelift, and every process that execs a
//! binary has the loader write that binary's relocated constants into memory
//! of its own. Linked into `hardshell` they cost the edge, each shell's init
//! and the agent memory at rest for code they never run. `hardshell`
//! carries this program's image and installs it for the module shells
//! (crates/hardshell/build.rs, `module_host_image.rs`).
//!
//! Its one argument is a [`HostStart`], as JSON.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use hardshell_module_host::{
    BodyLimits, CallError, Grants, ModuleHost, Prepared, ProxyAddress, ProxyEgress,
};
use hardshell_module_wire::{
    CONVERSATION_WORKSPACE, HostStart, MAX_HOST_START_BYTES, MAX_MODULE_ANSWER_BYTES,
    MAX_MODULE_CALL_LINE_BYTES, MODULE_HOST_READY as READY, ModuleAnswer, ModuleCall,
    ModuleFailure,
};
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};

type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    // Nothing it logs is read as fact; the edge keeps a bounded tail.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .without_time()
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return failed(&format!("starting the runtime: {error}")),
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => failed(&error.to_string()),
    }
}

fn failed(message: &str) -> ExitCode {
    eprintln!("hardshell-module-host: {message}");
    ExitCode::FAILURE
}

async fn run() -> Result<(), Failure> {
    let start = start_argument()?;
    let grants = Grants::from_wire(start.grants, Path::new(CONVERSATION_WORKSPACE));
    let component = std::fs::read(&start.component)
        .map_err(|error| format!("reading {}: {error}", start.component.display()))?;
    let host = ModuleHost::new(
        Arc::new(ProxyEgress::new(ProxyAddress::Tcp(start.proxy))),
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

/// The one argument: a [`HostStart`], bounded.
fn start_argument() -> Result<HostStart, Failure> {
    let mut arguments = std::env::args_os().skip(1);
    let (Some(start), None) = (arguments.next(), arguments.next()) else {
        return Err("give one argument: the start, as JSON".into());
    };
    let start = start.into_string().map_err(|_| "the start is not UTF-8")?;
    if start.len() > MAX_HOST_START_BYTES {
        return Err(format!("the start is over {MAX_HOST_START_BYTES} bytes").into());
    }
    Ok(serde_json::from_str(&start).map_err(|error| format!("reading the start: {error}"))?)
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
) -> Result<(), Failure> {
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
            return Err(
                format!("a call line over {MAX_MODULE_CALL_LINE_BYTES} bytes, or cut off").into(),
            );
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
