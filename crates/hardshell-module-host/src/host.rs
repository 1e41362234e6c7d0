//! The module host: one engine compiled once, components prepared once, and
//! each tool call in a fresh store and instance under its grants.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store, Trap};

use crate::call_state::CallState;
use crate::egress::{BodyLimits, Egress};
use crate::error::{CallError, HostError, PrepareError};
use crate::grants::Grants;
use crate::ticker::{EPOCH_TICK, EpochTicker};

wasmtime::component::bindgen!({
    path: "wit",
    world: "module",
    exports: { default: async },
});

/// The longest answer a tool may give: the model reads it, and a module
/// must not be able to fill the conversation.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Runs tool calls of WebAssembly components. Build one per process; it
/// keeps a thread ticking the engine's epoch, stopped when it is dropped.
pub struct ModuleHost {
    engine: Engine,
    linker: Linker<CallState>,
    egress: Arc<dyn Egress>,
    body_limits: BodyLimits,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for ModuleHost {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ModuleHost")
            .field("body_limits", &self.body_limits)
            .finish_non_exhaustive()
    }
}

/// A compiled component, linked against the host's WASI and ready to
/// instantiate: warm calls reuse it and pay only for a fresh instance.
#[derive(Clone)]
pub struct Prepared {
    pre: ModulePre<CallState>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Prepared").finish_non_exhaustive()
    }
}

impl ModuleHost {
    /// An engine with epoch interruption (the call deadline) and no cache,
    /// and a linker giving WASI preview 2 and `wasi:http`, every part of
    /// which denies what a call's grants do not allow.
    pub fn new(egress: Arc<dyn Egress>, body_limits: BodyLimits) -> Result<Self, HostError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        // Copy-on-write memory images are made with memfd_create, which
        // every shell's seccomp filter refuses (an anonymous file is how
        // fileless code is executed): memories are initialised by copying
        // their data segments instead, so the host runs in its shell.
        config.memory_init_cow(false);
        let engine = Engine::new(&config).map_err(HostError::Engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(HostError::Link)?;
        // Before anything is prepared: a FIFO in the workspace must not hold
        // a host thread (see `workspace_open`).
        crate::workspace_open::replace_open_at(&mut linker).map_err(HostError::Link)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(HostError::Link)?;
        let ticker = EpochTicker::start(engine.clone()).map_err(HostError::Ticker)?;
        Ok(Self {
            engine,
            linker,
            egress,
            body_limits,
            _ticker: ticker,
        })
    }

    /// Compiles a component and checks it against the host's imports and
    /// the `module` world's export, once.
    pub fn prepare(&self, component_bytes: &[u8]) -> Result<Prepared, PrepareError> {
        let component =
            Component::new(&self.engine, component_bytes).map_err(PrepareError::Compile)?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(PrepareError::Imports)?;
        let pre = ModulePre::new(instance_pre).map_err(PrepareError::Exports)?;
        Ok(Prepared { pre })
    }

    /// Runs one tool call in a fresh store and instance: nothing of an
    /// earlier call is left, and nothing of this one stays.
    pub async fn call(
        &self,
        prepared: &Prepared,
        grants: &Grants,
        tool: &str,
        arguments_json: &str,
    ) -> Result<String, CallError> {
        grants.validate()?;
        let state = CallState::new(grants, Arc::clone(&self.egress), self.body_limits)?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        store.set_epoch_deadline(deadline_ticks(grants.timeout_ms));
        store.epoch_deadline_trap();

        let run = async {
            let instance = prepared.pre.instantiate_async(&mut store).await?;
            instance
                .hardshell_module_tools()
                .call_call(&mut store, tool, arguments_json)
                .await
        };
        // The epoch deadline stops a module that computes; this one stops a
        // module waiting on the host (a slow egress), where no wasm runs.
        let outcome = tokio::time::timeout(Duration::from_millis(grants.timeout_ms), run).await;
        let state = store.data();
        if let Some(denial) = &state.http.denied {
            return Err(CallError::RequestDenied(denial.clone()));
        }
        match outcome {
            Err(_elapsed) => Err(CallError::Timeout {
                timeout_ms: grants.timeout_ms,
            }),
            Ok(Err(error)) => Err(classify_failure(&error, state, grants)),
            Ok(Ok(answer)) => bounded(answer),
        }
    }
}

/// The tool's answer, or its own error, if either is small enough for the
/// model to read.
fn bounded(answer: Result<String, String>) -> Result<String, CallError> {
    let length = answer.as_ref().map_or_else(String::len, String::len);
    if length > MAX_ANSWER_BYTES {
        return Err(CallError::AnswerTooLarge {
            limit: MAX_ANSWER_BYTES,
        });
    }
    answer.map_err(|message| CallError::Tool { message })
}

/// Ticks until the deadline: the epoch advances every [`EPOCH_TICK`], so a
/// call may run up to one tick longer than granted, never shorter.
fn deadline_ticks(timeout_ms: u64) -> u64 {
    let tick_ms = EPOCH_TICK.as_millis().max(1) as u64;
    timeout_ms.div_ceil(tick_ms) + 1
}

/// Names why the module stopped. A refused memory growth comes first: the
/// module usually traps right after it (an allocation failure aborts).
fn classify_failure(error: &wasmtime::Error, state: &CallState, grants: &Grants) -> CallError {
    if state.memory.refused_growth() {
        return CallError::MemoryExceeded {
            memory_mb: grants.memory_mb,
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Timeout {
            timeout_ms: grants.timeout_ms,
        },
        Some(trap) => CallError::Trap {
            trap: trap.to_string(),
        },
        None => {
            tracing::debug!(error = %format!("{error:#}"), "module call failed");
            CallError::Failed {
                reason: error.root_cause().to_string(),
            }
        }
    }
}
