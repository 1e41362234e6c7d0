//! What can go wrong, in words a model can be shown. No variant carries a
//! call's arguments, a response body or the module's own output: those may
//! hold what the owner would not want in a log.

use crate::grants::GrantError;
use crate::outgoing::Denial;

/// Building the module host failed (the engine or its linker).
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("creating the WebAssembly engine: {0}")]
    Engine(wasmtime::Error),
    #[error("linking the WASI interfaces: {0}")]
    Link(wasmtime::Error),
    #[error("starting the epoch ticker thread: {0}")]
    Ticker(std::io::Error),
}

/// Preparing a component failed: it is not a component, or it needs
/// something the host does not give, or it lacks the `tools` export.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("the module is not a valid WebAssembly component: {0}")]
    Compile(wasmtime::Error),
    #[error("the module imports something the host does not provide: {0}")]
    Imports(wasmtime::Error),
    #[error("the module does not export hardshell:module/tools@0.1.0: {0}")]
    Exports(wasmtime::Error),
}

/// One tool call failed. Each kind is its own variant, so the embedder can
/// audit the outcome and the model is told plainly what happened.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the module's grants cannot be applied: {0}")]
    Grants(#[from] GrantError),
    #[error("the module's workspace could not be opened: {0}")]
    Workspace(wasmtime::Error),
    #[error("the module ran past its time limit of {timeout_ms} ms and was stopped")]
    Timeout { timeout_ms: u64 },
    #[error("the module needed more than its memory limit of {memory_mb} MiB and was stopped")]
    MemoryExceeded { memory_mb: u32 },
    #[error("the module made a request it was not granted and the call was stopped: {0}")]
    RequestDenied(Denial),
    #[error("the module crashed ({trap})")]
    Trap { trap: String },
    #[error("the module failed: {reason}")]
    Failed { reason: String },
    /// The module's own words, for the model: they may repeat the call's
    /// arguments, so an embedder shows them but does not log them.
    #[error("the tool answered with an error: {message}")]
    Tool { message: String },
    #[error("the module's answer (or its error) is larger than {limit} bytes")]
    AnswerTooLarge { limit: usize },
}
